//! Thread calls that system libraries make for beads.
//!
//! libstdc++ starts `std::thread`s and waits on condition variables,
//! futures and `call_once` itself. Those calls go through the library's
//! own import slots, which the system loader bound to the C library, so
//! they escaped the scheduler: a `pthread_create` from libstdc++ in a
//! string made an OS thread the runtime knew nothing of.
//!
//! The tapestry points those slots (of the system libraries it opens for
//! its beads, never of the C library or of any library the runtime itself
//! loaded) at [`for_system_library`]'s answers: the same interposers bead
//! code is bound to, which act for the *calling string* (its home bead,
//! its weave). A thread such a library starts is a string of the caller's
//! weave; its waits park.
//!
//! Threads that are not strings (the runtime's own, a bead initialiser on
//! the main thread) may call into a patched library too: thread creation,
//! joining and detaching then fall through to the C library, and the
//! synchronisation interposers work outside strings by polling.
//!
//! Not supported yet: libgomp (OpenMP) is left as it is, so its team
//! threads stay OS threads outside the scheduler (the program runs as
//! natively, but its threads are not strings). Its barriers, locks and
//! thread dock wait with futex system calls made inline (`syscall` with
//! `eax = 202`), which no import slot reaches; its thread pool outlives
//! `main` (libgomp frees it from a key destructor that runs when the
//! master's OS thread ends, here the worker, after the tapestry waited for
//! every string); and the master's libgomp state is the worker thread's,
//! shared by every program's master on that worker. docs/architecture.md
//! has the options weighed.

use weaves_strings::blocking::current_task;

use crate::pthread;

/// Calls the tapestry retargets in system libraries: thread life cycle,
/// locks, condition variables, once, thread-specific data, thread-exit
/// destructors (`__cxa_thread_atexit_impl`, for C++ `thread_local`), sleeps and
/// `syscall` (for futexes).
const THREAD_CALLS: &[&str] = &[
    "pthread_create",
    "pthread_join",
    "pthread_detach",
    "pthread_exit",
    "pthread_self",
    "pthread_getattr_np",
    "__cxa_thread_atexit_impl",
    "pthread_once",
    "pthread_key_create",
    "pthread_key_delete",
    "pthread_getspecific",
    "pthread_setspecific",
    "pthread_mutex_init",
    "pthread_mutex_destroy",
    "pthread_mutex_lock",
    "pthread_mutex_trylock",
    "pthread_mutex_timedlock",
    "pthread_mutex_unlock",
    "pthread_cond_init",
    "pthread_cond_destroy",
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "pthread_cond_signal",
    "pthread_cond_broadcast",
    "pthread_rwlock_init",
    "pthread_rwlock_destroy",
    "pthread_rwlock_rdlock",
    "pthread_rwlock_wrlock",
    "pthread_rwlock_tryrdlock",
    "pthread_rwlock_trywrlock",
    "pthread_rwlock_unlock",
    "pthread_barrier_init",
    "pthread_barrier_wait",
    "pthread_barrier_destroy",
    "sem_init",
    "sem_destroy",
    "sem_wait",
    "sem_trywait",
    "sem_timedwait",
    "sem_post",
    "sem_getvalue",
    "sched_yield",
    "nanosleep",
    "usleep",
    "sleep",
    "clock_nanosleep",
    "syscall",
];

/// Libraries left alone (matched against the start of the file name):
/// see the module docs.
const LEFT_ALONE: &[&str] = &["libgomp.so"];

/// What the system library `library` (its file name) should call for its
/// import `name`, if the runtime takes that call over.
pub fn for_system_library(library: &str, name: &str) -> Option<u64> {
    if !THREAD_CALLS.contains(&name) || LEFT_ALONE.iter().any(|l| library.starts_with(l)) {
        return None;
    }
    let f = match name {
        "pthread_create" => create as *const () as usize,
        "pthread_join" => join as *const () as usize,
        "pthread_detach" => detach as *const () as usize,
        _ => return crate::table::lookup(name),
    };
    Some(f as u64)
}

/// Whether the runtime made `thread` (a pthread id a string was handed).
fn ours(thread: u64) -> bool {
    current_task().is_some() || pthread::task_of(thread).is_some()
}

fn in_string() -> bool {
    current_task().is_some() && !weaves_strings::forked::in_forked_child()
}

unsafe extern "C" fn create(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
) -> i32 {
    if !in_string() {
        // SAFETY: the caller's arguments, for the C library's own.
        return unsafe { real_create(out, attr, start, arg) };
    }
    // SAFETY: the caller's arguments, as pthread_create takes them.
    unsafe { pthread::create_in(out, attr, start, arg, None) }
}

/// # Safety
/// As `pthread_create`.
unsafe fn real_create(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
) -> i32 {
    // SAFETY: `start` is a `void *(*)(void *)` by the caller's contract.
    let start = unsafe {
        std::mem::transmute::<usize, extern "C" fn(*mut libc::c_void) -> *mut libc::c_void>(start)
    };
    // SAFETY: the caller's arguments.
    unsafe { libc::pthread_create(out.cast(), attr, start, arg as *mut libc::c_void) }
}

unsafe extern "C" fn join(thread: u64, result: *mut u64) -> i32 {
    if ours(thread) {
        // SAFETY: the caller's arguments.
        return unsafe { pthread::join(thread, result) };
    }
    // SAFETY: a thread the C library made, joined by a thread that is not
    // a string.
    unsafe { libc::pthread_join(thread as libc::pthread_t, result.cast()) }
}

unsafe extern "C" fn detach(thread: u64) -> i32 {
    if ours(thread) {
        // SAFETY: the caller's argument.
        return unsafe { pthread::detach(thread) };
    }
    // SAFETY: as in `join`.
    unsafe { libc::pthread_detach(thread as libc::pthread_t) }
}
