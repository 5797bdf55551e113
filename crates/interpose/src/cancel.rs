//! `pthread_cancel` for strings: deferred cancellation.
//!
//! A cancellation request marks the target string and wakes it if it
//! waits. The string acts on it at its next cancellation point — the
//! sleeps, `pthread_cond_wait`/`timedwait`, `pthread_join`, `sem_wait`,
//! `read`/`write`, `accept`, `connect`, `recv`/`send` and their `from`/`to`
//! forms, `poll`, `ppoll`, `select`, `pselect`, the `epoll_wait` family,
//! the other calls of [`point`]'s callers, and `pthread_testcancel` —
//! unless it disabled cancellation
//! (`pthread_setcancelstate`): it then runs its cleanup handlers and ends,
//! and its joiner gets `PTHREAD_CANCELED`, as natively.
//!
//! Asynchronous cancellation (`PTHREAD_CANCEL_ASYNCHRONOUS`) is accepted
//! and taken as deferred: the string ends at its next cancellation point
//! (or at once, if it asks for asynchronous cancellation with a request
//! already pending), never in the middle of its own code.
//!
//! Outside strings the C library's functions run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use weaves_strings::blocking::park_until;
use weaves_strings::{current, RuntimeSection};

/// glibc's `PTHREAD_CANCELED`: `(void *) -1`.
const CANCELED: u64 = u64::MAX;
/// glibc's values (`<pthread.h>`).
const ENABLE: i32 = 0;
const DISABLE: i32 = 1;
const DEFERRED: i32 = 0;
const ASYNCHRONOUS: i32 = 1;

extern "C" {
    fn pthread_cancel(thread: libc::pthread_t) -> i32;
    fn pthread_setcancelstate(state: i32, old: *mut i32) -> i32;
    fn pthread_setcanceltype(kind: i32, old: *mut i32) -> i32;
}

#[derive(Clone, Copy)]
struct State {
    enabled: bool,
    asynchronous: bool,
    pending: bool,
}

impl Default for State {
    fn default() -> State {
        State {
            enabled: true,
            asynchronous: false,
            pending: false,
        }
    }
}

/// Per string id; only strings that changed something have an entry.
static STATES: Mutex<Option<HashMap<u32, State>>> = Mutex::new(None);

/// Set when a bead is bound to `pthread_cancel` (before it can run, so
/// before any string sleeps where a request must wake it): until then,
/// cancellation points cost one load and sleeps take the scheduler's
/// quickest path.
static IN_USE: AtomicBool = AtomicBool::new(false);

fn with<R>(id: u32, f: impl FnOnce(&mut State) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let mut g = STATES.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new).entry(id).or_default())
}

/// Forgets what string `id` set (it ended).
pub(crate) fn forget(id: u32) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = STATES.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&id);
    }
}

fn string_id() -> Option<u32> {
    if weaves_strings::forked::in_forked_child() {
        return None;
    }
    current().map(|c| c.info.id)
}

/// Whether the running string must act on a cancellation request now.
pub(crate) fn requested() -> bool {
    if !IN_USE.load(Ordering::Acquire) {
        return false;
    }
    string_id().is_some_and(|id| with(id, |s| s.enabled && s.pending))
}

/// A cancellation point: a string with a request it must act on runs its
/// cleanup handlers and ends here. Callers hold nothing that needs
/// dropping (the string's stack is abandoned).
pub(crate) fn point() {
    if requested() {
        if let Some(id) = string_id() {
            with(id, |s| s.pending = false);
        }
        crate::cleanup::exit(CANCELED);
    }
}

/// Sleeps until `deadline` waking early for a cancellation request
/// (`Some(true)`), if cancellation is in use; `None` otherwise.
pub(crate) fn sleep_until(deadline: Instant) -> Option<bool> {
    if !IN_USE.load(Ordering::Acquire) || string_id().is_none() {
        return None;
    }
    loop {
        if requested() {
            return Some(true);
        }
        if park_until(deadline) {
            return Some(requested());
        }
        // Woken early: a request to end the string goes first.
        weaves_strings::stop_point();
    }
}

unsafe extern "C" fn cancel(thread: u64) -> i32 {
    let Some(task) = crate::pthread::task_of(thread) else {
        if string_id().is_none() {
            // SAFETY: a C library thread, cancelled by a non-string.
            return unsafe { pthread_cancel(thread as libc::pthread_t) };
        }
        return libc::ESRCH;
    };
    let id = task.ctx.info.id;
    let now = with(id, |s| {
        s.pending = true;
        s.enabled && s.asynchronous
    });
    if now && string_id() == Some(id) {
        drop(task);
        point();
        return 0;
    }
    // A waiting target wakes and finds the request at its wait's end.
    task.wake();
    0
}

unsafe extern "C" fn set_state(state: i32, old: *mut i32) -> i32 {
    let Some(id) = string_id() else {
        // SAFETY: the caller's arguments.
        return unsafe { pthread_setcancelstate(state, old) };
    };
    if state != ENABLE && state != DISABLE {
        return libc::EINVAL;
    }
    let (was, now) = with(id, |s| {
        let was = s.enabled;
        s.enabled = state == ENABLE;
        (was, s.enabled && s.asynchronous && s.pending)
    });
    if !old.is_null() {
        // SAFETY: the caller's int.
        unsafe { *old = if was { ENABLE } else { DISABLE } };
    }
    if now {
        point();
    }
    0
}

unsafe extern "C" fn set_type(kind: i32, old: *mut i32) -> i32 {
    let Some(id) = string_id() else {
        // SAFETY: the caller's arguments.
        return unsafe { pthread_setcanceltype(kind, old) };
    };
    if kind != DEFERRED && kind != ASYNCHRONOUS {
        return libc::EINVAL;
    }
    let (was, now) = with(id, |s| {
        let was = s.asynchronous;
        s.asynchronous = kind == ASYNCHRONOUS;
        (was, s.enabled && s.asynchronous && s.pending)
    });
    if !old.is_null() {
        // SAFETY: the caller's int.
        unsafe { *old = if was { ASYNCHRONOUS } else { DEFERRED } };
    }
    if now {
        point();
    }
    0
}

extern "C" fn test_cancel() {
    point();
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_cancel" => {
            IN_USE.store(true, Ordering::Release);
            cancel as *const () as usize
        }
        "pthread_setcancelstate" => set_state as *const () as usize,
        "pthread_setcanceltype" => set_type as *const () as usize,
        "pthread_testcancel" => test_cancel as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
