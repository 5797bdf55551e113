//! Cheap timing of string slices: the processor's time-stamp counter,
//! converted to time only when someone asks.
//!
//! Reading the clock through the vDSO costs ~20 ns; a string switch costs
//! little more, and every slice is timed twice. The counter costs a few
//! nanoseconds. Its rate is measured against the monotonic clock over the
//! whole life of the process (first use to the question), which makes the
//! conversion more precise the longer the run.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The counter now.
#[inline]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions; it reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        u64::try_from(origin().0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// When counting started: the clock and the counter at the same moment.
fn origin() -> &'static (Instant, u64) {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    ORIGIN.get_or_init(|| (Instant::now(), ticks_raw()))
}

#[inline]
fn ticks_raw() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: as above.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Starts the clock-to-counter comparison (call early, before timing).
pub(crate) fn init() {
    let _ = origin();
}

/// `n` counter ticks as time.
pub(crate) fn to_duration(n: u64) -> Duration {
    let (at, t0) = *origin();
    let elapsed = at.elapsed().as_nanos() as f64;
    let ticked = ticks_raw().saturating_sub(t0) as f64;
    if elapsed <= 0.0 || ticked <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_nanos((n as f64 * elapsed / ticked) as u64)
}
