//! Bringing every string to rest at a boundary, for a checkpoint.
//!
//! A checkpoint needs each string's stack to mean something outside this
//! process: the string must be at a *boundary* (see [`crate::resume`]),
//! either waiting inside a checkpointable call (a sleep, a lock, a message
//! wait: it is simply made again after a restore) or resting at the entry
//! of one. [`Scheduler::quiesce`] gets there:
//!
//! 1. It raises `PENDING`: from now on a string entering a boundary rests
//!    there (parks) instead of making the call.
//! 2. It waits until every string is done, not yet started, or at a
//!    boundary and not running, then raises `FROZEN`: workers stop taking
//!    strings and timers stop firing. Strings already running finish their
//!    slice (they come to rest at their next boundary); if one stopped
//!    somewhere else (say, preempted) the freeze is lifted and step 2
//!    repeats.
//! 3. Frozen, nothing of bead code runs: the caller copies memory and
//!    string states. [`Quiet`]'s drop thaws: resting strings make their
//!    calls and workers go on.
//!
//! A string that computes without ever making a checkpointable call keeps
//! the checkpoint from happening; after the timeout the caller hears which
//! strings those are and the checkpoint is abandoned (nothing was changed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ctx::{current, suspend, Suspend};
use crate::sched::Scheduler;
use crate::task::{Task, DONE, NOTIFIED, RUNNING};

static PENDING: AtomicBool = AtomicBool::new(false);
pub(crate) static FROZEN: AtomicBool = AtomicBool::new(false);
/// Strings resting at a boundary's entry, to wake at the thaw.
static RESTING: Mutex<Vec<Arc<Task>>> = Mutex::new(Vec::new());
/// One checkpoint at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Marks the current string as being at a boundary while alive: made by
/// every checkpointable call on entry.
pub struct AtBoundary {
    active: bool,
}

/// Enters a boundary: `record` is what the stub pushed, `resume` the
/// function a restored string enters in place of this call. If a
/// checkpoint is pending, rests here until it is taken.
pub fn boundary(record: *const crate::resume::Boundary, resume: u64) -> AtBoundary {
    let Some(ctx) = current() else {
        return AtBoundary { active: false };
    };
    if ctx.task.get().is_null() {
        return AtBoundary { active: false };
    }
    ctx.boundary.set((record as usize, resume));
    if PENDING.load(Ordering::Acquire) {
        rest();
    }
    AtBoundary { active: true }
}

impl Drop for AtBoundary {
    fn drop(&mut self) {
        if self.active {
            if let Some(ctx) = current() {
                ctx.boundary.set((0, 0));
            }
        }
    }
}

/// The boundary record of a string resting in
/// [`rest_saved_elsewhere`]: no stub pushed one (no address is 1).
pub const SAVED_ELSEWHERE: usize = 1;

/// Rests the current string, if a checkpoint is pending, until it is
/// taken — for a string whose state the checkpoint takes from elsewhere
/// (a Wasm string has saved its computation outside the arena): it counts
/// as at a boundary, with [`SAVED_ELSEWHERE`] as its record.
pub fn rest_saved_elsewhere() {
    let Some(ctx) = current() else {
        return;
    };
    if ctx.task.get().is_null() {
        return;
    }
    ctx.boundary.set((SAVED_ELSEWHERE, 0));
    if PENDING.load(Ordering::Acquire) {
        rest();
    }
    ctx.boundary.set((0, 0));
}

/// Parks the current string until the pending checkpoint is taken.
pub fn rest() {
    let Some(task) = crate::blocking::current_task() else {
        return;
    };
    {
        let _rt = crate::ctx::RuntimeSection::enter();
        let mut resting = RESTING.lock().unwrap_or_else(|e| e.into_inner());
        if !PENDING.load(Ordering::Acquire) {
            return;
        }
        resting.push(task);
    }
    suspend(Suspend::Park);
}

/// Why strings could not be brought to rest.
#[derive(Debug)]
pub struct NotQuiet {
    /// Each string that was not at a boundary: its name and what it did.
    pub strings: Vec<(String, &'static str)>,
}

impl std::fmt::Display for NotQuiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "strings not at a checkpoint point: ")?;
        for (i, (name, what)) in self.strings.iter().take(8).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "`{name}` ({what})")?;
        }
        if self.strings.len() > 8 {
            write!(f, " and {} more", self.strings.len() - 8)?;
        }
        write!(
            f,
            "; a string is caught only in a sleep, sched_yield, a mutex or condition wait, \
             pthread_join, wv_recv or wv_checkpoint"
        )
    }
}

/// Every string of the scheduler at rest; dropping it lets them go on.
pub struct Quiet<'a> {
    sched: &'a Scheduler,
    _one: std::sync::MutexGuard<'static, ()>,
    /// The strings, in start order (done ones included).
    pub tasks: Vec<Arc<Task>>,
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        thaw(self.sched);
    }
}

fn thaw(sched: &Scheduler) {
    FROZEN.store(false, Ordering::SeqCst);
    let resting = {
        let mut r = RESTING.lock().unwrap_or_else(|e| e.into_inner());
        PENDING.store(false, Ordering::SeqCst);
        std::mem::take(&mut *r)
    };
    for t in resting {
        t.wake();
    }
    sched.unpark_all();
}

/// Why `task` is not at rest, or `None` if it is.
fn unrest(task: &Task) -> Option<&'static str> {
    match task.state.load(Ordering::Acquire) {
        DONE => None,
        RUNNING | NOTIFIED => Some("running"),
        _ if !task.started() => None,
        _ if task.ctx.boundary.get().0 != 0 => None,
        _ => Some("waiting outside a checkpoint point"),
    }
}

impl Scheduler {
    /// Brings every string to rest at a boundary (see the module docs), or
    /// says which strings did not get there within `timeout`.
    pub fn quiesce(&self, timeout: Duration) -> Result<Quiet<'_>, NotQuiet> {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + timeout;
        PENDING.store(true, Ordering::SeqCst);
        loop {
            let tasks = self.tasks();
            let all_rest = tasks.iter().all(|t| unrest(t).is_none());
            if all_rest {
                FROZEN.store(true, Ordering::SeqCst);
                // A worker may have picked a string just before the freeze:
                // wait for its slice to end, then look again.
                while tasks
                    .iter()
                    .any(|t| matches!(t.state.load(Ordering::Acquire), RUNNING | NOTIFIED))
                {
                    std::thread::sleep(Duration::from_micros(50));
                }
                let tasks = self.tasks();
                if tasks.iter().all(|t| unrest(t).is_none()) {
                    return Ok(Quiet {
                        sched: self,
                        _one: one,
                        tasks,
                    });
                }
                FROZEN.store(false, Ordering::SeqCst);
                self.unpark_all();
            }
            if Instant::now() >= deadline {
                let strings = tasks
                    .iter()
                    .filter_map(|t| unrest(t).map(|w| (t.ctx.info.name.clone(), w)))
                    .collect();
                thaw(self);
                return Err(NotQuiet { strings });
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// Whether a checkpoint waits for strings to come to rest.
pub fn pending() -> bool {
    PENDING.load(Ordering::Acquire)
}

/// Whether workers must not run strings now.
#[inline]
pub(crate) fn frozen() -> bool {
    FROZEN.load(Ordering::Acquire)
}

static CHECKPOINTABLE: AtomicBool = AtomicBool::new(false);

/// Declares that this process's tapestry may be checkpointed: strings keep
/// their `argv` in their home bead's heap (arena memory, restored with the
/// image) rather than in the runtime's.
pub fn set_checkpointable() {
    CHECKPOINTABLE.store(true, Ordering::Release);
}

/// Whether [`set_checkpointable`] was called.
pub fn checkpointable() -> bool {
    CHECKPOINTABLE.load(Ordering::Acquire)
}
