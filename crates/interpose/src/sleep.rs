//! Sleeping and yielding: a fiber string parks on a timer (its worker runs
//! other strings meanwhile); a thread-mode string, code outside strings and
//! the child of a `fork` made by bead code block their thread as usual.

use std::time::{Duration, Instant};

use weaves_strings::blocking;

fn duration(ts: *const libc::timespec) -> Option<Duration> {
    if ts.is_null() {
        return None;
    }
    // SAFETY: C passes a valid timespec.
    let t = unsafe { *ts };
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return None;
    }
    Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

fn einval() -> i32 {
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = libc::EINVAL };
    -1
}

/// Sleeps for `d`; in a tapestry whose beads use signals, a string's sleep
/// ends early when a handler runs (`Some(time left)`).
/// Sleeps are cancellation points: a string with a cancellation request
/// ends here (`pthread_cancel`), before or during the sleep.
fn sleep_for(d: Duration) -> Option<Duration> {
    crate::cancel::point();
    if let Some(left) = crate::signals::sleep_interruptibly(Instant::now() + d) {
        crate::cancel::point();
        return left;
    }
    match crate::cancel::sleep_until(Instant::now() + d) {
        Some(true) => crate::cancel::point(),
        Some(false) => {}
        None => blocking::sleep_for(d),
    }
    None
}

fn eintr() -> i32 {
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = libc::EINTR };
    -1
}

pub(crate) extern "C" fn sleep(seconds: u32) -> u32 {
    match sleep_for(Duration::from_secs(u64::from(seconds))) {
        // The seconds left, rounded to the nearest as the C library does
        // (rounded up, an alarm a hair before the sleep's 1 s mark would
        // leave 5 of `sleep(5)`).
        Some(left) => left.as_secs() as u32 + u32::from(left.subsec_nanos() >= 500_000_000),
        None => 0,
    }
}

pub(crate) extern "C" fn usleep(micros: u32) -> i32 {
    match sleep_for(Duration::from_micros(u64::from(micros))) {
        Some(_) => eintr(),
        None => 0,
    }
}

fn write_left(rem: *mut libc::timespec, left: Duration) {
    if !rem.is_null() {
        // SAFETY: C passes a writable timespec.
        unsafe {
            *rem = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        };
    }
}

pub(crate) unsafe extern "C" fn nanosleep(
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> i32 {
    let Some(d) = duration(req) else {
        return einval();
    };
    if let Some(left) = sleep_for(d) {
        write_left(rem, left);
        return eintr();
    }
    if !rem.is_null() {
        // SAFETY: C passes a writable timespec; the whole time was slept.
        unsafe {
            *rem = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }
        };
    }
    0
}

pub(crate) unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: i32,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> i32 {
    let Some(d) = duration(req) else {
        return libc::EINVAL;
    };
    let d = if flags & libc::TIMER_ABSTIME != 0 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: reading the clock the caller named into a local.
        if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
            return libc::EINVAL;
        }
        let now = Duration::new(
            now.tv_sec.max(0) as u64,
            now.tv_nsec.clamp(0, 999_999_999) as u32,
        );
        d.saturating_sub(now)
    } else {
        d
    };
    if let Some(left) = sleep_for(d) {
        if flags & libc::TIMER_ABSTIME == 0 {
            write_left(rem, left);
        }
        return libc::EINTR;
    }
    if !rem.is_null() && flags & libc::TIMER_ABSTIME == 0 {
        // SAFETY: as for nanosleep.
        unsafe {
            *rem = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }
        };
    }
    0
}

pub(crate) extern "C" fn sched_yield() -> i32 {
    // A reconfiguration point (see `weaves_strings::stop_point`).
    weaves_strings::stop_point();
    blocking::yield_now();
    0
}
