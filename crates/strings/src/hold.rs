//! Fibers that keep their worker thread for a while.
//!
//! A system library may keep state per OS thread that must not change
//! hands while it is in use: libgomp's master thread inside a parallel
//! region takes process-wide locks (an unnamed `critical`) and waits with
//! futex calls made inline, which no interposer reaches. Were such a fiber
//! switched out holding one of those locks, another string on its worker
//! could wait for the lock inline, blocking the worker — and with it the
//! holder — for good.
//!
//! The interposition layer says when a fiber is in that state (the hook
//! set by [`set_hold_hook`]). While it is, the fiber behaves as a
//! thread-mode string does: its waits block the worker thread instead of
//! parking (`Task::park_here`), and preemption ticks and stop requests
//! wait until it is out of it (a thread-mode string's stop requests too).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ctx::{current, ExecCtx};
use crate::task::Mode;

/// `fn(&ExecCtx) -> bool`, or 0 for none.
static HOLD_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Installs `hook`: whether the running string (its context) must keep
/// its thread now. Called on the string's own thread, before a
/// switch that it could prevent; it must not park.
pub fn set_hold_hook(hook: fn(&ExecCtx) -> bool) {
    HOLD_HOOK.store(hook as usize, Ordering::Release);
}

/// Whether the fiber running `ctx` must keep its worker thread now.
pub(crate) fn holds(ctx: &ExecCtx) -> bool {
    let h = HOLD_HOOK.load(Ordering::Acquire);
    if h == 0 {
        return false;
    }
    // SAFETY: only `set_hold_hook` stores here, a `fn(&ExecCtx) -> bool`.
    let hook: fn(&ExecCtx) -> bool = unsafe { std::mem::transmute::<usize, _>(h) };
    hook(ctx)
}

/// Whether the running string waits by parking its fiber: a fiber string
/// that does not hold its worker. Thread-mode strings, held fibers and
/// code outside strings block their OS thread instead.
pub fn parks_fiber() -> bool {
    match crate::blocking::current_task() {
        Some(t) if t.mode == Mode::Fiber => !holds(&t.ctx),
        _ => false,
    }
}

/// Whether the running string (a fiber or a thread-mode string) is in
/// such a state now: it stops only once out of it.
pub(crate) fn held_here() -> bool {
    HOLD_HOOK.load(Ordering::Relaxed) != 0 && current().is_some_and(holds)
}
