//! `pthread_once` for strings: a string that finds the initialiser running
//! in another string parks until it is done, instead of blocking its worker
//! in the C library's futex wait (on one worker, the string running the
//! initialiser could then never finish it).
//!
//! The `pthread_once_t` keeps glibc's encoding, so a control that the C
//! library completed before (`2`, done) is seen as done:
//!
//! ```text
//! 0: not run    1: running (another string is in the initialiser)    bit 2: done
//! ```
//!
//! `std::call_once` (libstdc++ and the program's inline code) goes through
//! here too. Outside strings, a caller waiting for another polls.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use weaves_strings::blocking::{current_task, park};

use crate::pthread::{forget, wait_on, wake};

const RUNNING: i32 = 1;
const DONE: i32 = 2;

pub(crate) unsafe extern "C" fn once(control: *mut i32, init: unsafe extern "C" fn()) -> i32 {
    let addr = control as usize;
    // SAFETY: the caller's pthread_once_t, an aligned int.
    let state = unsafe { AtomicI32::from_ptr(control) };
    loop {
        let s = state.load(Ordering::Acquire);
        if s & DONE != 0 {
            return 0;
        }
        if s == 0 {
            if state
                .compare_exchange(0, RUNNING, Ordering::Acquire, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // SAFETY: the caller's initialiser, called once.
            unsafe { init() };
            state.store(DONE, Ordering::Release);
            wake(addr, usize::MAX);
            return 0;
        }
        match current_task() {
            Some(task) => {
                if wait_on(addr, &task, || state.load(Ordering::Acquire) & DONE == 0) {
                    park();
                    forget(addr, &task);
                }
            }
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    match name {
        "pthread_once" | "call_once" => Some(once as *const () as u64),
        _ => None,
    }
}
