//! What interposed blocking calls use: park the calling string's fiber
//! instead of blocking its worker thread.
//!
//! Every function here works outside strings too (bead initialisers, host
//! threads, the child of a `fork` made by bead code, whose context has no
//! task: see [`crate::forked`]): there it falls back to blocking the OS
//! thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ctx::{current, suspend, Suspend};
use crate::sched::Scheduler;
use crate::task::{Mode, Task};

/// The task of the string running on this thread, if any.
pub fn current_task() -> Option<Arc<Task>> {
    let ctx = current()?;
    let t = ctx.task.get();
    if t.is_null() {
        return None;
    }
    // SAFETY: `t` points at the Arc'ed task that owns `ctx` and is running it
    // right now, so it is alive; we take a new strong reference.
    unsafe {
        Arc::increment_strong_count(t);
        Some(Arc::from_raw(t))
    }
}

/// Suspends the current string until something calls [`Task::wake`] on
/// it (the caller registered it as a waiter first). May return spuriously:
/// callers re-check their condition. Outside strings, returns at once.
pub fn park() {
    if let Some(task) = current_task() {
        if task.mode == Mode::Fiber && crate::hold::holds(&task.ctx) {
            task.park_here(None);
            return;
        }
        suspend(Suspend::Park);
    }
}

/// Lets other strings run (`sched_yield`).
pub fn yield_now() {
    match current_task() {
        Some(t) if !(t.mode == Mode::Fiber && crate::hold::holds(&t.ctx)) => {
            drop(t);
            suspend(Suspend::Yield)
        }
        _ => std::thread::yield_now(),
    }
}

/// Sleeps until `deadline`: a fiber string parks on a timer, anything else
/// blocks its thread.
pub fn sleep_until(deadline: Instant) {
    if Instant::now() < deadline {
        sleep_from_now(deadline);
    }
}

/// Sleeps for `d` (see [`sleep_until`]).
pub fn sleep_for(d: Duration) {
    if !d.is_zero() {
        sleep_from_now(Instant::now() + d);
    }
}

/// [`sleep_until`] for a deadline known to lie ahead: parks first, reads
/// the clock after each wake (thousands of strings sleeping briefly make
/// the clock reads a noticeable part of a wake).
fn sleep_from_now(deadline: Instant) {
    match current_task() {
        Some(task) if task.mode == Mode::Fiber && !crate::hold::holds(&task.ctx) => loop {
            if task
                .ctx
                .stop_requested
                .load(std::sync::atomic::Ordering::Acquire)
            {
                drop(task);
                crate::stop_point();
                return;
            }
            let Some(at) = Scheduler::add_timer_to(&task.sched, deadline, task.clone()) else {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return;
            };
            suspend(Suspend::Park);
            let stop = task
                .ctx
                .stop_requested
                .load(std::sync::atomic::Ordering::Acquire);
            // Woken by its timer (the usual case), the sleep is over; woken
            // otherwise, the clock says.
            let passed = task.timer_passed.load(std::sync::atomic::Ordering::Relaxed) >= at;
            if !stop && (passed || Instant::now() >= deadline) {
                return;
            }
        },
        _ => std::thread::sleep(deadline.saturating_duration_since(Instant::now())),
    }
}

/// Parks the current string until `deadline` unless something wakes it
/// first. Returns whether the deadline has passed. Outside strings, sleeps a
/// short while (callers poll their condition).
pub fn park_until(deadline: Instant) -> bool {
    match current_task() {
        Some(task) if task.mode == Mode::Fiber && crate::hold::holds(&task.ctx) => {
            // Its worker's timers do not run while it holds the worker.
            task.park_here(Some(deadline));
        }
        Some(task) => {
            // Timers wake thread-mode strings too (through their parker).
            if Scheduler::add_timer_to(&task.sched, deadline, task.clone()).is_some() {
                suspend(Suspend::Park);
            }
        }
        None => std::thread::sleep(
            Duration::from_micros(100).min(deadline.saturating_duration_since(Instant::now())),
        ),
    }
    Instant::now() >= deadline
}

/// How many signals sent to beads (not to one string) wait for a string to
/// take them: while non-zero, every safe point asks the signal hook.
pub static BEAD_SIGNALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What a safe point calls when the string may have a signal to take (the
/// interposition layer's delivery; 0: none).
static SIGNAL_HOOK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets the function safe points call to deliver pending signals.
pub fn set_signal_hook(hook: fn()) {
    SIGNAL_HOOK.store(hook as usize, std::sync::atomic::Ordering::Release);
}

/// A safe point: if a preemption tick arrived while the string ran where it
/// could not be switched, yield now. Interposed calls make this check on
/// entry from bead code, never inside the runtime's own work: there it may
/// hold locks, or be registered as a waiter (a wake that came while the
/// string sat in the run queue would be lost). Runtime sections are skipped.
#[inline]
pub fn preempt_point() {
    if crate::acting_bead() == 0 {
        return;
    }
    if let Some(ctx) = crate::current() {
        if ctx.sig_pending.load(std::sync::atomic::Ordering::Relaxed) != 0
            || BEAD_SIGNALS.load(std::sync::atomic::Ordering::Relaxed) != 0
        {
            let hook = SIGNAL_HOOK.load(std::sync::atomic::Ordering::Acquire);
            if hook != 0 {
                // SAFETY: only `set_signal_hook` stores here, a `fn()`.
                let hook: fn() = unsafe { std::mem::transmute::<usize, fn()>(hook) };
                hook();
            }
        }
        // A plain load first: the swap is a locked instruction, and this
        // runs on every interposed lock release.
        if ctx
            .preempt_pending
            .load(std::sync::atomic::Ordering::Relaxed)
            && ctx
                .preempt_pending
                .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            if tapestry_ending() {
                crate::stop_point();
            }
            yield_now();
        }
    }
}

/// Yields from a preemption tick at a safe program counter (called by the
/// runtime's preemption stub with the interrupted registers saved). A
/// string of a tapestry that is ending ends here instead.
pub fn preempted() {
    if current_task().is_some_and(|t| t.mode == Mode::Fiber && !crate::hold::holds(&t.ctx)) {
        if tapestry_ending() {
            crate::stop_point();
        }
        suspend(Suspend::Yield);
    }
}

/// Whether the running string's scheduler is ending every string
/// ([`Scheduler::end_all`]). Holds no reference when it returns.
fn tapestry_ending() -> bool {
    current_task()
        .and_then(|t| t.scheduler())
        .is_some_and(|s| s.ending())
}

/// Runs `f`, then a [`preempt_point`]: for interposed calls that must
/// finish (release a lock, say) before the string may be switched.
#[inline]
pub fn preempt_point_after<T>(f: impl FnOnce() -> T) -> T {
    let r = f();
    preempt_point();
    r
}
