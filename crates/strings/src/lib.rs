//! # Strings: flows of control through a weave
//!
//! A string runs an entry point of a bead (`int f(int argc, char **argv)`)
//! on a **fiber**: a stack of its own inside the arena, switched to and from
//! in user space (the `corosensei` crate does the switch; we provide the
//! stack). The thread that resumes a fiber is its *driver*. In this version
//! every string has a driver OS thread of its own ([`spawn`]); the fiber is
//! what makes the string independent of that thread, so that an M:N
//! scheduler can later drive many strings from a few workers without
//! changing anything a string sees.
//!
//! While a fiber runs, the thread-local [current context](current) points at
//! its [`ExecCtx`]: everything that is per string rather than per bead —
//! thread-local variables of bead code ([`tls`]), the environment, handlers
//! registered with `__cxa_thread_atexit_impl`, and how to end the string when
//! bead code calls `exit` ([`exit_current`]).
//!
//! The same machinery runs bead initialisers ([`run_on_fiber`]), so `exit`
//! or thread-local access inside a C++ constructor behaves as in a string.

mod ctx;
mod fiber;
pub mod tls;

pub use ctx::{acting_bead, current, exit_current, ExecCtx, RuntimeSection, StringInfo};
pub use fiber::{run_on_fiber, spawn, FiberStack, Launch, Outcome, DEFAULT_STACK};

extern "C" {
    static environ: *const *const libc::c_char;
}

/// The process's `environ` array.
pub fn process_environ() -> *const *const libc::c_char {
    // SAFETY: reading the C library's `environ` pointer; nothing here
    // changes it concurrently (the runtime never calls setenv on strings'
    // behalf).
    unsafe { environ }
}
