//! The shared counter's lock: spin a little, then yield, never sleep.
//!
//! A sleeping lock (`std::sync::Mutex`) hides contention from a policy
//! that counts it: once a waiter sleeps in the kernel, the holder's CPU
//! takes and releases the lock alone for a whole time slice, and the
//! waiters on the other CPU — asleep — are neither seen nor running. A
//! lock whose waiters stay runnable keeps both CPUs adding, so every add
//! that had to wait is seen and counted, and what sharing costs shows.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A value behind a spin-then-yield lock.
#[derive(Default)]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through a SpinGuard, and at most one
// guard exists at a time (the `locked` flag, taken with Acquire and
// released with Release, orders their accesses); T moves between threads
// with the guard, hence T: Send.
unsafe impl<T: Send> Sync for SpinLock<T> {}

/// Holds the lock; releases it when dropped.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    /// Whether the lock was taken when first tried.
    pub(crate) contended: bool,
}

impl<T> SpinLock<T> {
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let mut waited = false;
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            waited = true;
            // Wait reading, not writing, so that the holder keeps the line.
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    // The holder may be preempted: let it run.
                    std::thread::yield_now();
                }
            }
        }
        SpinGuard {
            lock: self,
            contended: waited,
        }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see the Sync impl).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_excludes_and_reports_waiting() {
        let lock = SpinLock::<u64>::default();
        let g = lock.lock();
        assert!(!g.contended);
        drop(g);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..10_000).for_each(|_| *lock.lock() += 1));
            }
        });
        assert_eq!(*lock.lock(), 40_000);
    }
}
