//! # Strings: flows of control through a weave
//!
//! A string runs an entry point of a bead (`int f(int argc, char **argv)`)
//! on a **fiber**: a stack of its own inside the arena, switched to and from
//! in user space (the `corosensei` crate does the switch; we provide the
//! stack). The [`Scheduler`] runs fibers M:N on a few worker threads; a
//! string that asks for it ([`Mode::Thread`]) gets a dedicated OS thread as
//! its driver instead, for code that blocks in ways the runtime cannot
//! interpose.
//!
//! While a fiber runs, the thread-local [current context](current) points at
//! its [`ExecCtx`]: everything that is per string rather than per bead —
//! thread-local variables of bead code ([`tls`]), `errno`, the environment,
//! handlers registered with `__cxa_thread_atexit_impl`, and how to end the
//! string when bead code calls `exit` ([`exit_current`]). All of it belongs
//! to the string; still, a started string stays on its worker, because
//! compiled code may keep the address of a thread-local of the worker's
//! own (glibc's `errno`) across a call that parks (see [`Scheduler`]).
//!
//! Blocking calls made by bead code ([`blocking`]) park the fiber — on a
//! timer, a lock's wait list, the I/O reactor — and the worker runs another.
//!
//! Bead initialisers and finalisers run on fibers too ([`run_on_fiber`]),
//! unscheduled, so `exit` or thread-local access inside a C++ constructor
//! behaves as in a string.
//!
//! A `fork` made by bead code leaves a child process holding the calling
//! string alone and no scheduler; [`forked`] makes that child behave as an
//! ordinary single-threaded program.

pub mod blocking;
mod cputime;
mod ctx;
mod fiber;
pub mod forked;
mod gs;
pub mod hold;
pub mod mediation;
mod prefetch;
pub mod quiesce;
pub mod reactor;
pub mod resume;
mod sched;
mod task;
mod timers;
pub mod tls;
pub mod watchdog;

pub use ctx::{
    acting_bead, current, exit_current, exit_current_with, set_switch_hook, stop_point, ExecCtx,
    RuntimeSection, StringInfo, Suspend,
};
pub use fiber::{run_on_fiber, FiberStack, Outcome, DEFAULT_STACK, STACK_GUARD};
pub use sched::{others_ready, Scheduler};
pub use task::{Entry, Launch, Mode, Task};

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
