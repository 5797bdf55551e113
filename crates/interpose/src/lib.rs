//! # Interposition: what beads call instead of the C library
//!
//! Some functions cannot keep their C library meaning inside a tapestry:
//! `malloc` must allocate from the calling bead's heap inside the arena,
//! `exit` must end the string rather than the process, `__tls_get_addr` must
//! find the string's copy of a bead's thread-local variables, `getenv` must
//! read the string's own environment.
//!
//! ## Two paths, one set of functions
//!
//! 1. **Direct**: a bead's own undefined references are bound by the binder,
//!    which consults [`lookup`] after the weave's beads and before the system
//!    libraries.
//! 2. **On a bead's behalf**: system libraries call `malloc` for the bead
//!    (libstdc++'s `operator new`, glibc's `fopen`/`strdup`), `exit` (a
//!    Fortran `STOP` in libgfortran), `dl_iterate_phdr` (the unwinder, to find
//!    a bead's `.eh_frame` when a C++ exception crosses bead code). Binding
//!    the bead's imports misses those, so the `weaves` executable itself
//!    *defines* these symbols ([`GLOBAL_EXPORTS`], exported by the binary's
//!    link arguments): the system loader then binds every library to them.
//!    Each one dispatches on who is calling — a bead's code (its return
//!    address lies in the arena), a string (the thread's current context) or
//!    the runtime/host (passed through to the C library).
//!
//! We chose exporting from the executable over loading a private copy of
//! libc/libstdc++/libgfortran per weave: one copy of each system library
//! keeps their global state (stdio buffers, Fortran unit tables, locale)
//! coherent across beads that share a terminal, costs no memory per bead, and
//! keeps bead instantiation in microseconds.
//!
//! ## Process-wide calls
//!
//! `fork`, `exec`, `wait`, `system`, `popen`, `setrlimit` and closing
//! descriptors 0–2 would act on every string at once; `process` gives each
//! a meaning for bead code (docs/process-semantics.md).
//!
//! ## Signals
//!
//! Synchronous faults go through `fault`; every other signal a bead
//! handles, sends itself, times or masks is kept by `signals`, per bead
//! (dispositions, timers) and per string (mask, pending set), and delivered
//! at safe points — never through the kernel.
//!
//! ## Which heap?
//!
//! The malloc shims pass their own return address along: if it lies in a
//! bead's text (arena), the memory comes from that bead's heap; otherwise
//! (a system library acting for someone) from the heap of the running
//! string's home bead; outside strings, from the C library. `free` and
//! `realloc` route by the address being freed.

/// Assembly: saves the whole extended (x87/SSE/AVX/AVX-512…) state on the
/// stack, for stubs that must preserve every register across Rust code.
/// Aligns `rsp` down to 64, makes room for `{size}` bytes (a `sym` operand
/// naming `tls::XSAVE_BYTES`), zeroes the XSAVE header (`xsave` writes only
/// XSTATE_BV, and `xrstor` faults on a dirty header) and saves with all
/// components requested. Clobbers rax and rdx. The caller saves rsp first
/// (in rbp) to restore it after [`xstate_restore!`].
macro_rules! xstate_save {
    () => {
        concat!(
            "sub rsp, qword ptr [rip + {size}]\n",
            "and rsp, -64\n",
            "xor eax, eax\n",
            "mov qword ptr [rsp + 512], rax\n",
            "mov qword ptr [rsp + 520], rax\n",
            "mov qword ptr [rsp + 528], rax\n",
            "mov qword ptr [rsp + 536], rax\n",
            "mov qword ptr [rsp + 544], rax\n",
            "mov qword ptr [rsp + 552], rax\n",
            "mov qword ptr [rsp + 560], rax\n",
            "mov qword ptr [rsp + 568], rax\n",
            "mov eax, -1\n",
            "mov edx, -1\n",
            "xsave64 [rsp]\n",
        )
    };
}

/// Assembly: restores what [`xstate_save!`] saved (rsp must be where it
/// left it). Clobbers rax and rdx.
macro_rules! xstate_restore {
    () => {
        concat!("mov eax, -1\n", "mov edx, -1\n", "xrstor64 [rsp]\n")
    };
}

mod accounts;
mod alloc;
mod api;
mod cancel;
pub mod checkpoint;
mod cleanup;
mod diagnostics;
pub mod dl;
pub mod dsm_hooks;
mod events;
mod exit;
mod fault;
mod fortran;
mod futex;
mod getopt;
mod gomp;
mod io;
pub mod labels;
mod lazy;
mod locale;
mod locks;
pub mod messages;
mod once;
mod phdr;
pub mod preempt;
mod process;
mod progname;
mod pthread;
mod random;
mod real;
mod runtime_alloc;
mod rwsem;
mod schedparam;
mod shared_barrier;
mod signals;
mod sleep;
mod spinlock;
mod statics;
mod symbolize;
mod syslib;
mod table;
mod thread_attr;
mod tls;
mod tsd;

pub use api::{set_spawn_hook, SpawnRequest};
pub use dl::{set_dlclose_hook, set_dlopen_hook, OpenRequest};
pub use exit::{finalize_bead, forget_bead, set_exit_status};
pub use fault::take_fault_report;
pub use getopt::register_copied_variable;
pub use lazy::stubs_for as lazy_stubs_for;
pub use phdr::{mark_bead_shared, register_bead, rename_bead, unregister_bead, BeadRecord};
pub use process::standard_output_lost;
pub use progname::set_program_name;
pub use real::init;
pub use runtime_alloc::RuntimeAllocator;
pub use syslib::for_system_library;
pub use table::{link_exports, lookup, GLOBAL_EXPORTS};
pub use tls::{host_static_tls_offset, host_tls, tls_resolvers};
