//! Ending strings instead of the process, and exit handlers per bead.
//!
//! * `exit`, `_exit`, `_Exit` called by bead code (or by a system library
//!   for it, like libgfortran's `STOP`) end the *string* with that status.
//!   Called outside any string they end the process as usual.
//! * Handlers registered with `__cxa_atexit`/`atexit`/`on_exit` by a bead —
//!   C++ static destructors, `atexit` calls — belong to that bead and run
//!   when the bead is finalised (end of the tapestry, removal of the bead,
//!   `dlclose`), in reverse order of registration, exactly like a
//!   `dlclose`d library's. An `on_exit` handler is given the status its
//!   program's main string ended with.
//! * `__cxa_thread_atexit_impl` handlers (C++ `thread_local`, Rust std TLS
//!   destructors) belong to the string and run when it ends.
//! * In the child of a `fork` made by bead code, the string *is* the
//!   process: `exit` runs the program's handlers and ends the child process,
//!   `_exit` ends it at once (see `process::fork`).

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::forked::{exit_forked_child, in_forked_child};
use weaves_strings::{acting_bead, current, exit_current, RuntimeSection};

use crate::real::real;

/// (function, argument, registered by `on_exit`: it also takes the status).
type Handler = (usize, usize, bool);

/// Exit handlers per bead, latest last.
pub(crate) type Registry = Option<HashMap<OwnerId, Vec<Handler>>>;

static HANDLERS: Mutex<Registry> = Mutex::new(None);

/// The status each program (home bead) ended with, for `on_exit` handlers:
/// what its main string returned or passed to `exit`. 0 if not known.
static STATUS: Mutex<Option<HashMap<OwnerId, i32>>> = Mutex::new(None);

/// Records that program `owner` ended with `status` (its `on_exit`
/// handlers are given it).
pub fn set_exit_status(owner: OwnerId, status: i32) {
    let _rt = RuntimeSection::enter();
    STATUS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(owner, status);
}

/// `exit`: ends the current string, or the process outside strings.
///
/// # Safety
/// As for C's `exit`.
#[no_mangle]
pub unsafe extern "C" fn exit(status: i32) -> ! {
    if in_forked_child() {
        exit_forked_child(status);
    }
    exit_current(status);
    // SAFETY: not in a string: this is the process's own exit.
    unsafe { (real().exit)(status) }
}

pub(crate) unsafe extern "C" fn bead_exit_immediately(status: i32) -> ! {
    if !in_forked_child() {
        exit_current(status);
    }
    // SAFETY: not in a string (or in a forked child, which is a process of
    // its own): end the process without handlers, as `_exit`.
    unsafe { libc::_exit(status) }
}

fn bead_of(dso: usize) -> OwnerId {
    owner_of(dso).unwrap_or_else(acting_bead)
}

pub(crate) unsafe extern "C" fn cxa_atexit(func: usize, arg: usize, dso: usize) -> i32 {
    let owner = bead_of(dso);
    if owner == 0 {
        // SAFETY: not a bead's registration: forward unchanged.
        return unsafe { (real().cxa_atexit)(func, arg, dso) };
    }
    register(owner, (func, arg, false));
    0
}

fn register(owner: OwnerId, handler: Handler) {
    let _rt = RuntimeSection::enter();
    let mut h = HANDLERS.lock().unwrap_or_else(|e| e.into_inner());
    h.get_or_insert_with(HashMap::new)
        .entry(owner)
        .or_default()
        .push(handler);
}

extern "C" {
    #[link_name = "on_exit"]
    fn real_on_exit(func: usize, arg: usize) -> i32;
}

/// `int on_exit(void (*func)(int status, void *arg), void *arg)`: as
/// `atexit`, for the calling program; the handler is given the status its
/// main string ended with.
pub(crate) unsafe extern "C" fn on_exit(func: usize, arg: usize) -> i32 {
    let owner = acting_bead();
    if owner == 0 {
        // SAFETY: not a bead's registration: forward unchanged.
        return unsafe { real_on_exit(func, arg) };
    }
    register(owner, (func, arg, true));
    0
}

pub(crate) unsafe extern "C" fn atexit(func: usize) -> i32 {
    // SAFETY: same contract, with the calling bead as the owner.
    unsafe { cxa_atexit(func, 0, 0) }
}

pub(crate) unsafe extern "C" fn cxa_finalize(dso: usize) {
    match owner_of(dso) {
        Some(owner) => finalize_bead(owner),
        // SAFETY: not a bead: forward unchanged.
        None => unsafe { (real().cxa_finalize)(dso) },
    }
}

pub(crate) unsafe extern "C" fn cxa_thread_atexit_impl(func: usize, obj: usize, dso: usize) -> i32 {
    match current() {
        Some(ctx) if owner_of(dso).is_some() || dso == 0 => {
            let _rt = RuntimeSection::enter();
            ctx.on_thread_exit(func, obj);
            0
        }
        // SAFETY: not a bead's registration: forward unchanged.
        _ => unsafe { (real().cxa_thread_atexit_impl)(func, obj, dso) },
    }
}

/// Holds the registry of exit handlers (across a `fork`, so that the child
/// can run its program's handlers whatever other threads were doing).
pub(crate) fn hold_handlers() -> std::sync::MutexGuard<'static, Registry> {
    HANDLERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the exit handlers bead `owner` registered, latest first (including
/// any registered while they run).
pub fn finalize_bead(owner: OwnerId) {
    loop {
        let next = {
            let _rt = RuntimeSection::enter();
            let mut h = HANDLERS.lock().unwrap_or_else(|e| e.into_inner());
            h.as_mut()
                .and_then(|m| m.get_mut(&owner))
                .and_then(Vec::pop)
        };
        let Some((func, arg, with_status)) = next else {
            break;
        };
        if with_status {
            let status = {
                let _rt = RuntimeSection::enter();
                STATUS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .and_then(|m| m.get(&owner).copied())
                    .unwrap_or(0)
            };
            // SAFETY: registered by `on_exit` as `void (*)(int, void *)`
            // with `arg`; the bead is still mapped.
            let f: extern "C" fn(i32, usize) = unsafe { std::mem::transmute(func) };
            f(status, arg);
            continue;
        }
        // SAFETY: registered by the bead as `void (*)(void *)` with `arg`;
        // the bead is still mapped (finalisation precedes unmapping).
        let f: extern "C" fn(usize) = unsafe { std::mem::transmute(func) };
        f(arg);
    }
}

/// Drops whatever bead `owner` still had registered (after finalisation):
/// exit handlers, fork handlers, getopt and random state, record locks,
/// and its own fault handlers.
pub fn forget_bead(owner: OwnerId) {
    crate::process::forget_bead(owner);
    crate::getopt::forget_bead(owner);
    crate::random::forget_bead(owner);
    crate::statics::forget_bead(owner);
    crate::accounts::forget_bead(owner);
    crate::locale::forget_bead(owner);
    crate::locks::forget_bead(owner);
    let _rt = RuntimeSection::enter();
    if let Some(m) = HANDLERS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
    if let Some(m) = STATUS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
    crate::fault::forget(owner);
}
