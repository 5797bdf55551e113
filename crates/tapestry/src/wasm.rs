//! Wasm beads in a tapestry (`weaves_wasm`): the modules a `[[module]]`
//! names that are WebAssembly (recognised by their magic), their beads,
//! and the strings that start in them.
//!
//! A Wasm bead has no arena image: its memory is the linear memory of the
//! engine's instance. Each string that starts in a Wasm bead gets its own
//! instance of the bead's module (a `_start` program is a process of its
//! own); the compiled module is shared. The string runs on a fiber like
//! any other: the runtime enters it through a `pthread_create`-style entry
//! whose argument carries the module, the entry and the WASI state.
//!
//! Not supported yet (refused with "not supported: …" where a tapestry asks
//! for it): Wasm beads in tuple spaces and message bindings, imports bound
//! to other beads, and adding Wasm modules to a running tapestry.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use toml::Spanned;
use weaves_strings::{Entry, ExecCtx, Launch, StringInfo};
pub use weaves_wasm::EngineKind;
use weaves_wasm::{Control, Prepared, Start, Wasi, WasmModule};

use crate::error::TapestryError;
use crate::tapestry::{host_environment, Tapestry};

/// Indices at and above this in the configuration's name tables stand for
/// Wasm modules and beads (`WASM_INDEX + k`): they never reach the ELF
/// pipeline.
pub(crate) const WASM_INDEX: usize = 1 << 48;

/// Stack a wasmtime string needs beyond what Wasm code may use, for the
/// runtime's and the host calls' own frames.
const HOST_STACK: usize = 512 << 10;

/// A Wasm module the tapestry names.
#[derive(Clone, Debug)]
pub struct WasmModulePlan {
    pub name: String,
    pub path: PathBuf,
    pub line: usize,
    /// The module's bytes as a checkpoint image carries them (a restore
    /// runs these, not the file's).
    pub from_image: Option<Vec<u8>>,
}

/// A bead of a Wasm module.
#[derive(Clone, Debug)]
pub struct WasmBeadPlan {
    pub name: String,
    pub module: usize,
    /// Its own `engine`, if it names one.
    pub engine: Option<EngineKind>,
    pub line: usize,
}

/// A string that starts in a Wasm bead.
#[derive(Clone, Debug)]
pub struct WasmStringPlan {
    pub bead: usize,
    /// The exported function it starts at (`_start` unless named).
    pub entry: String,
}

/// The Wasm part of a plan.
#[derive(Clone, Debug)]
pub struct WasmPlan {
    /// `[tapestry] engine` (wasmtime unless it says otherwise).
    pub engine: EngineKind,
    /// `weaves run --engine`: every Wasm bead runs under this one.
    pub engine_override: Option<EngineKind>,
    /// `[tapestry] wasm_max_memory_mib`, in bytes.
    pub max_memory: u64,
    pub modules: Vec<WasmModulePlan>,
    pub beads: Vec<WasmBeadPlan>,
    /// The Wasm beads of each weave that has any, by weave index.
    pub weaves: BTreeMap<usize, Vec<usize>>,
    /// Strings that start in a Wasm bead, by string index.
    pub strings: BTreeMap<usize, WasmStringPlan>,
}

impl Default for WasmPlan {
    fn default() -> WasmPlan {
        WasmPlan {
            engine: EngineKind::default(),
            engine_override: None,
            max_memory: weaves_wasm::DEFAULT_MAX_MEMORY,
            modules: Vec::new(),
            beads: Vec::new(),
            weaves: BTreeMap::new(),
            strings: BTreeMap::new(),
        }
    }
}

impl WasmPlan {
    pub(crate) fn configure(
        &mut self,
        engine: Option<&Spanned<String>>,
        max_mib: Option<&Spanned<u64>>,
        err: impl Fn(usize, String) -> TapestryError,
    ) -> Result<(), TapestryError> {
        if let Some(e) = engine {
            self.engine = EngineKind::parse(e.get_ref()).map_err(|m| err(e.span().start, m))?;
        }
        if let Some(m) = max_mib {
            let mib = *m.get_ref();
            if mib == 0 || mib > 4096 {
                return Err(err(
                    m.span().start,
                    format!("wasm_max_memory_mib = {mib} is outside 1..=4096"),
                ));
            }
            self.max_memory = mib << 20;
        }
        Ok(())
    }

    pub(crate) fn engine_of(
        &self,
        engine: Option<&Spanned<String>>,
        err: impl Fn(usize, String) -> TapestryError,
    ) -> Result<Option<EngineKind>, TapestryError> {
        engine
            .map(|e| EngineKind::parse(e.get_ref()).map_err(|m| err(e.span().start, m)))
            .transpose()
    }

    /// The Wasm bead and function string `entry` of weave `weave` starts
    /// at, if it starts in a Wasm bead: `BEAD:FUNCTION` naming one, or any
    /// entry of a weave whose beads are all Wasm beads (its first; `_start`
    /// when the string names no entry).
    pub(crate) fn entry_of(
        &self,
        weave: usize,
        elf_beads: &[usize],
        entry: &str,
        named: bool,
        bead_names: &HashMap<String, usize>,
        err: impl Fn(String) -> TapestryError,
    ) -> Result<Option<WasmStringPlan>, TapestryError> {
        let members = self.weaves.get(&weave).map(Vec::as_slice).unwrap_or(&[]);
        if let Some((bead, function)) = entry.split_once(':') {
            let Some(&index) = bead_names.get(bead) else {
                return Ok(None);
            };
            if index < WASM_INDEX {
                return Ok(None);
            }
            let b = index - WASM_INDEX;
            if !members.contains(&b) {
                return Err(err(format!(
                    "entry bead `{bead}` is not in the string's weave"
                )));
            }
            if function.is_empty() {
                return Err(err("empty entry symbol".into()));
            }
            return Ok(Some(WasmStringPlan {
                bead: b,
                entry: function.to_owned(),
            }));
        }
        match members.first() {
            Some(&b) if elf_beads.is_empty() => Ok(Some(WasmStringPlan {
                bead: b,
                entry: if named {
                    entry.to_owned()
                } else {
                    "_start".to_owned()
                },
            })),
            _ => Ok(None),
        }
    }

    /// The engine bead `b` runs under.
    pub fn bead_engine(&self, b: usize) -> EngineKind {
        self.engine_override
            .or(self.beads[b].engine)
            .unwrap_or(self.engine)
    }
}

impl crate::Plan {
    /// Runs every Wasm bead under `engine` (`weaves run --engine`).
    pub fn set_wasm_engine(&mut self, engine: EngineKind) {
        self.wasm.engine_override = Some(engine);
    }
}

/// The loaded Wasm modules of a tapestry and the strings running them.
#[derive(Default)]
pub(crate) struct WasmBeads {
    /// One per Wasm module of the plan.
    pub(crate) modules: Vec<Prepared>,
    /// How each running Wasm string is asked to move, by string index.
    pub(crate) controls: Mutex<HashMap<usize, Arc<Control>>>,
}

/// What a Wasm string's entry needs (handed over as its argument).
struct Job {
    module: Prepared,
    entry: String,
    start: Start,
    engine: EngineKind,
    control: Arc<Control>,
    string: String,
    bead: String,
}

impl Tapestry {
    /// Loads, checks and compiles the plan's Wasm modules (each for the
    /// engines its beads run under).
    pub(crate) fn load_wasm(&mut self) -> Result<(), TapestryError> {
        let plan = &self.plan.wasm;
        for (k, m) in plan
            .modules
            .iter()
            .enumerate()
            .skip(self.wasm.modules.len())
        {
            let fail = |message: String| TapestryError::Config {
                path: self.plan.path.clone(),
                message: format!("line {}: module `{}`: {message}", m.line, m.name),
            };
            let module = match &m.from_image {
                Some(bytes) => WasmModule::from_bytes(&m.path, bytes.clone(), plan.max_memory),
                None => WasmModule::load(&m.path, plan.max_memory),
            }
            .map_err(|e| fail(e.to_string()))?;
            let prepared = Prepared::new(module, plan.max_memory).map_err(&fail)?;
            let mut engines: Vec<EngineKind> = (0..plan.beads.len())
                .filter(|&b| plan.beads[b].module == k)
                .map(|b| plan.bead_engine(b))
                .collect();
            engines.dedup();
            for e in engines {
                prepared.compile(e).map_err(&fail)?;
            }
            self.wasm.modules.push(prepared);
        }
        for (&i, s) in &plan.strings {
            let b = &plan.beads[s.bead];
            let m = &self.wasm.modules[b.module];
            m.module
                .check_entry(&s.entry)
                .map_err(|message| TapestryError::Config {
                    path: self.plan.path.clone(),
                    message: format!(
                        "line {}: string `{}`: {message}",
                        self.plan.strings[i].line, self.plan.strings[i].name
                    ),
                })?;
        }
        Ok(())
    }

    /// How string `i` starts, if it starts in a Wasm bead.
    pub(crate) fn wasm_launch(&self, i: usize) -> Result<Option<Launch>, TapestryError> {
        self.wasm_launch_from(i, None)
    }

    /// How string `i` starts (or, with `start`, goes on), if it starts in
    /// a Wasm bead.
    pub(crate) fn wasm_launch_from(
        &self,
        i: usize,
        start: Option<Start>,
    ) -> Result<Option<Launch>, TapestryError> {
        let Some(ws) = self.plan.wasm.strings.get(&i) else {
            return Ok(None);
        };
        let s = &self.plan.strings[i];
        let bead = &self.plan.wasm.beads[ws.bead];
        let engine = self.plan.wasm.bead_engine(ws.bead);
        if engine == EngineKind::Wasmtime && s.stack_size < weaves_wasm::MAX_WASM_STACK + HOST_STACK
        {
            return Err(TapestryError::Run(format!(
                "string `{}`: a Wasm string under wasmtime needs a stack of at least {} KiB (stack_kib)",
                s.name,
                (weaves_wasm::MAX_WASM_STACK + HOST_STACK) >> 10
            )));
        }
        let mut env = host_environment();
        for (k, v) in &s.env {
            let prefix = format!("{k}=");
            env.retain(|e| !e.as_bytes().starts_with(prefix.as_bytes()));
            env.push(std::ffi::CString::new(format!("{k}={v}")).map_err(|_| {
                TapestryError::Run(format!("string `{}`: NUL in environment", s.name))
            })?);
        }
        let start = start.unwrap_or_else(|| {
            Start::Fresh(Wasi::new(
                s.args.iter().map(|a| a.as_bytes().to_vec()).collect(),
                env.into_iter().map(|e| e.into_bytes()).collect(),
            ))
        });
        let control = Control::new();
        self.wasm
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(i, control.clone());
        let job = Arc::new(Job {
            module: self.wasm.modules[bead.module].clone(),
            entry: ws.entry.clone(),
            start,
            engine,
            control,
            string: s.name.clone(),
            bead: bead.name.clone(),
        });
        let info = StringInfo {
            id: i as u32 + 1,
            name: s.name.clone(),
            weave: self.plan.weaves[s.weave].name.clone(),
            home: 0,
        };
        Ok(Some(Launch {
            ctx: Arc::new(ExecCtx::new(info, None)),
            entry: Entry::Thread {
                start: run_wasm_string as *const () as u64,
                arg: Arc::into_raw(job) as u64,
            },
            stack_size: s.stack_size,
            stack_at: None,
            mode: s.mode,
        }))
    }

    /// Asks Wasm string `name` to move to `engine` at its next
    /// reconfiguration point (`weaves migrate`).
    pub fn migrate_string(&self, name: &str, engine: EngineKind) -> Result<String, String> {
        let Some(i) = self
            .plan
            .strings
            .iter()
            .enumerate()
            .position(|(k, s)| s.name == name && !self.plan.removed.strings.contains(&k))
        else {
            return Err(format!("no string `{name}`"));
        };
        let Some(ws) = self.plan.wasm.strings.get(&i) else {
            return Err(format!("not supported: string `{name}` runs native code; only Wasm strings move between engines"));
        };
        let module = &self.wasm.modules[self.plan.wasm.beads[ws.bead].module];
        if !module.capturable {
            return Err(format!(
                "string `{name}`: module {} has no reconfiguration points (it imports no weaves.wv_reconfig_point), so it cannot be captured",
                module.module.path.display()
            ));
        }
        let controls = self.wasm.controls.lock().unwrap_or_else(|e| e.into_inner());
        let Some(control) = controls.get(&i) else {
            return Err(format!("string `{name}` is not running"));
        };
        control.request(engine);
        Ok(format!(
            "string `{name}` moves to {engine} at its next reconfiguration point"
        ))
    }
}

/// What `inspect` shows of Wasm modules, beads and strings.
impl Tapestry {
    pub(crate) fn wasm_module_infos(&self) -> Vec<weaves_monitor::protocol::ModuleInfo> {
        let plan = &self.plan.wasm;
        plan.modules
            .iter()
            .enumerate()
            .map(|(k, m)| weaves_monitor::protocol::ModuleInfo {
                name: m.name.clone(),
                path: std::path::absolute(&m.path)
                    .unwrap_or_else(|_| m.path.clone())
                    .display()
                    .to_string(),
                build_id: None,
                kind: "wasm".into(),
                beads: plan.beads.iter().filter(|b| b.module == k).count(),
            })
            .collect()
    }

    /// Each Wasm bead's description (no arena image: base `-`, its size
    /// the module's initial linear memory), with owner 0 (no arena heap).
    pub(crate) fn wasm_bead_infos(
        &self,
    ) -> Vec<(weaves_monitor::protocol::BeadInfo, weaves_arena::OwnerId)> {
        let plan = &self.plan.wasm;
        plan.beads
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let memory = self
                    .wasm
                    .modules
                    .get(b.module)
                    .map_or(0, |m| m.module.initial_memory);
                let info = weaves_monitor::protocol::BeadInfo {
                    name: b.name.clone(),
                    module: plan.modules[b.module].name.clone(),
                    base: "-".into(),
                    size: memory,
                    data_bytes: memory,
                    heap_bytes: 0,
                    heap_reserved: 0,
                    weaves: plan
                        .weaves
                        .iter()
                        .filter(|(_, members)| members.contains(&k))
                        .map(|(&w, _)| self.plan.weaves[w].name.clone())
                        .collect(),
                    imports: Default::default(),
                    engine: Some(plan.bead_engine(k).name().to_owned()),
                };
                (info, 0)
            })
            .collect()
    }

    /// The names of weave `w`'s Wasm beads.
    pub(crate) fn wasm_members(&self, w: usize) -> Vec<String> {
        let plan = &self.plan.wasm;
        plan.weaves
            .get(&w)
            .map(|m| m.iter().map(|&b| plan.beads[b].name.clone()).collect())
            .unwrap_or_default()
    }

    /// Each Wasm string's id and control.
    pub(crate) fn wasm_controls(&self) -> Vec<(u32, Arc<Control>)> {
        self.wasm
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(&i, c)| (i as u32 + 1, c.clone()))
            .collect()
    }
}

/// The entry of a Wasm string (a `void *(*)(void *)`, as a thread's).
extern "C" fn run_wasm_string(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Arc::into_raw` of the Job `wasm_launch` made for
    // this string, whose entry runs once.
    let job = unsafe { Arc::from_raw(arg as *const Job) };
    let status = match weaves_wasm::run_from(
        &job.module,
        &job.entry,
        job.start.clone(),
        job.engine,
        job.control.clone(),
    ) {
        Ok(ended) => {
            for m in &ended.moves {
                tracing::info!(
                    "string `{}`: moved from {} to {} at reconfiguration point {} ({} KiB of linear memory)",
                    job.string,
                    m.from,
                    m.to,
                    m.point,
                    m.memory >> 10
                );
            }
            ended.status
        }
        Err(weaves_wasm::RunError::Stopped) => {
            drop(job);
            // Asked to stop, it left Wasm code at a host call: it ends as
            // a stopped string does.
            weaves_strings::stop_point();
            return std::ptr::null_mut();
        }
        Err(e) => {
            eprintln!(
                "weaves: string `{}`: Wasm bead `{}`: {e}",
                job.string, job.bead
            );
            // As a process a trap ends: 128 + SIGABRT.
            134
        }
    };
    drop(job);
    weaves_strings::exit_current(status);
    status as isize as *mut c_void
}
