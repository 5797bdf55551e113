//! The host functions a Wasm bead may import, defined once for both
//! engines.
//!
//! wasmtime and wasmi offer the same shape of API (`Linker::func_new`, a
//! `Caller` with `data()` and `get_export`, `Val`, `Extern`) under
//! different types, so the definitions are a macro expanded in each
//! engine's module, where those names resolve to that engine's types and
//! to its own `reconfig_point`. Only the way a host error becomes the
//! engine's error differs, and is passed in.

/// Defines the import `$m.$n` of function type `$ty` in `$linker`:
/// `weaves.wv_reconfig_point`, `weaves.wv_yield`, `weaves.wv_engine`, any
/// `wasi_snapshot_preview1` call (served by the runtime's one WASI), and,
/// for anything else, a function that ends the string with
/// `not supported: …` when called. `$memory` is the linear memory WASI
/// calls use when the module exports none (one it imports through a weave).
/// Evaluates to the engine's result of `func_new`.
macro_rules! define_host_import {
    ($linker:expr, $m:expr, $n:expr, $ty:expr, $host_error:path) => {
        define_host_import!($linker, $m, $n, $ty, $host_error, None)
    };
    ($linker:expr, $m:expr, $n:expr, $ty:expr, $host_error:path, $memory:expr) => {{
        let (m, n): (&str, &str) = ($m, $n);
        match (m, n) {
            ("weaves", "wv_reconfig_point") => {
                $linker.func_new(m, n, $ty, |mut caller, args, _results| {
                    let name = args.first().and_then(Val::i32).unwrap_or(0);
                    reconfig_point(&mut caller, name)
                })
            }
            ("weaves", "wv_yield") => $linker.func_new(m, n, $ty, |caller, _, _| {
                caller.data().host.wasi.yield_now().map_err($host_error)
            }),
            ("weaves", "wv_engine") => $linker.func_new(m, n, $ty, |caller, _, results| {
                results[0] = Val::I32(caller.data().host.engine as i32);
                Ok(())
            }),
            ("wasi_snapshot_preview1", _) => {
                let imported = $memory;
                let name = n.to_owned();
                $linker.func_new(m, n, $ty, move |mut caller, args, results| {
                    let args = widen(args.iter().map(to_i64));
                    let own = caller.get_export("memory").and_then(Extern::into_memory);
                    let r = match own.or(imported) {
                        Some(mem) => {
                            let (data, state) = mem.data_and_store_mut(&mut caller);
                            state.host.wasi.call(&name, &args, data)
                        }
                        None => caller.data_mut().host.wasi.call(&name, &args, &mut []),
                    };
                    match r {
                        Ok(Some(e)) => {
                            if let Some(slot) = results.first_mut() {
                                *slot = Val::I32(e);
                            }
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(stop) => Err($host_error(stop)),
                    }
                })
            }
            _ => {
                let stop = not_supported(&format!("{m}.{n}"));
                $linker.func_new(m, n, $ty, move |_, _, _| Err($host_error(stop.clone())))
            }
        }
    }};
}

pub(crate) use define_host_import;
