//! Warming the caches for the next string while this one runs.
//!
//! Thousands of strings that each wake for a moment are a memory-bound
//! load: a slice of a few hundred instructions touches the task, its
//! context, the top of its stack and its bead's data, and with ten
//! thousand strings each of those is a cache and TLB miss (in a virtual
//! machine, a two-level page walk). A worker knows which strings run
//! next: the front of its own queue. Before running one, it asks the
//! processor to fetch what the next one will touch, so those misses
//! overlap with useful work instead of stalling the switch.
//!
//! The hints are only hints: a prefetch never faults and changes no
//! state, so a stale or wrong address costs nothing but bandwidth.

/// Asks for the cache line holding `addr` (any address; never faults).
#[inline(always)]
pub(crate) fn line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 is a hint: it never faults, whatever the
        // address, and has no architectural effect.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Asks for the `lines` cache lines starting at the one holding `addr`.
#[inline(always)]
pub(crate) fn lines(addr: usize, lines: usize) {
    let first = addr & !63;
    for i in 0..lines {
        line(first + i * 64);
    }
}
