//! Which CPU the caller runs on, and how many there may be.
//!
//! Representatives and generation counters are indexed by CPU so that
//! threads on different CPUs touch different cache lines. The index is a
//! hint: a thread may migrate right after asking, so everything indexed by
//! it is still atomic — it is merely *rarely shared*.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The number of CPU ids the system may hand out (configured, not only
/// online, so that an id from `sched_getcpu` is always below it).
pub fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        // SAFETY: sysconf only reads system configuration.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
    })
}

/// The CPU the calling thread is running on, below [`count`].
///
/// glibc answers `sched_getcpu` from the thread's restartable-sequence
/// area (or the vDSO) without a system call. Where it fails, each thread
/// gets a fixed index of its own instead, spread round-robin.
#[inline]
pub fn current() -> usize {
    // SAFETY: sched_getcpu takes no arguments and only reads.
    let cpu = unsafe { libc::sched_getcpu() };
    match usize::try_from(cpu) {
        Ok(cpu) => cpu % count(),
        Err(_) => thread_index() % count(),
    }
}

fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_cpu_is_below_the_count() {
        assert!(count() >= 1);
        for _ in 0..100 {
            assert!(current() < count());
        }
    }
}
