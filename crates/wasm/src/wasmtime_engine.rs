//! The compiled engine: wasmtime (Cranelift), run synchronously on the
//! string's own stack.
//!
//! wasmtime keeps per-thread state for the duration of a call into Wasm, so
//! a host call made under wasmtime never switches the worker to another
//! string ([`crate::wasi::Wasi::may_switch`] is off): a wait blocks the
//! worker thread. Traps are explicit checks, not signals
//! (`signals_based_traps(false)`), so wasmtime installs no signal handler
//! and the runtime's fault handling stays as it is.

use crate::host_imports::define_host_import;
use std::sync::OnceLock;

use std::sync::atomic::{AtomicU32, Ordering};
use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, InstanceAllocationStrategy, Linker, Module,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Val,
};

use crate::engine::{widen, Fault, Instance, Returned};
use crate::host::{Host, PointAction};
use crate::state::{Captured, GlobalValue};
use crate::transform::GLOBAL_EXPORT;
use crate::wasi::{not_supported, Stop};

/// How deep Wasm code may recurse on a string's stack, in bytes; the rest
/// of the stack is left for host calls.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// The settings both of wasmtime's engines share.
fn config() -> Config {
    let mut c = Config::new();
    c.signals_based_traps(false);
    c.max_wasm_stack(MAX_WASM_STACK);
    // Bounds are checked by explicit code (no signals), so linear memory
    // needs no guard region.
    c.memory_guard_size(0);
    // A module's initialised memory is an image mapped copy-on-write, not
    // written instance by instance.
    c.memory_init_cow(true);
    c
}

/// The engine for instances beyond the pool or its limits: each maps only
/// what its memory holds (no reservation), and may move when it grows.
pub(crate) fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut c = config();
            c.memory_reservation(0);
            Engine::new(&c).map_err(|e| format!("cannot start wasmtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Instances the pooling engine holds at once; more run from [`engine`].
pub const POOL_SLOTS: u32 = 128;
/// Each pooled memory's reservation: the largest `wasm_max_memory_mib`.
const POOL_MEMORY: u64 = 4 << 30;
/// The largest table a pooled instance may have.
const POOL_TABLE_ELEMENTS: usize = 1 << 16;

/// Pooled instances alive now (a slot is claimed before instantiating).
static POOLED: AtomicU32 = AtomicU32::new(0);

/// The engine whose instances come from a pool reserved once: instantiating
/// takes a free slot (its memory already reserved, the module's image
/// mapped copy-on-write, kept mapped for the next instance of the same
/// module) instead of mapping fresh memory.
fn pooled_engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(POOL_SLOTS)
                .total_memories(POOL_SLOTS)
                .total_tables(POOL_SLOTS)
                .max_memories_per_module(1)
                .max_tables_per_module(1)
                .table_elements(POOL_TABLE_ELEMENTS)
                .max_memory_size(POOL_MEMORY as usize)
                .max_core_instance_size(4 << 20);
            let mut c = config();
            c.memory_reservation(POOL_MEMORY);
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            Engine::new(&c).map_err(|e| format!("cannot start wasmtime's pooling engine: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A module compiled for one engine, with its imports resolved once.
#[derive(Clone)]
pub(crate) struct Flavour {
    module: Module,
    /// `None` for a module that imports a memory: only a weave's binding
    /// provides it, in a linked world.
    pre: Option<wasmtime::InstancePre<State>>,
}

fn flavour(engine: &Engine, bytes: &[u8]) -> Result<Flavour, String> {
    let module =
        Module::new(engine, bytes).map_err(|e| format!("wasmtime cannot compile it: {e}"))?;
    let pre = if module
        .imports()
        .all(|i| matches!(i.ty(), ExternType::Func(_)))
    {
        let linker = linker_for(engine, &module)?;
        Some(
            linker
                .instantiate_pre(&module)
                .map_err(|e| format!("cannot bind its imports under wasmtime: {e}"))?,
        )
    } else {
        None
    };
    Ok(Flavour { module, pre })
}

/// A module compiled by wasmtime: every instance starts from this, from
/// the pool while it has room (instantiating is then taking a slot), else
/// from the on-demand engine (compiled for it at the first such instance).
#[derive(Clone)]
pub(crate) struct Compiled {
    /// `None` for a module beyond the pool's limits.
    pooled: Option<Flavour>,
    /// Compiled at the first instance the pool has no room for.
    on_demand: std::sync::Arc<OnceLock<Result<Flavour, String>>>,
    bytes: std::sync::Arc<Vec<u8>>,
}

impl Compiled {
    fn on_demand(&self) -> Result<Flavour, String> {
        self.on_demand
            .get_or_init(|| flavour(engine()?, &self.bytes))
            .clone()
    }
}

pub(crate) fn compile(bytes: &[u8]) -> Result<Compiled, String> {
    // The pooling engine refuses a module beyond its limits (more than one
    // memory or table, a larger table) when compiling it, and cannot start
    // where the process may not reserve its address space (RLIMIT_AS):
    // then the module runs from the on-demand engine only, compiled for it
    // now so that an error is a load error.
    let pooled = pooled_engine()
        .ok()
        .and_then(|engine| flavour(engine, bytes).ok());
    let compiled = Compiled {
        pooled,
        on_demand: Default::default(),
        bytes: std::sync::Arc::new(bytes.to_vec()),
    };
    if compiled.pooled.is_none() {
        compiled.on_demand()?;
    }
    Ok(compiled)
}

/// A claimed pool slot, given back when the instance's store is dropped.
struct PoolSlot;

impl PoolSlot {
    fn claim() -> Option<PoolSlot> {
        if POOLED.fetch_add(1, Ordering::AcqRel) < POOL_SLOTS {
            Some(PoolSlot)
        } else {
            POOLED.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        POOLED.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct State {
    host: Host,
    limits: StoreLimits,
}

pub(crate) struct WasmtimeInstance {
    store: Store<State>,
    instance: wasmtime::Instance,
    module: crate::Prepared,
    /// Dropped after the store (fields drop in order), when the pool has
    /// its slot back.
    _slot: Option<PoolSlot>,
}

fn to_i64(v: &Val) -> Option<i64> {
    match v {
        Val::I32(x) => Some(*x as i64),
        Val::I64(x) => Some(*x),
        _ => None,
    }
}

fn call_export(caller: &mut Caller<'_, State>, name: &str, args: &[Val]) -> wasmtime::Result<()> {
    let f = caller
        .get_export(name)
        .and_then(Extern::into_func)
        .ok_or_else(|| wasmtime::Error::msg(format!("the module lacks `{name}`")))?;
    f.call(caller, args, &mut [])
}

fn reconfig_point(caller: &mut Caller<'_, State>, name: i32) -> wasmtime::Result<()> {
    crate::wasi::check_stop().map_err(wasmtime::Error::new)?;
    if name == crate::preempt::CHECK {
        if let Some(fuel) = caller
            .get_export(crate::preempt::FUEL_EXPORT)
            .and_then(Extern::into_global)
        {
            fuel.set(&mut *caller, Val::I32(crate::preempt::FUEL))?;
        }
    }
    match caller.data_mut().host.at_point(name) {
        PointAction::Continue => Ok(()),
        PointAction::StopRewind => call_export(caller, "asyncify_stop_rewind", &[]),
        PointAction::StartUnwind { area } => {
            let mem = caller
                .get_export("memory")
                .and_then(Extern::into_memory)
                .ok_or_else(|| wasmtime::Error::msg("the module exports no memory"))?;
            mem.write(&mut *caller, area as usize, &Host::area_header(area))?;
            call_export(caller, "asyncify_start_unwind", &[Val::I32(area as i32)])
        }
    }
}

fn linker_for(engine: &Engine, compiled: &Module) -> Result<Linker<State>, String> {
    let mut linker: Linker<State> = Linker::new(engine);
    for import in compiled.imports() {
        let (m, n) = (import.module().to_owned(), import.name().to_owned());
        let ExternType::Func(ty) = import.ty() else {
            return Err(format!("not supported: import `{m}.{n}` is not a function"));
        };
        let define = define_host_import!(linker, &m, &n, ty, wasmtime::Error::new);
        define.map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))?;
    }
    Ok(linker)
}

impl WasmtimeInstance {
    pub(crate) fn new(module: &crate::Prepared, host: Host) -> Result<WasmtimeInstance, String> {
        let compiled = module.wasmtime()?;
        let slot = compiled.pooled.as_ref().and_then(|_| PoolSlot::claim());
        let (flavour, engine) = match (&compiled.pooled, &slot) {
            (Some(f), Some(_)) => (f.clone(), pooled_engine()?),
            _ => (compiled.on_demand()?, engine()?),
        };
        let limits = StoreLimitsBuilder::new()
            .memory_size(module.max_memory as usize)
            .build();
        let mut store = Store::new(engine, State { host, limits });
        store.limiter(|s| &mut s.limits);
        let pre = flavour.pre.as_ref().ok_or_else(|| {
            "not supported: a module that imports a memory runs only bound through a weave"
                .to_owned()
        })?;
        let instance = pre.instantiate(&mut store).map_err(|e| {
            format!(
                "cannot instantiate it under wasmtime: {}",
                describe(&e, module)
            )
        })?;
        Ok(WasmtimeInstance {
            store,
            instance,
            module: module.clone(),
            _slot: slot,
        })
    }

    fn memory(&mut self) -> Result<wasmtime::Memory, String> {
        self.instance
            .get_memory(&mut self.store, "memory")
            .ok_or_else(|| "the module exports no memory".to_owned())
    }

    fn call0(&mut self, name: &str, args: &[Val]) -> Result<(), String> {
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| format!("the module lacks `{name}`"))?;
        f.call(&mut self.store, args, &mut [])
            .map_err(|e| describe(&e, &self.module))
    }
}

/// One line for what ended a wasmtime call: the trap and the Wasm function
/// and offset it happened at.
fn describe(e: &wasmtime::Error, module: &crate::Prepared) -> String {
    let what = match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => e.to_string(),
    };
    match e
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|b| b.frames().first())
    {
        Some(f) => {
            let name = f
                .func_name()
                .map(str::to_owned)
                .or_else(|| {
                    module
                        .module
                        .function_name(f.func_index())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| format!("#{}", f.func_index()));
            match f.module_offset() {
                Some(off) => format!("{what} in Wasm function `{name}` at offset {off:#x}"),
                None => format!("{what} in Wasm function `{name}`"),
            }
        }
        None => what,
    }
}

fn world_engine() -> Result<&'static Engine, String> {
    engine()
}

fn world_module(p: &crate::Prepared) -> Result<Module, String> {
    Ok(p.wasmtime()?.on_demand()?.module)
}

fn define_extern(
    linker: &mut Linker<State>,
    store: &Store<State>,
    m: &str,
    n: &str,
    ext: Extern,
) -> Result<(), String> {
    linker
        .define(store, m, n, ext)
        .map(drop)
        .map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))
}

fn instantiate_in(
    linker: &Linker<State>,
    store: &mut Store<State>,
    module: &Module,
) -> Result<wasmtime::Instance, String> {
    linker
        .instantiate(&mut *store, module)
        .map_err(|e| format!("cannot instantiate it under wasmtime: {e}"))
}

fn export_of(i: &wasmtime::Instance, store: &mut Store<State>, name: &str) -> Option<Extern> {
    i.get_export(&mut *store, name)
}

fn val_bits(v: &Val) -> crate::native::Bits {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        Val::F32(x) => *x as u64,
        Val::F64(x) => *x,
        _ => 0,
    }
}

fn bits_val(k: crate::native::ValKind, b: crate::native::Bits) -> Val {
    use crate::native::ValKind;
    match k {
        ValKind::I32 => Val::I32(b as u32 as i32),
        ValKind::I64 => Val::I64(b as i64),
        ValKind::F32 => Val::F32(b as u32),
        ValKind::F64 => Val::F64(b),
    }
}

fn val_of(t: wasmtime::ValType, b: crate::native::Bits) -> Val {
    use crate::native::ValKind;
    match t {
        wasmtime::ValType::I64 => bits_val(ValKind::I64, b),
        wasmtime::ValType::F32 => bits_val(ValKind::F32, b),
        wasmtime::ValType::F64 => bits_val(ValKind::F64, b),
        _ => bits_val(ValKind::I32, b),
    }
}

fn trap_line(e: &wasmtime::Error, module: &crate::Prepared) -> String {
    describe(e, module)
}

crate::links::define_world!(wasmtime::Instance, wasmtime::Error::new);

impl Instance for WasmtimeInstance {
    fn make_unwind_area(&mut self) -> Result<(), String> {
        let mem = self.memory()?;
        let pages = crate::host::UNWIND_AREA as u64 / 65536;
        let old = mem
            .grow(&mut self.store, pages)
            .map_err(|e| format!("cannot add the unwind area to linear memory: {e}"))?;
        self.store.data_mut().host.unwind_area = (old * 65536) as u32;
        Ok(())
    }

    fn call(&mut self, entry: &str) -> Result<Returned, Fault> {
        let f = self
            .instance
            .get_func(&mut self.store, entry)
            .ok_or_else(|| Fault::Trap(format!("the module exports no function `{entry}`")))?;
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        match f.call(&mut self.store, &[], &mut results) {
            Ok(()) => {
                if self.store.data().host.unwinding_to.is_some() {
                    return Ok(Returned::Unwound);
                }
                Ok(Returned::Value(results.first().and_then(Val::i32)))
            }
            Err(e) => match e.downcast_ref::<Stop>() {
                Some(stop) => Err(Fault::Stop(stop.clone())),
                None => Err(Fault::Trap(describe(&e, &self.module))),
            },
        }
    }

    fn pause(&mut self) -> Result<(), String> {
        self.call0("asyncify_stop_unwind", &[])?;
        self.store.data_mut().host.unwinding_to = None;
        Ok(())
    }

    fn unpause(&mut self) -> Result<(), String> {
        let host = &mut self.store.data_mut().host;
        host.rewinding = true;
        let area = host.unwind_area;
        self.call0("asyncify_start_rewind", &[Val::I32(area as i32)])
    }

    fn capture(&mut self) -> Result<Captured, String> {
        self.call0("asyncify_stop_unwind", &[])?;
        let mem = self.memory()?;
        let memory = mem.data(&self.store).to_vec();
        let mut globals = Vec::new();
        let names: Vec<String> = self
            .instance
            .exports(&mut self.store)
            .map(|e| e.name().to_owned())
            .filter(|n| n.starts_with(GLOBAL_EXPORT))
            .collect();
        for name in names {
            let Some(g) = self.instance.get_global(&mut self.store, &name) else {
                continue;
            };
            let v = match g.get(&mut self.store) {
                Val::I32(x) => GlobalValue::I32(x),
                Val::I64(x) => GlobalValue::I64(x),
                Val::F32(x) => GlobalValue::F32(x),
                Val::F64(x) => GlobalValue::F64(x),
                _ => return Err(format!("not supported: global `{name}` holds a reference")),
            };
            globals.push((name, v));
        }
        let host = &mut self.store.data_mut().host;
        host.unwinding_to = None;
        Ok(Captured {
            memory,
            globals,
            unwind_area: host.unwind_area,
            point: host.points,
        })
    }

    fn restore(&mut self, state: &Captured) -> Result<(), String> {
        let mem = self.memory()?;
        let have = mem.data_size(&self.store);
        if state.memory.len() > have {
            let pages = (state.memory.len() - have).div_ceil(65536) as u64;
            mem.grow(&mut self.store, pages)
                .map_err(|e| format!("cannot grow linear memory to the captured size: {e}"))?;
        }
        mem.data_mut(&mut self.store)[..state.memory.len()].copy_from_slice(&state.memory);
        for (name, v) in &state.globals {
            let g = self
                .instance
                .get_global(&mut self.store, name)
                .ok_or_else(|| {
                    format!("the module lacks the global `{name}` it was captured with")
                })?;
            let v = match *v {
                GlobalValue::I32(x) => Val::I32(x),
                GlobalValue::I64(x) => Val::I64(x),
                GlobalValue::F32(x) => Val::F32(x),
                GlobalValue::F64(x) => Val::F64(x),
            };
            g.set(&mut self.store, v)
                .map_err(|e| format!("cannot set `{name}`: {e}"))?;
        }
        let host = &mut self.store.data_mut().host;
        host.unwind_area = state.unwind_area;
        host.points = state.point;
        host.rewinding = true;
        self.call0(
            "asyncify_start_rewind",
            &[Val::I32(state.unwind_area as i32)],
        )
    }

    fn host(&mut self) -> &mut Host {
        &mut self.store.data_mut().host
    }

    fn into_host(self: Box<Self>) -> Host {
        self.store.into_data().host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Control, EngineKind, Wasi, WasmModule, DEFAULT_MAX_MEMORY};

    /// A module with one page of memory and `_start`, and with a table of
    /// 100,000 elements (beyond the pool's limit) if `big_table`.
    fn module(big_table: bool) -> crate::Prepared {
        let mut b = b"\0asm\x01\0\0\0".to_vec();
        b.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type () -> ()
        b.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // one function
        if big_table {
            // funcref table, min 100000 (LEB128 a0 8d 06).
            b.extend_from_slice(&[0x04, 0x06, 0x01, 0x70, 0x00, 0xa0, 0x8d, 0x06]);
        }
        b.extend_from_slice(&[0x05, 0x03, 0x01, 0x00, 0x01]); // memory, 1 page
        b.extend_from_slice(&[0x07, 0x0a, 0x01, 0x06]);
        b.extend_from_slice(b"_start");
        b.extend_from_slice(&[0x00, 0x00]);
        b.extend_from_slice(&[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]); // body: end
        let m = WasmModule::from_bytes(std::path::Path::new("pool.wasm"), b, DEFAULT_MAX_MEMORY)
            .unwrap();
        crate::Prepared::untransformed(m, DEFAULT_MAX_MEMORY)
    }

    fn host() -> Host {
        Host::new(Wasi::default(), Control::new(), EngineKind::Wasmtime)
    }

    #[test]
    fn instances_beyond_the_pool_come_from_the_on_demand_engine() {
        let p = module(false);
        let mut held: Vec<WasmtimeInstance> = (0..POOL_SLOTS + 12)
            .map(|_| WasmtimeInstance::new(&p, host()).unwrap())
            .collect();
        let pooled = held.iter().filter(|i| i._slot.is_some()).count();
        assert!(pooled <= POOL_SLOTS as usize, "{pooled} pooled");
        assert!(held.iter().any(|i| i._slot.is_none()));
        for i in &mut held {
            assert_eq!(i.call("_start"), Ok(Returned::Value(None)));
        }
        drop(held);
        assert!(WasmtimeInstance::new(&p, host()).unwrap()._slot.is_some());
    }

    #[test]
    fn a_module_beyond_the_pools_limits_runs_from_the_on_demand_engine() {
        let p = module(true);
        let mut i = WasmtimeInstance::new(&p, host()).unwrap();
        assert!(i._slot.is_none());
        assert_eq!(i.call("_start"), Ok(Returned::Value(None)));
    }
}
