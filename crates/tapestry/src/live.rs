//! The running tapestry as the monitor sees it.
//!
//! [`LiveView`] is made when the strings start: what does not change while
//! they run (modules, beads, weaves, wiring) is copied in once; what does
//! (strings' states and CPU time, heap sizes) is read when asked. It
//! answers the control socket's requests (see `weaves_monitor`).

use std::sync::{Arc, RwLock};
use std::time::Instant;

use weaves_arena::OwnerId;
use weaves_interpose::messages::InPort;
use weaves_monitor::protocol::{
    BeadInfo, BindingInfo, Inspection, ModuleInfo, StringState, Summary, TupleSpaceInfo, WeaveInfo,
};
use weaves_monitor::{Handler, Request, Response};
use weaves_strings::{Mode, Scheduler};

/// A running tapestry, for inspection.
pub struct LiveView {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) workers: usize,
    pub(crate) modules: Vec<ModuleInfo>,
    /// Beads (heap figures filled in when asked) and their owners.
    pub(crate) beads: Vec<(BeadInfo, OwnerId)>,
    pub(crate) weaves: Vec<WeaveInfo>,
    pub(crate) tuple_spaces: Vec<TupleSpaceInfo>,
    /// Message bindings (`from`, `to`) and the queue they deliver to.
    pub(crate) bindings: Vec<(String, String, Arc<InPort>)>,
    pub(crate) sched: Arc<Scheduler>,
    pub(crate) started: Instant,
    /// False once the tapestry tears down: from then on requests are
    /// refused (bead memory is about to go). Requests hold it shared.
    pub(crate) open: RwLock<bool>,
}

impl LiveView {
    /// The tapestry in one line.
    pub fn summary(&self) -> Summary {
        let pid = std::process::id();
        Summary {
            id: pid.to_string(),
            pid,
            name: self.name.clone(),
            path: self.path.clone(),
            beads: self.beads.len(),
            weaves: self.weaves.len(),
            strings: self.sched.started(),
            strings_live: self.sched.live(),
            workers: self.workers,
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Everything, with the strings' states as they are now.
    pub fn inspect(&self) -> Inspection {
        let beads = self
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
            })
            .collect();
        let summary = self.summary();
        Inspection {
            id: summary.id,
            pid: summary.pid,
            name: summary.name,
            path: summary.path,
            workers: summary.workers,
            uptime_ms: summary.uptime_ms,
            modules: self.modules.clone(),
            beads,
            weaves: self.weaves.clone(),
            strings,
            tuple_spaces: self.tuple_spaces.clone(),
            bindings: self
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
}

impl LiveView {
    /// Refuses requests from now on, after those being answered.
    pub fn close(&self) {
        *self.open.write().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

impl Handler for LiveView {
    fn handle(&self, request: Request) -> Response {
        let open = self.open.read().unwrap_or_else(|e| e.into_inner());
        if !*open {
            return Response::error("the tapestry is ending");
        }
        let value = match request {
            Request::Summary => serde_json::to_value(self.summary()),
            Request::Inspect => serde_json::to_value(self.inspect()),
        };
        match value {
            Ok(v) => Response::ok(v),
            Err(e) => Response::error(format!("cannot encode the answer: {e}")),
        }
    }
}
