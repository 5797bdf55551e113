//! `pthread_getattr_np` for strings: the attributes of the thread a pthread
//! id names, above all its stack.
//!
//! glibc's version reads the id as its thread descriptor and takes the
//! lock inside it; a string's id is not a descriptor, so the call hung on
//! whatever the word there held. Rust's standard library asks it for the
//! main thread's stack before `main`, so every Rust executable hung at
//! start. For a string the answer is its fiber stack: the usable part, and
//! the guard below it as the guard size. A string on a dedicated thread,
//! and a thread that is not a string, get the C library's answer for the
//! OS thread.

use weaves_strings::STACK_GUARD;

/// `pthread_getattr_np(thread, attr)`.
pub(crate) unsafe extern "C" fn getattr_np(thread: u64, attr: *mut libc::pthread_attr_t) -> i32 {
    let own = crate::pthread::self_() == thread;
    let Some(task) = crate::pthread::task_of(thread) else {
        if own {
            // SAFETY: the caller's own OS thread, with the caller's
            // attribute object.
            return unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr) };
        }
        return libc::ESRCH;
    };
    let (low, high) = task.ctx.stack_bounds();
    if low == 0 {
        if own {
            // SAFETY: as above: a dedicated thread drives this string.
            return unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr) };
        }
        return libc::ESRCH;
    }
    // SAFETY: `attr` points at an attribute object the caller owns, as
    // `pthread_getattr_np` requires; glibc initialises it and records the
    // stack range we give, which lies inside the string's fiber stack.
    unsafe {
        let r = libc::pthread_attr_init(attr);
        if r != 0 {
            return r;
        }
        let usable_low = low + STACK_GUARD;
        libc::pthread_attr_setstack(attr, usable_low as *mut libc::c_void, high - usable_low);
        libc::pthread_attr_setguardsize(attr, STACK_GUARD);
    }
    0
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    match name {
        "pthread_getattr_np" => Some(getattr_np as *const () as u64),
        _ => None,
    }
}
