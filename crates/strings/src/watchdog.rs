//! The watchdog: preemption ticks only for strings that hold their worker,
//! and a warning for a string that holds it for seconds.
//!
//! Every worker publishes when its current slice began ([`SliceMark`]). A
//! watchdog thread looks at the marks a few times per preemption period:
//!
//! * a string that has run for longer than the period, and whose worker
//!   thread is running code (not asleep in a system call), gets the
//!   preemption signal — its handler then switches the string out at a safe
//!   point, or remembers to at its next interposed call;
//! * a string that has run for [`WARN_AFTER`] without letting go gets one
//!   line on stderr naming it.
//!
//! Signalling only strings that overran (instead of ticking every worker
//! all the time) means idle workers are never woken, and a string blocked
//! in a system call the runtime does not park (`epoll_wait`, `select`) is
//! never interrupted with `EINTR` that a native run would not see.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cputime;
use crate::sched::Scheduler;

/// How long a string may hold its worker before the watchdog says so.
pub const WARN_AFTER: Duration = Duration::from_secs(2);

/// What a worker publishes about the slice it runs.
#[derive(Default)]
pub(crate) struct SliceMark {
    /// Counter ticks when the slice began; 0 while no string runs.
    began: AtomicU64,
    /// The running string's id.
    string: AtomicU32,
    /// The worker's kernel thread id.
    tid: AtomicI32,
}

impl SliceMark {
    /// Called once on the worker's own thread.
    pub(crate) fn register_thread(&self) {
        // SAFETY: gettid has no preconditions.
        self.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn begin(&self, ticks: u64, string: u32) {
        self.string.store(string, Ordering::Relaxed);
        self.began.store(ticks.max(1), Ordering::Release);
    }

    #[inline]
    pub(crate) fn end(&self) {
        self.began.store(0, Ordering::Release);
    }
}

/// Whether kernel thread `tid` of this process is running or runnable (not
/// asleep in a system call): the third field of its `stat`.
fn thread_is_running(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The command name (field 2) is in parentheses and may contain spaces.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "R")
}

fn signal_thread(tid: i32, signal: i32) {
    // SAFETY: tgkill sends a signal to one thread of this process; a thread
    // that has exited meanwhile makes it fail with ESRCH, harmlessly.
    unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::c_long::from(tid),
            libc::c_long::from(signal),
        );
    }
}

/// What the watchdog remembers per worker between looks.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// The slice it last warned about (its `began`).
    warned: u64,
}

impl Scheduler {
    /// Starts the watchdog: strings that hold a worker for longer than
    /// `preempt` get `signal` (none when `preempt` is `None`), and strings
    /// that hold it for [`WARN_AFTER`] are named on stderr. It ends with the
    /// scheduler.
    pub fn watch(self: &Arc<Self>, preempt: Option<Duration>, signal: i32) -> std::io::Result<()> {
        let sched = Arc::downgrade(self);
        let every = preempt.map_or(Duration::from_millis(100), |p| {
            (p / 2).max(Duration::from_millis(1))
        });
        std::thread::Builder::new()
            .name("weaves watchdog".into())
            .stack_size(128 << 10)
            .spawn(move || watch_loop(&sched, preempt, signal, every))?;
        Ok(())
    }
}

fn watch_loop(sched: &Weak<Scheduler>, preempt: Option<Duration>, signal: i32, every: Duration) {
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        std::thread::sleep(every);
        let Some(s) = sched.upgrade() else { return };
        if s.stopping() {
            return;
        }
        let marks = s.slice_marks();
        seen.resize(s.workers(), Seen::default());
        let now = cputime::ticks();
        for (worker, (mark, seen)) in marks.zip(seen.iter_mut()).enumerate() {
            let began = mark.began.load(Ordering::Acquire);
            if began == 0 {
                continue;
            }
            let held = cputime::to_duration(now.saturating_sub(began));
            let tid = mark.tid.load(Ordering::Relaxed);
            if preempt.is_some_and(|p| held >= p) && thread_is_running(tid) {
                signal_thread(tid, signal);
            }
            if held >= WARN_AFTER && seen.warned != began {
                seen.warned = began;
                warn_held(&s, mark.string.load(Ordering::Relaxed), worker, held);
            }
        }
    }
}

fn warn_held(s: &Scheduler, string: u32, worker: usize, held: Duration) {
    let (name, weave) = s
        .tasks()
        .iter()
        .find(|t| t.ctx.info.id == string)
        .map(|t| (t.ctx.info.name.clone(), t.ctx.info.weave.clone()))
        .unwrap_or_else(|| (format!("#{string}"), String::from("?")));
    tracing::warn!(
        "string `{name}` (weave `{weave}`) has held worker {worker} for {:.1} s without reaching a safe point; the other strings of that worker wait (it spins in code other strings share, or blocks in a call weaves does not park)",
        held.as_secs_f64()
    );
}
