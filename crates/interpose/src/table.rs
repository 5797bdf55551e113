//! The interposition table the binder consults, and the list of symbols the
//! `weaves` executable must export.

use crate::{
    alloc, api, exit, fortran, getopt, io, messages, phdr, pthread, rwsem, sleep, symbolize, tls,
};

/// Symbols the `weaves` executable defines for the whole process (so that
/// system libraries acting for beads reach them too). The binary's build
/// script exports exactly these.
pub const GLOBAL_EXPORTS: &[&str] = &[
    "malloc",
    "free",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "exit",
    "dl_iterate_phdr",
    "_dl_find_object",
    "signal",
];

/// The runtime's definition of `name` for bead code, if it interposes it
/// (in a DSM node, the DSM runtime's, where it has one).
pub fn lookup(name: &str) -> Option<u64> {
    if let Some(f) = crate::dsm_hooks::lookup(name) {
        return Some(f);
    }
    lookup_own(name)
}

/// The runtime's own definition of `name`, whatever a DSM node overrides.
pub(crate) fn lookup_own(name: &str) -> Option<u64> {
    if let Some(stub) = crate::checkpoint::lookup(name) {
        return Some(stub);
    }
    if let Some(f) = crate::process::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::random::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::statics::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::accounts::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::locale::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::locks::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::events::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::schedparam::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::cancel::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::cleanup::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::futex::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::once::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::spinlock::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::tsd::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::thread_attr::lookup(name) {
        return Some(f);
    }
    if let Some(f) = crate::diagnostics::lookup(name) {
        return Some(f);
    }
    if let Some(a) = crate::signals::lookup(name) {
        return Some(a);
    }
    if let Some(f) = crate::dl::lookup(name) {
        return Some(f);
    }
    if let Some(a) = crate::fault::lookup(name) {
        return Some(a);
    }
    let a = match name {
        "malloc" => alloc::malloc as *const () as usize,
        "free" => alloc::free as *const () as usize,
        "calloc" => alloc::calloc as *const () as usize,
        "realloc" => alloc::realloc as *const () as usize,
        "posix_memalign" => alloc::posix_memalign as *const () as usize,
        "aligned_alloc" => alloc::aligned_alloc as *const () as usize,
        "memalign" => alloc::memalign as *const () as usize,
        "valloc" => alloc::valloc as *const () as usize,
        "pvalloc" => alloc::pvalloc as *const () as usize,
        "malloc_usable_size" => alloc::malloc_usable_size as *const () as usize,
        "exit" => exit::exit as *const () as usize,
        "_exit" | "_Exit" => exit::bead_exit_immediately as *const () as usize,
        "atexit" => exit::atexit as *const () as usize,
        "on_exit" => exit::on_exit as *const () as usize,
        "__cxa_atexit" => exit::cxa_atexit as *const () as usize,
        "__cxa_finalize" => exit::cxa_finalize as *const () as usize,
        "__cxa_thread_atexit_impl" => exit::cxa_thread_atexit_impl as *const () as usize,
        "__tls_get_addr" => tls::weaves_tls_get_addr as *const () as usize,
        "dl_iterate_phdr" => phdr::dl_iterate_phdr as *const () as usize,
        "_dl_find_object" => phdr::_dl_find_object as *const () as usize,
        "getenv" | "secure_getenv" => api::getenv as *const () as usize,
        "setenv" => api::setenv as *const () as usize,
        "unsetenv" => api::unsetenv as *const () as usize,
        "wv_string_id" => api::wv_string_id as *const () as usize,
        "wv_bead_name" => api::weaves_wv_bead_name as *const () as usize,
        "wv_weave_name" => api::wv_weave_name as *const () as usize,
        "wv_yield" => api::wv_yield as *const () as usize,
        "wv_others_ready" => api::wv_others_ready as *const () as usize,
        "wv_spawn" => api::wv_spawn as *const () as usize,
        "wv_lookup" => api::wv_lookup as *const () as usize,
        "wv_send" => messages::weaves_wv_send as *const () as usize,
        "wv_recv" => messages::weaves_wv_recv as *const () as usize,
        "wv_poll" => messages::weaves_wv_poll as *const () as usize,
        "_gfortran_set_args" => fortran::set_args as *const () as usize,
        "_gfortran_iargc" => fortran::iargc as *const () as usize,
        "_gfortran_get_command_argument_i4" => {
            fortran::get_command_argument_i4 as *const () as usize
        }
        "_gfortran_get_command_argument_i8" => {
            fortran::get_command_argument_i8 as *const () as usize
        }
        "_gfortran_getarg_i4" => fortran::getarg_i4 as *const () as usize,
        "_gfortran_getarg_i8" => fortran::getarg_i8 as *const () as usize,
        "_gfortran_get_command_i4" => fortran::get_command_i4 as *const () as usize,
        "_gfortran_get_command_i8" => fortran::get_command_i8 as *const () as usize,
        "dladdr" => symbolize::dladdr as *const () as usize,
        "backtrace_symbols" => symbolize::backtrace_symbols as *const () as usize,
        "backtrace_symbols_fd" => symbolize::backtrace_symbols_fd as *const () as usize,
        "getopt" => getopt::weaves_getopt as *const () as usize,
        "__posix_getopt" => getopt::weaves_posix_getopt as *const () as usize,
        "getopt_long" => getopt::weaves_getopt_long as *const () as usize,
        "getopt_long_only" => getopt::weaves_getopt_long_only as *const () as usize,
        "sleep" => sleep::sleep as *const () as usize,
        "usleep" => sleep::usleep as *const () as usize,
        "nanosleep" | "__nanosleep" => sleep::nanosleep as *const () as usize,
        "clock_nanosleep" => sleep::clock_nanosleep as *const () as usize,
        "sched_yield" | "pthread_yield" | "thrd_yield" => sleep::sched_yield as *const () as usize,
        "pthread_mutex_lock" => pthread::mutex_lock as *const () as usize,
        "pthread_mutex_trylock" => pthread::mutex_trylock as *const () as usize,
        "pthread_mutex_timedlock" => pthread::mutex_timedlock as *const () as usize,
        "pthread_mutex_unlock" => pthread::mutex_unlock as *const () as usize,
        "pthread_mutex_init" => pthread::mutex_init as *const () as usize,
        "pthread_mutex_destroy" => pthread::mutex_destroy as *const () as usize,
        "pthread_cond_wait" => pthread::cond_wait as *const () as usize,
        "pthread_cond_timedwait" => pthread::cond_timedwait as *const () as usize,
        "pthread_cond_signal" => pthread::cond_signal as *const () as usize,
        "pthread_cond_broadcast" => pthread::cond_broadcast as *const () as usize,
        "pthread_cond_init" => pthread::cond_init as *const () as usize,
        "pthread_cond_destroy" => pthread::cond_destroy as *const () as usize,
        "pthread_barrier_init" => pthread::barrier_init as *const () as usize,
        "pthread_barrier_wait" => pthread::barrier_wait as *const () as usize,
        "pthread_barrier_destroy" => pthread::barrier_destroy as *const () as usize,
        "pthread_rwlock_init" => rwsem::rwlock_init as *const () as usize,
        "pthread_rwlock_destroy" => rwsem::rwlock_destroy as *const () as usize,
        "pthread_rwlock_rdlock" => rwsem::rwlock_rdlock as *const () as usize,
        "pthread_rwlock_wrlock" => rwsem::rwlock_wrlock as *const () as usize,
        "pthread_rwlock_tryrdlock" => rwsem::rwlock_tryrdlock as *const () as usize,
        "pthread_rwlock_trywrlock" => rwsem::rwlock_trywrlock as *const () as usize,
        "pthread_rwlock_timedrdlock" => rwsem::rwlock_timedrdlock as *const () as usize,
        "pthread_rwlock_timedwrlock" => rwsem::rwlock_timedwrlock as *const () as usize,
        "pthread_rwlock_unlock" => rwsem::rwlock_unlock as *const () as usize,
        "sem_init" => rwsem::sem_init as *const () as usize,
        "sem_destroy" => rwsem::sem_destroy as *const () as usize,
        "sem_wait" => rwsem::sem_wait as *const () as usize,
        "sem_trywait" => rwsem::sem_trywait as *const () as usize,
        "sem_timedwait" => rwsem::sem_timedwait as *const () as usize,
        "sem_post" => rwsem::sem_post as *const () as usize,
        "sem_getvalue" => rwsem::sem_getvalue as *const () as usize,
        "pthread_create" => pthread::create as *const () as usize,
        "pthread_join" => pthread::join as *const () as usize,
        "pthread_detach" => pthread::detach as *const () as usize,
        "pthread_exit" => pthread::exit as *const () as usize,
        "pthread_self" => pthread::self_ as *const () as usize,
        "read" => io::read as *const () as usize,
        "write" => io::write as *const () as usize,
        "recv" => io::recv as *const () as usize,
        "send" => io::send as *const () as usize,
        "recvfrom" => io::recvfrom as *const () as usize,
        "sendto" => io::sendto as *const () as usize,
        "accept" => io::accept as *const () as usize,
        "accept4" => io::accept4 as *const () as usize,
        "connect" => io::connect as *const () as usize,
        "poll" => io::poll as *const () as usize,
        _ => return None,
    };
    Some(a as u64)
}

/// Addresses of every global export: calling this from `main` keeps the
/// linker from discarding them (nothing else in the binary references the
/// assembly-defined ones).
pub fn link_exports() -> usize {
    GLOBAL_EXPORTS
        .iter()
        .filter_map(|n| lookup_own(n))
        .fold(0usize, |acc, a| acc ^ a as usize)
}
