//! `pthread_atfork` for bead code.
//!
//! A program's fork handlers are the process's, as natively: a `fork` made
//! by any bead runs the handlers every bead registered (prepare handlers
//! latest first, parent and child handlers in registration order). Two
//! things differ from handing them to the C library:
//!
//! * **Lifetime.** `pthread_atfork` is linked into each program
//!   (`libc_nonshared.a`) and registers with the program's `__dso_handle`;
//!   the C library forgets them only in its own `__cxa_finalize`, which
//!   beads do not reach. A removed bead's handlers would then be called at
//!   the next fork, in unmapped code. Here they are the bead's, and go
//!   with it.
//! * **Order with the runtime's own handlers.** They run around the C
//!   library's `fork` (see `fork`): prepare handlers before the runtime
//!   takes its locks, parent and child handlers after it released them —
//!   in the child, once the child is an ordinary process, so a child
//!   handler that locks a mutex or sleeps blocks instead of parking in a
//!   scheduler that did not survive the fork.
//!
//! Forks the runtime makes itself run none of them.

use std::sync::Mutex;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::{acting_bead, RuntimeSection};

type Hook = Option<extern "C" fn()>;

/// One registration.
#[derive(Clone, Copy)]
pub(super) struct Handlers {
    owner: OwnerId,
    prepare: Hook,
    parent: Hook,
    child: Hook,
}

static REGISTERED: Mutex<Vec<Handlers>> = Mutex::new(Vec::new());

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "__register_atfork" => register_atfork as *const () as usize,
        "pthread_atfork" => pthread_atfork as *const () as usize,
        _ => return None,
    };
    Some(f)
}

/// `__register_atfork(prepare, parent, child, dso)`: what the
/// `pthread_atfork` linked into a program calls.
extern "C" fn register_atfork(prepare: Hook, parent: Hook, child: Hook, dso: usize) -> i32 {
    let owner = owner_of(dso).unwrap_or_else(acting_bead);
    let _rt = RuntimeSection::enter();
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Handlers {
            owner,
            prepare,
            parent,
            child,
        });
    0
}

/// `pthread_atfork` itself (imported by programs built against a C library
/// that exported it): the calling string's home bead registers.
extern "C" fn pthread_atfork(prepare: Hook, parent: Hook, child: Hook) -> i32 {
    register_atfork(prepare, parent, child, 0)
}

/// Forgets what bead `owner` registered (the bead is going).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|h| h.owner != owner);
}

/// Every registration, in order: taken before the fork, so that the parent
/// and child handlers need no lock another thread might hold.
pub(super) fn snapshot() -> Vec<Handlers> {
    let _rt = RuntimeSection::enter();
    REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Runs the prepare handlers, latest registration first.
pub(super) fn prepare(all: &[Handlers]) {
    for f in all.iter().rev().filter_map(|h| h.prepare) {
        f();
    }
}

/// Runs the parent handlers, in registration order.
pub(super) fn parent(all: &[Handlers]) {
    for f in all.iter().filter_map(|h| h.parent) {
        f();
    }
}

/// Runs the child handlers, in registration order.
pub(super) fn child(all: &[Handlers]) {
    for f in all.iter().filter_map(|h| h.child) {
        f();
    }
}
