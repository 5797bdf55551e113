//! The interpreter: wasmi. It keeps no per-thread state across host calls,
//! so a wait in a host call parks the string and lets the worker run
//! others ([`crate::wasi::Wasi::may_switch`] is on).

use crate::host_imports::define_host_import;
use std::sync::OnceLock;

use wasmi::{
    Caller, Engine, Extern, ExternType, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Val,
};

use crate::engine::{widen, Fault, Instance, Returned};
use crate::host::{Host, PointAction};
use crate::state::{Captured, GlobalValue};
use crate::transform::GLOBAL_EXPORT;
use crate::wasi::{not_supported, Stop};

pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

pub(crate) fn compile(bytes: &[u8]) -> Result<Module, String> {
    Module::new(engine(), bytes).map_err(|e| format!("wasmi cannot load it: {e}"))
}

struct State {
    host: Host,
    limits: StoreLimits,
}

impl wasmi::errors::HostError for Stop {}

pub(crate) struct WasmiInstance {
    store: Store<State>,
    instance: wasmi::Instance,
}

fn to_i64(v: &Val) -> Option<i64> {
    match v {
        Val::I32(x) => Some(*x as i64),
        Val::I64(x) => Some(*x),
        _ => None,
    }
}

fn call_export(
    caller: &mut Caller<'_, State>,
    name: &str,
    args: &[Val],
) -> Result<(), wasmi::Error> {
    let f = caller
        .get_export(name)
        .and_then(Extern::into_func)
        .ok_or_else(|| wasmi::Error::new(format!("the module lacks `{name}`")))?;
    f.call(caller, args, &mut [])
}

fn reconfig_point(caller: &mut Caller<'_, State>, name: i32) -> Result<(), wasmi::Error> {
    crate::wasi::check_stop().map_err(wasmi::Error::host)?;
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
                .ok_or_else(|| wasmi::Error::new("the module exports no memory"))?;
            mem.write(&mut *caller, area as usize, &Host::area_header(area))
                .map_err(|e| wasmi::Error::new(e.to_string()))?;
            call_export(caller, "asyncify_start_unwind", &[Val::I32(area as i32)])
        }
    }
}

/// One line for what ended a wasmi call. wasmi does not say where a trap
/// happened, only what it was.
fn describe(e: &wasmi::Error) -> String {
    match e.as_trap_code() {
        Some(code) => format!("{code} in Wasm code (wasmi does not report the function or offset)"),
        None => e.to_string(),
    }
}

impl WasmiInstance {
    pub(crate) fn new(module: &crate::Prepared, host: Host) -> Result<WasmiInstance, String> {
        let compiled = module.wasmi()?;
        let mut linker: Linker<State> = Linker::new(engine());
        for import in compiled.imports() {
            let (m, n) = (import.module().to_owned(), import.name().to_owned());
            let ExternType::Func(ty) = import.ty() else {
                return Err(format!("not supported: import `{m}.{n}` is not a function"));
            };
            let ty = ty.clone();
            let define = define_host_import!(linker, &m, &n, ty, wasmi::Error::host);
            define.map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))?;
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(module.max_memory as usize)
            .build();
        let mut store = Store::new(engine(), State { host, limits });
        store.limiter(|s| &mut s.limits);
        let instance = linker
            .instantiate_and_start(&mut store, &compiled)
            .map_err(|e| format!("cannot instantiate it under wasmi: {}", describe(&e)))?;
        Ok(WasmiInstance { store, instance })
    }

    fn memory(&mut self) -> Result<wasmi::Memory, String> {
        self.instance
            .get_memory(&self.store, "memory")
            .ok_or_else(|| "the module exports no memory".to_owned())
    }

    fn call0(&mut self, name: &str, args: &[Val]) -> Result<(), String> {
        let f = self
            .instance
            .get_func(&self.store, name)
            .ok_or_else(|| format!("the module lacks `{name}`"))?;
        f.call(&mut self.store, args, &mut [])
            .map_err(|e| describe(&e))
    }
}

fn world_engine() -> Result<&'static Engine, String> {
    Ok(engine())
}

fn world_module(p: &crate::Prepared) -> Result<Module, String> {
    p.wasmi()
}

fn define_extern(
    linker: &mut Linker<State>,
    _store: &Store<State>,
    m: &str,
    n: &str,
    ext: Extern,
) -> Result<(), String> {
    linker
        .define(m, n, ext)
        .map(drop)
        .map_err(|e| format!("cannot bind `{m}.{n}`: {e}"))
}

fn instantiate_in(
    linker: &Linker<State>,
    store: &mut Store<State>,
    module: &Module,
) -> Result<wasmi::Instance, String> {
    linker
        .instantiate_and_start(&mut *store, module)
        .map_err(|e| format!("cannot instantiate it under wasmi: {}", describe(&e)))
}

fn export_of(i: &wasmi::Instance, store: &mut Store<State>, name: &str) -> Option<Extern> {
    i.get_export(&*store, name)
}

fn val_bits(v: &Val) -> crate::native::Bits {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        Val::F32(x) => x.to_bits() as u64,
        Val::F64(x) => x.to_bits(),
        _ => 0,
    }
}

fn bits_val(k: crate::native::ValKind, b: crate::native::Bits) -> Val {
    use crate::native::ValKind;
    match k {
        ValKind::I32 => Val::I32(b as u32 as i32),
        ValKind::I64 => Val::I64(b as i64),
        ValKind::F32 => Val::F32(f32::from_bits(b as u32).into()),
        ValKind::F64 => Val::F64(f64::from_bits(b).into()),
    }
}

fn val_of(t: &wasmi::ValType, b: crate::native::Bits) -> Val {
    use crate::native::ValKind;
    match t {
        wasmi::ValType::I64 => bits_val(ValKind::I64, b),
        wasmi::ValType::F32 => bits_val(ValKind::F32, b),
        wasmi::ValType::F64 => bits_val(ValKind::F64, b),
        _ => bits_val(ValKind::I32, b),
    }
}

fn trap_line(e: &wasmi::Error, _module: &crate::Prepared) -> String {
    describe(e)
}

crate::links::define_world!(wasmi::Instance, wasmi::Error::host);

impl Instance for WasmiInstance {
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
            .get_func(&self.store, entry)
            .ok_or_else(|| Fault::Trap(format!("the module exports no function `{entry}`")))?;
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        match f.call(&mut self.store, &[], &mut results) {
            Ok(()) => {
                if self.store.data().host.unwinding_to.is_some() {
                    return Ok(Returned::Unwound);
                }
                Ok(Returned::Value(results.first().and_then(|v| match v {
                    Val::I32(x) => Some(*x),
                    _ => None,
                })))
            }
            Err(e) => match e.downcast_ref::<Stop>() {
                Some(stop) => Err(Fault::Stop(stop.clone())),
                None => Err(Fault::Trap(describe(&e))),
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
            .exports(&self.store)
            .map(|e| e.name().to_owned())
            .filter(|n| n.starts_with(GLOBAL_EXPORT))
            .collect();
        for name in names {
            let Some(g) = self.instance.get_global(&self.store, &name) else {
                continue;
            };
            let v = match g.get(&self.store) {
                Val::I32(x) => GlobalValue::I32(x),
                Val::I64(x) => GlobalValue::I64(x),
                Val::F32(x) => GlobalValue::F32(x.to_bits()),
                Val::F64(x) => GlobalValue::F64(x.to_bits()),
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
            let g = self.instance.get_global(&self.store, name).ok_or_else(|| {
                format!("the module lacks the global `{name}` it was captured with")
            })?;
            let v = match *v {
                GlobalValue::I32(x) => Val::I32(x),
                GlobalValue::I64(x) => Val::I64(x),
                GlobalValue::F32(x) => Val::F32(f32::from_bits(x).into()),
                GlobalValue::F64(x) => Val::F64(f64::from_bits(x).into()),
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
