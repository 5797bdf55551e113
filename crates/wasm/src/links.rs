//! Wasm beads whose imports a weave binds to other beads: a function or
//! the linear memory of another Wasm bead, or a native bead's function
//! with a declared signature; and native code calling a Wasm bead's export
//! through a [`crate::native::Trampoline`].
//!
//! A string that runs such beads has one *world*: a store of one engine
//! holding its instance of each Wasm bead it reached, every bound import
//! resolved to the provider's instance in the same store (so two beads
//! sharing a memory share it for that string, as the beads of a `_start`
//! program do). A Wasm string's world is made when it starts and dropped
//! when it ends; a native string's, at its first call into a Wasm export,
//! and kept for its later calls (until the tapestry ends), so a Wasm bead
//! keeps its state across them. Linked beads run under one engine (the
//! tapestry checks it); their strings are not captured (no unwind area is
//! made), so checkpoints and moves between engines are refused for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::Fault;
use crate::host::{Control, Host};
use crate::native::{Bits, Signature};
use crate::wasi::{Stop, Wasi};
use crate::{wasmi_engine, wasmtime_engine, Ended, EngineKind, Prepared, RunError};

/// What a bound import is bound to.
#[derive(Clone, Debug)]
pub enum Source {
    /// Export `export` (a function or a memory) of Wasm bead `bead`.
    Wasm { bead: usize, export: String },
    /// The native function at `addr`, of signature `sig`.
    Native { addr: u64, sig: Signature },
}

/// A Wasm bead of a tapestry with its bound imports.
#[derive(Clone, Debug)]
pub struct LinkedBead {
    pub name: String,
    pub module: Prepared,
    pub engine: EngineKind,
    /// `((module, name), source)` of each import bound through the weave.
    pub imports: Vec<((String, String), Source)>,
}

impl LinkedBead {
    /// What import `module.name` is bound to, if the weave binds it.
    pub fn source(&self, module: &str, name: &str) -> Option<&Source> {
        self.imports
            .iter()
            .find(|((m, n), _)| m == module && n == name)
            .map(|(_, s)| s)
    }
}

/// One string's instances, under one engine.
pub(crate) enum World {
    Wasmtime(wasmtime_engine::World),
    /// Boxed: wasmi's store is large, and a world moves in and out of
    /// the table of native strings' worlds at every call.
    Wasmi(Box<wasmi_engine::World>),
}

impl World {
    fn new(links: &Arc<Links>, engine: EngineKind, host: Host) -> Result<World, String> {
        Ok(match engine {
            EngineKind::Wasmtime => {
                World::Wasmtime(wasmtime_engine::World::new(links.clone(), host)?)
            }
            EngineKind::Wasmi => {
                World::Wasmi(Box::new(wasmi_engine::World::new(links.clone(), host)?))
            }
        })
    }

    fn call(&mut self, bead: usize, name: &str, args: &[Bits]) -> Result<Option<Bits>, Fault> {
        match self {
            World::Wasmtime(w) => w.call(bead, name, args),
            World::Wasmi(w) => w.call(bead, name, args),
        }
    }
}

/// The Wasm beads of a tapestry with their bindings, and the worlds of the
/// strings running them.
pub struct Links {
    pub beads: Vec<LinkedBead>,
    pub max_memory: u64,
    /// Strings' worlds by string id and engine (a native string calling
    /// beads under both engines has one world under each); `None` while
    /// one is in use (a call back into Wasm from native code Wasm called is
    /// refused).
    worlds: Mutex<HashMap<(u32, EngineKind), Option<World>>>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links").field("beads", &self.beads).finish()
    }
}

fn string_id() -> u32 {
    weaves_strings::current().map_or(0, |c| c.info.id)
}

/// Takes string `id`'s world out of `worlds` for a call (marking it in
/// use), or refuses a call back into Wasm.
fn take_world(
    worlds: &Mutex<HashMap<(u32, EngineKind), Option<World>>>,
    id: (u32, EngineKind),
) -> Result<Option<World>, String> {
    let mut w = worlds.lock().unwrap_or_else(|e| e.into_inner());
    match w.get_mut(&id) {
        Some(slot @ Some(_)) => Ok(slot.take()),
        Some(None) => Err(
            "not supported: a call into a Wasm bead from native code that Wasm code called".into(),
        ),
        None => {
            w.insert(id, None);
            Ok(None)
        }
    }
}

impl Links {
    pub fn new(beads: Vec<LinkedBead>, max_memory: u64) -> Links {
        Links {
            beads,
            max_memory,
            worlds: Mutex::new(HashMap::new()),
        }
    }

    /// Whether bead `b` imports anything through the weave (its strings
    /// then run in a world).
    pub fn is_linked(&self, b: usize) -> bool {
        !self.beads[b].imports.is_empty()
    }

    /// Runs exported function `entry` of bead `bead` as one string, in a
    /// world of its own, until it ends.
    pub fn run(
        self: &Arc<Self>,
        bead: usize,
        entry: &str,
        wasi: Wasi,
        control: Arc<Control>,
    ) -> Result<Ended, RunError> {
        let engine = self.beads[bead].engine;
        let mut host = Host::new(wasi, control, engine);
        host.wasi.may_switch = engine == EngineKind::Wasmi;
        host.control.set_engine(engine);
        let id = (string_id(), engine);
        take_world(&self.worlds, id).map_err(RunError::NotSupported)?;
        let result = World::new(self, engine, host)
            .map_err(RunError::Engine)
            .and_then(|mut world| match world.call(bead, entry, &[]) {
                Ok(v) => Ok(Ended {
                    status: v.map_or(0, |b| b as u32 as i32),
                    moves: Vec::new(),
                }),
                Err(Fault::Stop(Stop::Exit(status))) => Ok(Ended {
                    status,
                    moves: Vec::new(),
                }),
                Err(Fault::Stop(Stop::NotSupported(m))) => Err(RunError::NotSupported(m)),
                Err(Fault::Stop(Stop::Stopped)) => Err(RunError::Stopped),
                Err(Fault::Trap(m)) => Err(RunError::Trap(m)),
            });
        self.worlds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        result
    }

    /// Calls export `export` of bead `bead` from native code, in the
    /// calling string's world (made at its first call).
    pub fn call_from_native(
        self: &Arc<Self>,
        bead: usize,
        export: &str,
        args: &[Bits],
    ) -> Result<Option<Bits>, String> {
        // The runtime's own allocations (instances, host records) go to
        // the process heap, not to the calling string's bead.
        let _runtime = weaves_strings::RuntimeSection::enter();
        let engine = self.beads[bead].engine;
        let id = (string_id(), engine);
        let taken = take_world(&self.worlds, id)?;
        let mut world = match taken {
            Some(w) => w,
            None => {
                let host = Host::new(Wasi::default(), Control::new(), engine);
                match World::new(self, engine, host) {
                    Ok(w) => w,
                    Err(e) => {
                        self.worlds
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        return Err(e);
                    }
                }
            }
        };
        let r = world.call(bead, export, args);
        self.worlds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Some(world));
        let name = &self.beads[bead].name;
        r.map_err(|f| match f {
            Fault::Trap(m) => format!("Wasm bead `{name}`: {m}"),
            Fault::Stop(Stop::Exit(s)) => {
                format!("Wasm bead `{name}` called proc_exit({s}) in `{export}`")
            }
            Fault::Stop(Stop::NotSupported(m)) => format!("Wasm bead `{name}`: {m}"),
            Fault::Stop(Stop::Stopped) => format!("Wasm bead `{name}`: stopped"),
        })
    }
}

/// Runs `f` (native code a Wasm engine calls) where no preemption tick
/// switches the string out: the engine keeps per-thread state across the
/// call, which another string's Wasm call on the same worker would meet.
pub(crate) fn holding_worker<R>(f: impl FnOnce() -> R) -> R {
    use std::sync::atomic::Ordering;
    let ctx = weaves_strings::current();
    if let Some(c) = ctx {
        c.holds_worker.fetch_add(1, Ordering::Relaxed);
    }
    let r = f();
    if let Some(c) = ctx {
        c.holds_worker.fetch_sub(1, Ordering::Relaxed);
    }
    r
}

/// Defines, in an engine's module, `World`: one string's instances of the
/// linked Wasm beads in one store of that engine. The engine's module
/// provides `State`, `world_engine`, `world_module`, `define_extern`,
/// `instantiate_in`, `export_of`, `val_bits`, `bits_val`, `val_of` and
/// `trap_line`, and the names the host imports use.
macro_rules! define_world {
    ($inst:ty, $host_error:path) => {
        pub(crate) struct World {
            links: std::sync::Arc<crate::links::Links>,
            store: Store<State>,
            instances: Vec<Option<$inst>>,
            /// Beads being instantiated (a cycle of imports is refused at
            /// load; this keeps a bad table from recursing).
            making: Vec<usize>,
        }

        impl World {
            pub(crate) fn new(
                links: std::sync::Arc<crate::links::Links>,
                host: Host,
            ) -> Result<World, String> {
                let limits = StoreLimitsBuilder::new()
                    .memory_size(links.max_memory as usize)
                    .build();
                let mut store = Store::new(world_engine()?, State { host, limits });
                store.limiter(|s| &mut s.limits);
                let n = links.beads.len();
                Ok(World {
                    links,
                    store,
                    instances: vec![None; n],
                    making: Vec::new(),
                })
            }

            fn instance(&mut self, bead: usize) -> Result<$inst, String> {
                if let Some(i) = self.instances[bead] {
                    return Ok(i);
                }
                if self.making.contains(&bead) {
                    return Err("not supported: a cycle of imports between Wasm beads".into());
                }
                self.making.push(bead);
                let links = self.links.clone();
                let lb = &links.beads[bead];
                let module = world_module(&lb.module)?;
                let mut linker: Linker<State> = Linker::new(world_engine()?);
                let mut memory = None;
                let mut runtime = Vec::new();
                for import in module.imports() {
                    let (m, n) = (import.module().to_owned(), import.name().to_owned());
                    match lb.source(&m, &n) {
                        Some(crate::links::Source::Wasm { bead: p, export }) => {
                            let provider = self.instance(*p)?;
                            let ext = export_of(&provider, &mut self.store, export)
                                .ok_or_else(|| {
                                    format!("bead `{}` exports no `{export}`", links.beads[*p].name)
                                })?;
                            if let Some(mem) = ext.clone().into_memory() {
                                memory = Some(mem);
                            }
                            define_extern(&mut linker, &self.store, &m, &n, ext)?;
                        }
                        Some(crate::links::Source::Native { addr, sig }) => {
                            let ExternType::Func(ty) = import.ty() else {
                                return Err(format!("import `{m}.{n}` is not a function"));
                            };
                            let (addr, sig) = (*addr, sig.clone());
                            linker
                                .func_new(&m, &n, ty.clone(), move |_caller, args, results| {
                                    let bits: Vec<crate::native::Bits> =
                                        args.iter().map(val_bits).collect();
                                    // SAFETY: `addr` is the native bead's
                                    // export the weave bound this import
                                    // to, and the tapestry declared its
                                    // signature, which the import's type
                                    // matches (checked at load).
                                    let r = crate::links::holding_worker(|| unsafe {
                                        crate::native::call(addr, &sig, &bits)
                                    });
                                    if let (Some(slot), Some(r), Some(k)) =
                                        (results.first_mut(), r, sig.results.first())
                                    {
                                        *slot = bits_val(*k, r);
                                    }
                                    Ok(())
                                })
                                .map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))?;
                        }
                        None => runtime.push((m, n, import.ty().clone())),
                    }
                }
                for (m, n, ty) in runtime {
                    let ExternType::Func(ty) = ty else {
                        return Err(format!(
                            "not supported: import `{m}.{n}` is not a function and no weave binds it"
                        ));
                    };
                    define_host_import!(linker, &m, &n, ty, $host_error, memory)
                        .map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))?;
                }
                let inst = instantiate_in(&linker, &mut self.store, &module)
                    .map_err(|e| format!("bead `{}`: {e}", lb.name))?;
                self.making.retain(|&b| b != bead);
                self.instances[bead] = Some(inst);
                Ok(inst)
            }

            pub(crate) fn call(
                &mut self,
                bead: usize,
                name: &str,
                args: &[crate::native::Bits],
            ) -> Result<Option<crate::native::Bits>, Fault> {
                let inst = self.instance(bead).map_err(Fault::Trap)?;
                let f = export_of(&inst, &mut self.store, name)
                    .and_then(Extern::into_func)
                    .ok_or_else(|| {
                        Fault::Trap(format!(
                            "bead `{}` exports no function `{name}`",
                            self.links.beads[bead].name
                        ))
                    })?;
                let ty = f.ty(&self.store);
                let params: Vec<Val> = ty
                    .params()
                    .into_iter()
                    .zip(args)
                    .map(|(t, &b)| val_of(t, b))
                    .collect();
                let mut results = vec![Val::I32(0); ty.results().len()];
                match f.call(&mut self.store, &params, &mut results) {
                    Ok(()) => Ok(results.first().map(val_bits)),
                    Err(e) => match e.downcast_ref::<Stop>() {
                        Some(stop) => Err(Fault::Stop(stop.clone())),
                        None => Err(Fault::Trap(trap_line(&e, &self.links.beads[bead].module))),
                    },
                }
            }
        }
    };
}

pub(crate) use define_world;
