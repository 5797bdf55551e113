//! Process-shared barriers (`PTHREAD_PROCESS_SHARED`), whose parties may
//! be strings of this process and of a child it forked, meeting in a
//! `MAP_SHARED` mapping.
//!
//! A private barrier lives in a table of the runtime keyed by its address
//! (`pthread`); a forked child would find nothing there. A shared one keeps
//! its whole state in the `pthread_barrier_t` itself (32 bytes), so both
//! processes see it:
//!
//! ```text
//! offset 0: arrivals this round (low 32 bits), round number (high 32 bits)
//! offset 8: parties              offset 12: SHARED_MARK
//! ```
//!
//! The last party to arrive starts the next round with one store and wakes
//! this process's waiters; the other process's look again every
//! [`pthread::SHARED_POLL`], as for the other process-shared objects.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use weaves_strings::blocking::current_task;

use crate::pthread::{self, forget, park_for, wait_on, wake};

/// Marks a barrier initialised `PTHREAD_PROCESS_SHARED`, at offset 12.
const SHARED_MARK: u32 = 0x5053_4242;

struct View(usize);

impl View {
    fn state(&self) -> &AtomicU64 {
        // SAFETY: a pthread_barrier_t is 32 bytes, 8-aligned (it holds a
        // long): offset 0 is an aligned u64 inside it.
        unsafe { AtomicU64::from_ptr(self.0 as *mut u64) }
    }
    fn parties(&self) -> &AtomicU32 {
        // SAFETY: offset 8, an aligned u32 inside the object.
        unsafe { AtomicU32::from_ptr((self.0 + 8) as *mut u32) }
    }
    fn mark(&self) -> &AtomicU32 {
        // SAFETY: offset 12, an aligned u32 inside the object.
        unsafe { AtomicU32::from_ptr((self.0 + 12) as *mut u32) }
    }
}

/// Whether the barrier at `b` was initialised process-shared.
pub(crate) fn is_shared(b: usize) -> bool {
    View(b).mark().load(Ordering::Acquire) == SHARED_MARK
}

/// Whether `attr` (null or a valid barrier attribute object) asks for a
/// process-shared barrier.
pub(crate) fn wants_shared(attr: *const libc::c_void) -> bool {
    if attr.is_null() {
        return false;
    }
    extern "C" {
        fn pthread_barrierattr_getpshared(attr: *const libc::c_void, pshared: *mut i32) -> i32;
    }
    let mut pshared = libc::PTHREAD_PROCESS_PRIVATE;
    // SAFETY: reading the sharing of a valid attribute object with libc.
    unsafe { pthread_barrierattr_getpshared(attr, &mut pshared) };
    pshared == libc::PTHREAD_PROCESS_SHARED
}

/// Makes the object at `b` a shared barrier of `count` parties (or clears
/// the mark, for a private one, which keeps nothing in the object).
pub(crate) fn init(b: usize, count: u32, shared: bool) {
    let v = View(b);
    v.state().store(0, Ordering::Relaxed);
    v.parties().store(count, Ordering::Relaxed);
    v.mark()
        .store(if shared { SHARED_MARK } else { 0 }, Ordering::Release);
}

/// `pthread_barrier_wait` on a shared barrier.
pub(crate) fn wait(b: usize) -> i32 {
    let v = View(b);
    let parties = u64::from(v.parties().load(Ordering::Relaxed));
    let before = v.state().fetch_add(1, Ordering::AcqRel);
    let round = before >> 32;
    if (before & 0xffff_ffff) + 1 == parties {
        // Every other party of this round waits for the round to change,
        // so nothing else writes the word now.
        v.state()
            .store(((round + 1) & 0xffff_ffff) << 32, Ordering::Release);
        wake(b, usize::MAX);
        return libc::PTHREAD_BARRIER_SERIAL_THREAD;
    }
    let passed = || v.state().load(Ordering::Acquire) >> 32 != round;
    loop {
        if passed() {
            return 0;
        }
        match current_task() {
            Some(task) => {
                if wait_on(b, &task, || !passed()) {
                    park_for(None, true);
                    forget(b, &task);
                }
            }
            // Not a string, or the child of a fork (its one thread).
            None => std::thread::sleep(Duration::from_micros(100).min(pthread::SHARED_POLL)),
        }
    }
}
