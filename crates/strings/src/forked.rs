//! The child of a `fork` that bead code made.
//!
//! POSIX `fork` copies the calling thread only. In a tapestry that thread
//! is a worker driving one string's fiber, so the child process holds
//! exactly the calling string, on its own fiber stack, and nothing that
//! could run another: the other workers, the timer and reactor threads did
//! not survive the fork. The child must therefore behave like an ordinary
//! single-threaded program:
//!
//! * nothing parks: [`become_forked_child`] detaches the string's context
//!   from its task and its fiber's yielder, so every blocking path
//!   ([`crate::blocking`], the I/O reactor, lock waits) finds no task and
//!   blocks the one OS thread, as it does outside strings;
//! * the string's end is the process's end: `exit`, `_exit`, the entry
//!   returning (`main`'s value, or 0 for a thread's start routine, as when
//!   the last thread of a process returns) and a bead initialiser returning
//!   all reach the exit function the interposition layer registered.
//!
//! One process-wide flag says "this process is such a child"; it is read
//! with a relaxed load on the paths that must know (a few nanoseconds) and
//! written once, by the child, right after `fork` returned 0 in it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::ctx::current;
use crate::task::Entry;

/// Whether this process is the child of a `fork` made by bead code.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// The child's exit function (`fn(i32) -> !`), set with the flag.
static CHILD_EXIT: AtomicUsize = AtomicUsize::new(0);
/// Whether the forking string ran a thread's start routine (its return ends
/// the process with status 0) rather than `main`.
static THREAD_ENTRY: AtomicBool = AtomicBool::new(false);

/// Ends the forked child's process with `status`: runs what the calling
/// program would run at exit, then `_exit`s.
pub type ChildExit = fn(i32) -> !;

/// Whether this process is the child of a `fork` made by bead code (where
/// every interposed call behaves as the C library's).
#[inline]
pub fn in_forked_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// Makes this process a forked child. Call in the child, on the forking
/// string's fiber, right after `fork` returned 0 and before anything can
/// block; `exit` is what ends the child's process.
pub fn become_forked_child(exit: ChildExit) {
    CHILD_EXIT.store(exit as usize, Ordering::Relaxed);
    IN_CHILD.store(true, Ordering::Relaxed);
    let Some(ctx) = current() else { return };
    let task = ctx.task.get();
    if !task.is_null() {
        // SAFETY: a non-null `task` is the live task running this context;
        // in the child it is only ever read here.
        let entry = unsafe { &*task }.launched().0;
        THREAD_ENTRY.store(matches!(entry, Entry::Thread { .. }), Ordering::Relaxed);
    }
    // The child's copies only: the parent's context is another process's
    // memory now. With no task and no yielder, nothing parks or suspends.
    ctx.task.set(std::ptr::null());
    ctx.yielder.set(std::ptr::null());
}

/// Ends the forked child's process with `status` (see [`ChildExit`]).
pub fn exit_forked_child(status: i32) -> ! {
    let f = CHILD_EXIT.load(Ordering::Relaxed);
    if f == 0 {
        // SAFETY: ending the process without running anything else.
        unsafe { libc::_exit(status) }
    }
    // SAFETY: CHILD_EXIT holds only values stored from a `ChildExit`.
    let f: ChildExit = unsafe { std::mem::transmute::<usize, ChildExit>(f) };
    f(status)
}

/// A string's entry returned `value` in a forked child: the process ends,
/// as a program's does when `main` returns (a thread's start routine
/// returning ends it with 0, as the last thread of a process does).
pub(crate) fn entry_returned(value: i64) -> ! {
    let status = if THREAD_ENTRY.load(Ordering::Relaxed) {
        0
    } else {
        value as i32
    };
    exit_forked_child(status)
}
