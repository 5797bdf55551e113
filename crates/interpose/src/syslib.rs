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
//! libgomp (OpenMP) waits with futex system calls made inline, which no
//! import slot reaches, so its threads cannot be fibers that park. The rule
//! is the calling module's: a `pthread_create` from a library whose waits
//! are raw futexes (listed in [`OWN_THREADS`]) starts a **thread-mode
//! string** — a string of the caller's weave, listed and counted as any,
//! with an OS thread of its own that those waits block, as natively. The
//! module is known from the import slot the call went through, so the
//! rule costs nothing per call. What else libgomp needs (its per-thread
//! state carried by fiber strings, a master holding its worker inside a
//! parallel region, its thread pool ending with the string) is in
//! [`crate::gomp`].

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

/// Libraries whose waits are futex system calls of their own (matched
/// against the start of the file name): the threads they start are
/// thread-mode strings (see the module docs).
const OWN_THREADS: &[&str] = &["libgomp.so"];

/// Calls taken over in [`OWN_THREADS`] libraries besides [`THREAD_CALLS`]:
/// they name a thread by a pthread id, which there is a string's.
const AFFINITY_CALLS: &[&str] = &["pthread_getaffinity_np", "pthread_setaffinity_np"];

/// What the system library `library` (its file name) should call for its
/// import `name`, if the runtime takes that call over.
pub fn for_system_library(library: &str, name: &str) -> Option<u64> {
    let own_threads = OWN_THREADS.iter().any(|l| library.starts_with(l));
    if !(THREAD_CALLS.contains(&name) || own_threads && AFFINITY_CALLS.contains(&name)) {
        return None;
    }
    if own_threads && !crate::gomp::take_over(library) {
        // A libgomp the runtime cannot carry per string: left as it is.
        return None;
    }
    let f = match name {
        "pthread_create" if own_threads => create_own_thread as *const () as usize,
        "pthread_getaffinity_np" => get_affinity as *const () as usize,
        "pthread_setaffinity_np" => set_affinity as *const () as usize,
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
    unsafe { pthread::create_in(out, attr, start, arg, None, true) }
}

/// `pthread_create` for a library whose waits are its own futex calls: a
/// thread-mode string. libgomp never joins a thread by the id it was handed
/// (it computes ids from its thread-locals' addresses, which name no string
/// here, and its threads end on their own), so the id is not kept.
unsafe extern "C" fn create_own_thread(
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
    unsafe {
        pthread::create_in(
            out,
            attr,
            start,
            arg,
            Some(weaves_strings::Mode::Thread),
            false,
        )
    }
}

/// `pthread_getaffinity_np`: for the caller itself (a string's id), the
/// CPUs its OS thread may run on; another string's id names no OS thread
/// the C library knows.
unsafe extern "C" fn get_affinity(thread: u64, size: usize, set: *mut libc::cpu_set_t) -> i32 {
    // SAFETY: the caller's arguments; the thread is the caller's own OS
    // thread, or one the C library made (outside strings).
    unsafe {
        match own_thread(thread) {
            Some(t) => libc::pthread_getaffinity_np(t, size, set),
            None => libc::ESRCH,
        }
    }
}

/// `pthread_setaffinity_np`: binds a thread-mode string's own OS thread, as
/// natively; a fiber string's worker runs other strings too, so binding it
/// is accepted and not done (libgomp binds the master with `OMP_PROC_BIND`).
unsafe extern "C" fn set_affinity(thread: u64, size: usize, set: *const libc::cpu_set_t) -> i32 {
    if in_string() && current_task().is_some_and(|t| t.mode == weaves_strings::Mode::Fiber) {
        return if thread == pthread::self_() {
            0
        } else {
            libc::ESRCH
        };
    }
    // SAFETY: as in `get_affinity`.
    unsafe {
        match own_thread(thread) {
            Some(t) => libc::pthread_setaffinity_np(t, size, set),
            None => libc::ESRCH,
        }
    }
}

/// The C library's id of the OS thread `thread` names: the caller's own
/// when `thread` is the caller's id; outside strings, `thread` itself.
fn own_thread(thread: u64) -> Option<libc::pthread_t> {
    if !in_string() {
        return Some(thread as libc::pthread_t);
    }
    // SAFETY: no preconditions.
    (thread == pthread::self_()).then(|| unsafe { libc::pthread_self() })
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
