//! The running tapestry as the monitor sees it, and the way live changes
//! reach it.
//!
//! [`LiveView`] is made when the strings start. What only a live change
//! alters (modules, beads, weaves, wiring, bindings) is copied in as
//! [`Parts`] and copied again after each change; what changes all the time
//! (strings' states and CPU time, heap sizes, queue depths) is read when
//! asked. Requests are answered on the monitor's threads.
//!
//! Changes (`apply`, `remove`) are not made there: they are handed to the
//! thread running the tapestry, which owns it, makes the change between
//! waiting for its strings, and sends back the answer.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use weaves_arena::OwnerId;
use weaves_interpose::messages::InPort;
use weaves_loader::ModuleKind;
use weaves_monitor::protocol::{
    BeadInfo, BindingInfo, Inspection, ModuleInfo, StringState, Summary, TupleSpaceInfo, WeaveInfo,
};
use weaves_monitor::{Handler, Request, Response};
use weaves_strings::{Mode, Scheduler};

use crate::tapestry::Tapestry;

/// What only a live change alters.
pub(crate) struct Parts {
    modules: Vec<ModuleInfo>,
    /// Beads (heap figures filled in when asked) and their owners.
    beads: Vec<(BeadInfo, OwnerId)>,
    weaves: Vec<WeaveInfo>,
    tuple_spaces: Vec<TupleSpaceInfo>,
    /// Message bindings (`from`, `to`) and the queue they deliver to.
    bindings: Vec<(String, String, Arc<InPort>)>,
    /// How each Wasm string is moved (and which engine runs it), by id.
    wasm_strings: Vec<(u32, Arc<weaves_wasm::Control>)>,
}

/// A change to the running tapestry, made by the thread that runs it.
pub(crate) enum Change {
    /// Add what a fragment (tapestry schema, no `[tapestry]`) describes.
    Apply {
        path: PathBuf,
        text: String,
    },
    /// Take out a bead, weave, string or binding.
    Remove {
        kind: crate::remove::Kind,
        name: String,
    },
    /// Run a reconfiguration script.
    Script {
        path: PathBuf,
        text: String,
    },
    /// Start a string (`wv_spawn` from bead code).
    Spawn(weaves_interpose::SpawnRequest),
    /// Load a private library into a weave (`dlopen` from bead code).
    Dlopen(weaves_interpose::OpenRequest),
    /// Unload a library `dlopen` loaded, its last handle closed: its beads,
    /// the library's first.
    Dlclose(Vec<weaves_arena::OwnerId>),
    /// Take a checkpoint image.
    Checkpoint {
        path: Option<PathBuf>,
        dir: Option<PathBuf>,
        strict: bool,
        full: bool,
    },
    Rollback {
        path: PathBuf,
    },
    /// Hot-swap a bead for a new version of its module.
    Swap(crate::swap::SwapRequest),
    /// Move a Wasm string to another engine at its next reconfiguration
    /// point.
    Migrate {
        string: String,
        engine: crate::wasm::EngineKind,
    },
}

impl Change {
    /// What kind of change this is, for logs.
    pub(crate) fn what(&self) -> &'static str {
        match self {
            Change::Apply { .. } => "apply",
            Change::Remove { .. } => "remove",
            Change::Script { .. } => "script",
            Change::Spawn(_) => "spawn",
            Change::Dlopen(_) => "dlopen",
            Change::Dlclose(_) => "dlclose",
            Change::Checkpoint { .. } => "checkpoint",
            Change::Rollback { .. } => "rollback",
            Change::Swap(_) => "swap",
            Change::Migrate { .. } => "migrate",
        }
    }
}

/// What the thread running the tapestry waits for.
pub(crate) enum Event {
    /// The last string ended (look again: a change may have added more).
    Idle,
    /// Bead code asked for a checkpoint (`wv_checkpoint`): the result goes
    /// into the slot.
    CheckpointFor(weaves_interpose::checkpoint::Taken),
    /// Bead code asked for a rollback (`wv_rollback`): a refusal goes into
    /// the slot; success does not come back.
    RollbackFor(weaves_interpose::checkpoint::Taken),
    Change(Change, Sender<Result<serde_json::Value, String>>),
    /// A signal that ends the tapestry arrived (`SIGTERM`, as `weaves stop`
    /// sends, `SIGINT`, `SIGHUP`): every string ends at its next safe
    /// point, then the beads are finalised (see [`crate::stop`]).
    Stop(i32),
}

/// How long a change may take before the client is told it did not answer
/// (a script's `wait` lines may each take up to a minute).
const CHANGE_WITHIN: Duration = Duration::from_secs(540);

/// A running tapestry, for inspection and live changes.
pub struct LiveView {
    name: String,
    path: String,
    workers: usize,
    parts: RwLock<Parts>,
    sched: Arc<Scheduler>,
    started: Instant,
    /// Where changes go (the running thread's event queue).
    changes: Mutex<Sender<Event>>,
    /// False once the tapestry tears down: from then on requests are
    /// refused (bead memory is about to go). Requests hold it shared.
    open: RwLock<bool>,
}

impl LiveView {
    pub(crate) fn new(
        t: &Tapestry,
        sched: Arc<Scheduler>,
        started: Instant,
        changes: Sender<Event>,
    ) -> LiveView {
        // A file is shown by its absolute path, wherever `weaves ps` runs;
        // a label (`mpirun -n 4 …`) as it is.
        let path = if t.plan.path.is_file() {
            std::path::absolute(&t.plan.path).unwrap_or_else(|_| t.plan.path.clone())
        } else {
            t.plan.path.clone()
        };
        LiveView {
            name: t.plan.name.clone(),
            path: path.display().to_string(),
            workers: t.plan.workers,
            parts: RwLock::new(t.parts()),
            sched,
            started,
            changes: Mutex::new(changes),
            open: RwLock::new(true),
        }
    }

    /// Takes in the tapestry as it is after a change.
    pub(crate) fn refresh(&self, t: &Tapestry) {
        *self.parts.write().unwrap_or_else(|e| e.into_inner()) = t.parts();
    }

    /// The tapestry in one line.
    pub fn summary(&self) -> Summary {
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        Summary {
            id: pid.to_string(),
            pid,
            name: self.name.clone(),
            path: self.path.clone(),
            beads: parts.beads.len(),
            weaves: parts.weaves.len(),
            strings: self.sched.started(),
            strings_live: self.sched.live(),
            workers: self.workers,
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Everything, with the strings' states as they are now.
    pub fn inspect(&self) -> Inspection {
        let summary = self.summary();
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        let beads = parts
            .beads
            .iter()
            .map(|(info, owner)| {
                let mut info = info.clone();
                if let Some(heap) = weaves_arena::existing_heap(*owner) {
                    let s = heap.stats();
                    info.heap_bytes = s.in_use as u64;
                    info.heap_reserved = s.reserved as u64;
                }
                info
            })
            .collect();
        let strings = self
            .sched
            .tasks()
            .iter()
            .map(|t| StringState {
                id: t.ctx.info.id,
                name: t.ctx.info.name.clone(),
                weave: t.ctx.info.weave.clone(),
                state: t.state_name().into(),
                mode: match t.mode {
                    Mode::Fiber => "fiber",
                    Mode::Thread => "thread",
                }
                .into(),
                cpu_ms: t.cpu_time().as_secs_f64() * 1e3,
                status: t.outcome().map(|o| i64::from(o.status())),
                engine: parts
                    .wasm_strings
                    .iter()
                    .find(|(id, _)| *id == t.ctx.info.id)
                    .and_then(|(_, c)| c.engine())
                    .map(|e| e.name().to_owned()),
            })
            .collect();
        Inspection {
            id: summary.id,
            pid: summary.pid,
            name: summary.name,
            path: summary.path,
            workers: summary.workers,
            uptime_ms: summary.uptime_ms,
            modules: parts.modules.clone(),
            beads,
            weaves: parts.weaves.clone(),
            strings,
            tuple_spaces: parts.tuple_spaces.clone(),
            bindings: parts
                .bindings
                .iter()
                .map(|(from, to, port)| BindingInfo {
                    from: from.clone(),
                    to: to.clone(),
                    queued: port.depth(),
                    delivered: port.delivered(),
                })
                .collect(),
        }
    }

    /// Refuses requests from now on, after those being answered.
    pub fn close(&self) {
        *self.open.write().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Hands `change` to the running thread and waits for its answer.
    fn change(&self, change: Change) -> Result<serde_json::Value, String> {
        let (tx, rx) = channel();
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Event::Change(change, tx))
            .map_err(|_| "the tapestry is ending".to_owned())?;
        match rx.recv_timeout(CHANGE_WITHIN) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err("the tapestry did not make the change in time".into())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the tapestry ended before making the change".into())
            }
        }
    }
}

impl Handler for LiveView {
    fn handle(&self, request: Request) -> Response {
        // Changes must not hold the view open: the running thread closes
        // it when the strings end, which may be while a change waits.
        let change = match request {
            Request::Apply { ref path, ref text } => Some(Ok(Change::Apply {
                path: PathBuf::from(path),
                text: text.clone(),
            })),
            Request::Script { ref path, ref text } => Some(Ok(Change::Script {
                path: PathBuf::from(path),
                text: text.clone(),
            })),
            Request::Checkpoint {
                ref path,
                ref dir,
                strict,
                full,
            } => Some(Ok(Change::Checkpoint {
                path: path.as_ref().map(PathBuf::from),
                dir: dir.as_ref().map(PathBuf::from),
                strict,
                full,
            })),
            Request::Rollback { ref path } => Some(Ok(Change::Rollback {
                path: PathBuf::from(path),
            })),
            Request::Swap {
                ref bead,
                ref path,
                ref transfer,
                timeout_ms,
            } => Some(weaves_swap::Format::parse(transfer).map(|transfer| {
                Change::Swap(crate::swap::SwapRequest {
                    bead: bead.clone(),
                    path: PathBuf::from(path),
                    transfer,
                    timeout: Duration::from_millis(timeout_ms),
                })
            })),
            Request::Migrate {
                ref string,
                ref engine,
            } => Some(
                crate::wasm::EngineKind::parse(engine).map(|engine| Change::Migrate {
                    string: string.clone(),
                    engine,
                }),
            ),
            Request::Remove { ref kind, ref name } => {
                Some(crate::remove::Kind::parse(kind).map(|kind| Change::Remove {
                    kind,
                    name: name.clone(),
                }))
            }
            _ => None,
        };
        if let Some(change) = change {
            if !*self.open.read().unwrap_or_else(|e| e.into_inner()) {
                return Response::error("the tapestry is ending");
            }
            return match change.and_then(|c| self.change(c)) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::error(e),
            };
        }
        let open = self.open.read().unwrap_or_else(|e| e.into_inner());
        if !*open {
            return Response::error("the tapestry is ending");
        }
        let value = match request {
            Request::Summary => serde_json::to_value(self.summary()),
            Request::Inspect => serde_json::to_value(self.inspect()),
            Request::Apply { .. }
            | Request::Remove { .. }
            | Request::Script { .. }
            | Request::Checkpoint { .. }
            | Request::Rollback { .. }
            | Request::Swap { .. }
            | Request::Migrate { .. } => {
                unreachable!("handled above")
            }
        };
        match value {
            Ok(v) => Response::ok(v),
            Err(e) => Response::error(format!("cannot encode the answer: {e}")),
        }
    }
}

impl Tapestry {
    /// The parts of the live view only a change alters.
    pub(crate) fn parts(&self) -> Parts {
        let plan = &self.plan;
        let gone = &plan.removed;
        let modules: Vec<ModuleInfo> = plan
            .modules
            .iter()
            .zip(&self.modules)
            .enumerate()
            .map(|(i, (mp, loaded))| ModuleInfo {
                name: mp.name.clone(),
                path: std::path::absolute(loaded.module.path())
                    .unwrap_or_else(|_| loaded.module.path().to_owned())
                    .display()
                    .to_string(),
                build_id: loaded
                    .module
                    .build_id()
                    .map(|id| id.iter().map(|b| format!("{b:02x}")).collect()),
                kind: match loaded.module.kind() {
                    ModuleKind::SharedObject => "shared object",
                    ModuleKind::PieExecutable => "executable",
                }
                .into(),
                beads: self
                    .beads
                    .iter()
                    .enumerate()
                    .filter(|(k, b)| b.module == i && !gone.beads.contains(k))
                    .count(),
            })
            .collect();
        let beads = self
            .beads
            .iter()
            .enumerate()
            .filter(|(k, _)| !gone.beads.contains(k))
            .map(|(_, b)| {
                let module = &self.modules[b.module].module;
                let info = BeadInfo {
                    name: b.name.clone(),
                    module: plan.modules[b.module].name.clone(),
                    base: format!("{:#x}", b.image.base()),
                    size: module.image_span(),
                    data_bytes: module.data_bytes(),
                    heap_bytes: 0,
                    heap_reserved: 0,
                    weaves: b
                        .weaves
                        .iter()
                        .map(|&w| plan.weaves[w].name.clone())
                        .collect(),
                    imports: b.imports.clone(),
                    engine: None,
                };
                (info, b.owner)
            })
            .chain(self.wasm_bead_infos())
            .collect();
        let modules: Vec<ModuleInfo> = modules
            .into_iter()
            .chain(self.wasm_module_infos())
            .collect();
        let weaves = plan
            .weaves
            .iter()
            .enumerate()
            .filter(|(k, _)| !gone.weaves.contains(k))
            .map(|(k, w)| WeaveInfo {
                name: w.name.clone(),
                beads: w
                    .beads
                    .iter()
                    .map(|&b| self.beads[b].name.clone())
                    .chain(self.wasm_members(k))
                    .collect(),
            })
            .collect();
        let tuple_spaces = plan
            .tuple_spaces
            .iter()
            .map(|t| TupleSpaceInfo {
                variables: t.variables.clone(),
                beads: t
                    .beads
                    .iter()
                    .map(|&b| self.beads[b].name.clone())
                    .collect(),
            })
            .collect();
        let bindings = plan
            .bindings
            .iter()
            .zip(&self.ports)
            .enumerate()
            .filter(|(k, _)| !gone.bindings.contains(k))
            .map(|(_, (b, port))| {
                (
                    format!("{}.{}", self.beads[b.from.0].name, b.from.1),
                    format!("{}.{}", self.beads[b.to.0].name, b.to.1),
                    port.clone(),
                )
            })
            .collect();
        Parts {
            modules,
            beads,
            weaves,
            tuple_spaces,
            bindings,
            wasm_strings: self.wasm_controls(),
        }
    }
}
