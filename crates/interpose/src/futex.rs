//! `syscall(SYS_futex, …)` for strings: the futex waits libstdc++ makes
//! for futures, `std::atomic::wait` and its other waiting primitives, and
//! that C++ programs inline into their own code.
//!
//! A string's `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` parks it on the futex word's
//! address (in the runtime's wait lists, as a mutex waiter does) instead of
//! blocking its worker; `FUTEX_WAKE`/`FUTEX_WAKE_BITSET` wakes parked
//! strings first and passes what is left on to the kernel, so a thread that
//! is not a string waiting on the same word is woken too. Bitsets are not
//! matched: a waker wakes any waiter of the word, which futex users must
//! take as a spurious wakeup anyway. Every other system call, and every
//! call outside strings, goes to the C library's `syscall` unchanged.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use weaves_strings::blocking::{current_task, park, park_until};

use crate::pthread::{forget, wait_on, wake};

const FUTEX_WAIT: i64 = 0;
const FUTEX_WAKE: i64 = 1;
const FUTEX_WAIT_BITSET: i64 = 9;
const FUTEX_WAKE_BITSET: i64 = 10;
const FUTEX_PRIVATE_FLAG: i64 = 128;
const FUTEX_CLOCK_REALTIME: i64 = 256;

/// `long syscall(long number, ...)`: up to six arguments, passed in
/// registers and on the stack as for a function of seven `long`s.
pub(crate) unsafe extern "C" fn syscall(
    number: i64,
    a1: i64,
    a2: i64,
    a3: i64,
    a4: i64,
    a5: i64,
    a6: i64,
) -> i64 {
    if number == libc::SYS_futex {
        if let Some(r) = futex(a1 as usize, a2, a3 as u32, a4 as *const libc::timespec) {
            return r;
        }
    }
    // SAFETY: the caller's own system call, passed on unchanged.
    unsafe { libc::syscall(number, a1, a2, a3, a4, a5, a6) }
}

fn fail(errno: i32) -> i64 {
    // SAFETY: errno of the calling thread.
    unsafe { *libc::__errno_location() = errno };
    -1
}

/// A string's futex operation, or `None` for the kernel to do.
fn futex(addr: usize, op: i64, value: u32, timeout: *const libc::timespec) -> Option<i64> {
    if addr == 0 || !addr.is_multiple_of(4) || weaves_strings::forked::in_forked_child() {
        return None;
    }
    let command = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    match command {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let task = current_task()?;
            let deadline = match deadline(command, op, timeout) {
                Ok(d) => d,
                Err(e) => return Some(fail(e)),
            };
            // SAFETY: the caller's futex word, 4-byte aligned (checked).
            let word = unsafe { AtomicU32::from_ptr(addr as *mut u32) };
            if !wait_on(addr, &task, || word.load(Ordering::Acquire) == value) {
                return Some(fail(libc::EAGAIN));
            }
            let timed_out = match deadline {
                None => {
                    park();
                    forget(addr, &task);
                    false
                }
                Some(d) => {
                    park_until(d);
                    forget(addr, &task) && Instant::now() >= d
                }
            };
            Some(if timed_out { fail(libc::ETIMEDOUT) } else { 0 })
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let n = value as usize;
            let woken = wake(addr, n);
            let left = n - woken.min(n);
            if left == 0 {
                return Some(woken as i64);
            }
            // SAFETY: the same wake for threads that are not strings.
            let more = unsafe { libc::syscall(libc::SYS_futex, addr, op, left as i64, 0, 0, 0) };
            Some(woken as i64 + more.max(0))
        }
        _ => None,
    }
}

/// When a wait ends: `FUTEX_WAIT` takes a relative CLOCK_MONOTONIC time,
/// `FUTEX_WAIT_BITSET` an absolute one (CLOCK_REALTIME with the flag).
fn deadline(command: i64, op: i64, timeout: *const libc::timespec) -> Result<Option<Instant>, i32> {
    if timeout.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a valid timespec with a timed wait.
    let t = unsafe { *timeout };
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(libc::EINVAL);
    }
    let d = Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
    if command == FUTEX_WAIT {
        return Ok(Some(Instant::now() + d));
    }
    let left = if op & FUTEX_CLOCK_REALTIME != 0 {
        (SystemTime::UNIX_EPOCH + d)
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    } else {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writing the current monotonic time into `now`.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        d.saturating_sub(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    };
    Ok(Some(Instant::now() + left))
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    match name {
        "syscall" => Some(syscall as *const () as u64),
        _ => None,
    }
}
