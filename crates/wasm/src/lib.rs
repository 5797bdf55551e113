//! # WebAssembly beads: two engines, one WASI, strings that move between them
//!
//! A Wasm module (wasm32-wasi, built from C with `clang --target=wasm32-wasi`)
//! is a bead like an ELF module is: the tapestry names it in a `[[module]]`
//! (recognised by its magic, `\0asm`), each bead gets its own instance —
//! its own linear memory, globals and tables — and a string can start at
//! its `_start` or at any exported function without parameters.
//!
//! ```text
//!   x.wasm --load--> WasmModule --prepare--> Prepared --run--> status
//!          (magic,     (imports     (asyncify if it has      (instantiate in an
//!           validate,   checked     reconfiguration points;   engine, call, and at
//!           memory      against     compiled per engine,      a requested point:
//!           limit)      the WASI    once)                     unwind, capture,
//!                       subset)                               instantiate in the
//!                                                             other, rewind)
//! ```
//!
//! * [`module`] refuses a damaged or hostile module in one line: bad magic,
//!   invalid code (wasmparser's validator, with the byte offset), a linear
//!   memory over the limit, an import nothing provides (named), an import
//!   with the wrong type.
//! * [`wasi`] is the WASI subset, written once against plain bytes so that
//!   its state is a value that moves with the string. Calls outside it are
//!   bound to a function that ends the string, when called, with
//!   `not supported: WASI call `NAME``: a module that merely links them
//!   (most of wasi-libc does) still loads.
//! * Two unlike engines implement [`engine::Instance`]: wasmtime (compiled by
//!   Cranelift, [`wasmtime_engine`]) and wasmi (an interpreter,
//!   [`wasmi_engine`]).
//! * [`transform`] runs Binaryen's Asyncify at load (cached by content
//!   hash) on modules that import `weaves.wv_reconfig_point`, and exports
//!   every mutable global. At such a point a string asked to move
//!   ([`Control::request`]) unwinds to its entry, leaving its call stack in
//!   a data area the runtime added at the end of linear memory; linear
//!   memory and globals are copied out ([`Captured`]); the same module is
//!   instantiated in the other engine, they are copied in, and the entry is
//!   called again to rewind into the point. The computation goes on with
//!   the same results.
//! * [`links`] runs beads whose imports a weave binds (another Wasm bead's
//!   memory or functions, a native bead's functions with a declared
//!   signature) in one store per string, and [`native`] calls native code
//!   and gives native code trampolines into Wasm exports.

pub mod engine;
mod host;
mod host_imports;
pub mod links;
pub mod module;
pub mod native;
pub mod preempt;
mod saved;
mod state;
pub mod transform;
pub mod wasi;
mod wasmi_engine;
mod wasmtime_engine;

use std::sync::{Arc, OnceLock};

pub use engine::{Fault, Returned};
pub use host::{Control, Host, PointHook, UNWIND_AREA};
pub use links::{LinkedBead, Links, Source};
pub use module::{
    file_is_wasm, is_wasm, Foreign, ForeignKind, LoadError, WasmModule, DEFAULT_MAX_MEMORY,
};
pub use native::{Signature, Trampoline, ValKind};
pub use saved::{Saved, SavedSection, SECTION_KIND};
pub use state::{Captured, GlobalValue};
pub use wasi::{Stop, Wasi};
pub use wasmtime_engine::MAX_WASM_STACK;

use engine::Instance;

/// The engines a Wasm bead can run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum EngineKind {
    /// Compiled (Cranelift).
    #[default]
    Wasmtime = 0,
    /// Interpreted.
    Wasmi = 1,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Wasmtime, EngineKind::Wasmi];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Wasmtime => "wasmtime",
            EngineKind::Wasmi => "wasmi",
        }
    }

    /// The engine called `name`, or a one-line error listing the engines.
    pub fn parse(name: &str) -> Result<EngineKind, String> {
        EngineKind::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| format!("unknown Wasm engine `{name}` (engines: wasmtime, wasmi)"))
    }

    pub(crate) fn from_index(k: u8) -> Option<EngineKind> {
        EngineKind::ALL.get(k as usize).copied()
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded module, made runnable: transformed if it has reconfiguration
/// points, and compiled for each engine on first use (once; instances share
/// it). Cloning is cheap.
#[derive(Clone)]
pub struct Prepared {
    pub module: Arc<WasmModule>,
    /// The bytes the engines run (the transformed module, or the original).
    pub runnable: Arc<Vec<u8>>,
    /// The most linear memory an instance may have, in bytes.
    pub max_memory: u64,
    /// Whether `runnable` is the transformed module (its strings can then
    /// be captured at reconfiguration points).
    pub capturable: bool,
    /// The preemption checks the transform inserted.
    pub checks: preempt::Checks,
    wasmtime: Arc<OnceLock<Result<wasmtime_engine::Compiled, String>>>,
    wasmi: Arc<OnceLock<Result<wasmi::Module, String>>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("path", &self.module.path)
            .finish()
    }
}

impl Prepared {
    /// Makes `module` runnable (running Asyncify on it if it imports
    /// `weaves.wv_reconfig_point`).
    pub fn new(module: WasmModule, max_memory: u64) -> Result<Prepared, String> {
        Prepared::transformed(module, max_memory, true)
    }

    /// [`Prepared::new`], with or without preemption checks (what they
    /// cost is measured against a module without them).
    pub fn transformed(
        module: WasmModule,
        max_memory: u64,
        preemptible: bool,
    ) -> Result<Prepared, String> {
        let at = |e: String| format!("{}: {e}", module.path.display());
        let (runnable, checks) = if module.reconfigurable {
            let (checked, checks) = if preemptible {
                preempt::insert_checks(&module.bytes).map_err(at)?
            } else {
                (module.bytes.clone(), preempt::Checks::default())
            };
            (transform::asyncify(&checked).map_err(at)?, checks)
        } else {
            (module.bytes.clone(), preempt::Checks::default())
        };
        Ok(Prepared {
            capturable: module.reconfigurable,
            checks,
            module: Arc::new(module),
            runnable: Arc::new(runnable),
            max_memory,
            wasmtime: Default::default(),
            wasmi: Default::default(),
        })
    }

    /// Makes `module` runnable as it is, without the transform: its
    /// reconfiguration points are then plain calls and its strings cannot
    /// be captured (what the transform costs is measured against this).
    pub fn untransformed(module: WasmModule, max_memory: u64) -> Prepared {
        Prepared {
            runnable: Arc::new(module.bytes.clone()),
            module: Arc::new(module),
            max_memory,
            capturable: false,
            checks: preempt::Checks::default(),
            wasmtime: Default::default(),
            wasmi: Default::default(),
        }
    }

    /// Makes one instance under `engine` (WASI state empty) and drops it:
    /// what instantiating a bead of an already compiled module costs.
    pub fn instantiate_once(&self, engine: EngineKind) -> Result<(), String> {
        let host = Host::new(Wasi::default(), Control::new(), engine);
        self.instantiate(engine, host).map(drop)
    }

    /// Compiles it for `engine` now (so that a failure is a load error).
    pub fn compile(&self, engine: EngineKind) -> Result<(), String> {
        match engine {
            EngineKind::Wasmtime => self.wasmtime().map(|_| ()),
            EngineKind::Wasmi => self.wasmi().map(|_| ()),
        }
        .map_err(|e| format!("{}: {e}", self.module.path.display()))
    }

    pub(crate) fn wasmtime(&self) -> Result<wasmtime_engine::Compiled, String> {
        self.wasmtime
            .get_or_init(|| wasmtime_engine::compile(&self.runnable))
            .clone()
    }

    pub(crate) fn wasmi(&self) -> Result<wasmi::Module, String> {
        self.wasmi
            .get_or_init(|| wasmi_engine::compile(&self.runnable))
            .clone()
    }

    fn instantiate(&self, engine: EngineKind, host: Host) -> Result<Box<dyn Instance>, String> {
        Ok(match engine {
            EngineKind::Wasmtime => Box::new(wasmtime_engine::WasmtimeInstance::new(self, host)?),
            EngineKind::Wasmi => Box::new(wasmi_engine::WasmiInstance::new(self, host)?),
        })
    }
}

/// One move of a running string from one engine to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The reconfiguration point (counted from 1) it moved at.
    pub point: u64,
    pub from: EngineKind,
    pub to: EngineKind,
    /// Bytes of linear memory carried.
    pub memory: usize,
}

/// How a string's Wasm call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Its exit status: `proc_exit`'s, the entry's i32 result, or 0.
    pub status: i32,
    /// The moves it made between engines, in order.
    pub moves: Vec<Move>,
}

/// Why a string's Wasm call did not end normally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A trap in Wasm code.
    #[error("{0}")]
    Trap(String),
    /// A call outside what the runtime supports.
    #[error("{0}")]
    NotSupported(String),
    /// Instantiation, capture or restore failed.
    #[error("{0}")]
    Engine(String),
    /// The string was asked to stop, and left Wasm code at a host call.
    #[error("stopped")]
    Stopped,
}

/// Runs exported function `entry` of `module` as one string under `engine`,
/// with `wasi` as its WASI state, moving between engines when `control`
/// asks, until it ends.
pub fn run(
    module: &Prepared,
    entry: &str,
    wasi: Wasi,
    engine: EngineKind,
    control: Arc<Control>,
) -> Result<Ended, RunError> {
    run_from(module, entry, Start::Fresh(wasi), engine, control)
}

/// Where a string's Wasm call starts.
#[derive(Clone, Debug)]
pub enum Start {
    /// At its entry, with this WASI state.
    Fresh(Wasi),
    /// Where it was saved (by a checkpoint): its call stack is rewound into
    /// the reconfiguration point it was saved at.
    Saved(Saved),
}

/// [`run`], starting where `start` says: a restored string goes on from
/// the reconfiguration point it was saved at, under `engine` whichever
/// engine it was saved under.
///
/// While a checkpoint is pending (`weaves_strings::quiesce::pending`) the
/// string saves itself at its next reconfiguration point: it unwinds, puts
/// its state where [`Control::take_saved`] finds it, rests until the
/// checkpoint is taken, and goes on under the same engine.
pub fn run_from(
    module: &Prepared,
    entry: &str,
    start: Start,
    engine: EngineKind,
    control: Arc<Control>,
) -> Result<Ended, RunError> {
    let mut engine = engine;
    let (wasi, mut captured) = match start {
        Start::Fresh(wasi) => (wasi, None),
        Start::Saved(s) => {
            if !module.capturable {
                return Err(RunError::Engine(format!(
                    "{}: the module has no reconfiguration points, so it cannot be resumed",
                    module.module.path.display()
                )));
            }
            (s.wasi, Some(s.captured))
        }
    };
    let mut host = Host::new(wasi, control, engine);
    let mut moves = Vec::new();
    loop {
        host.engine = engine;
        host.wasi.may_switch = engine == EngineKind::Wasmi;
        host.control.set_engine(engine);
        let mut inst = module.instantiate(engine, host).map_err(RunError::Engine)?;
        match &captured {
            None if module.capturable => inst.make_unwind_area().map_err(RunError::Engine)?,
            None => {}
            Some(state) => inst.restore(state).map_err(RunError::Engine)?,
        }
        // A preemption check that found the slice spent unwound the call
        // (wasmtime keeps per-thread state while Wasm runs, so the worker
        // can switch only outside it): other strings run, then the call
        // is rewound in the same instance.
        let returned = loop {
            match inst.call(entry) {
                Ok(Returned::Unwound) if std::mem::take(&mut inst.host().preempting) => {
                    inst.pause().map_err(RunError::Engine)?;
                    weaves_strings::blocking::yield_now();
                    inst.host().slice_start = std::time::Instant::now();
                    inst.unpause().map_err(RunError::Engine)?;
                }
                r => break r,
            }
        };
        match returned {
            Ok(Returned::Value(v)) => {
                return Ok(Ended {
                    status: v.unwrap_or(0),
                    moves,
                })
            }
            Ok(Returned::Unwound) => {
                let to = inst.host().unwinding_to.unwrap_or(engine);
                let saving = std::mem::take(&mut inst.host().saving);
                let state = inst.capture().map_err(RunError::Engine)?;
                if saving {
                    host = inst.into_host();
                    host.control.put_saved(Saved {
                        captured: state.clone(),
                        wasi: host.wasi.clone(),
                        engine,
                    });
                    weaves_strings::quiesce::rest_saved_elsewhere();
                    captured = Some(state);
                    continue;
                }
                moves.push(Move {
                    point: state.point,
                    from: engine,
                    to,
                    memory: state.memory.len(),
                });
                captured = Some(state);
                host = inst.into_host();
                engine = to;
            }
            Err(Fault::Stop(Stop::Exit(status))) => return Ok(Ended { status, moves }),
            Err(Fault::Stop(Stop::NotSupported(m))) => return Err(RunError::NotSupported(m)),
            Err(Fault::Stop(Stop::Stopped)) => return Err(RunError::Stopped),
            Err(Fault::Trap(m)) => return Err(RunError::Trap(m)),
        }
    }
}
