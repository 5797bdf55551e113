//! Sleeping and yielding: a fiber string parks on a timer (its worker runs
//! other strings meanwhile); a thread-mode string, code outside strings and
//! the child of a `fork` made by bead code block their thread as usual.

use std::time::Duration;

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

pub(crate) extern "C" fn sleep(seconds: u32) -> u32 {
    blocking::sleep_for(Duration::from_secs(u64::from(seconds)));
    0
}

pub(crate) extern "C" fn usleep(micros: u32) -> i32 {
    blocking::sleep_for(Duration::from_micros(u64::from(micros)));
    0
}

pub(crate) unsafe extern "C" fn nanosleep(
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> i32 {
    let Some(d) = duration(req) else {
        return einval();
    };
    blocking::sleep_for(d);
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
    blocking::sleep_for(d);
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
