//! The lock of one heap: a futex word, so that a heap whose holder can never
//! release it can be released from outside.
//!
//! A string can stop in the middle of a heap operation: a fault there (a
//! bead overran a block and TLSF follows the damaged free list) is contained
//! by ending the string, whose fiber is abandoned, never unwound. A
//! `std::sync::Mutex` guard on that fiber would keep the heap locked for
//! ever, and the next string to allocate from it would hang. So each thread
//! records which heap it holds ([`held`]); the fault handler calls
//! [`abandon_held_heap`], which marks that heap *poisoned* (it allocates
//! nothing more, frees are ignored: its free lists cannot be trusted) and
//! unlocks it.
//!
//! States of the word: 0 free, 1 held, 2 held with (possible) waiters.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Heap;
use crate::owner::OwnerId;

pub(super) struct HeapLock {
    state: AtomicU32,
}

thread_local! {
    /// The heap this thread holds the lock of (null: none). Read by the
    /// fault handler: a `const` thread-local with no destructor is a plain
    /// TLS access, safe in a signal handler.
    static HELD: Cell<*const Heap> = const { Cell::new(std::ptr::null()) };
}

impl HeapLock {
    pub(super) const fn new() -> HeapLock {
        HeapLock {
            state: AtomicU32::new(0),
        }
    }

    /// Takes the lock for `heap` (whose lock this is), waiting if needed.
    pub(super) fn lock(&self, heap: &Heap) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.state.swap(2, Ordering::Acquire) != 0 {
                futex(&self.state, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 2);
            }
        }
        HELD.with(|h| h.set(heap));
    }

    /// Gives the lock back.
    pub(super) fn unlock(&self) {
        HELD.with(|h| h.set(std::ptr::null()));
        self.release();
    }

    /// Whether someone holds the lock (for tests).
    #[cfg(test)]
    pub(super) fn is_held(&self) -> bool {
        self.state.load(Ordering::Acquire) != 0
    }

    fn release(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }
}

fn futex(word: &AtomicU32, op: i32, value: u32) {
    // SAFETY: FUTEX_WAIT/FUTEX_WAKE on a live, aligned u32; WAIT returns at
    // once if the word no longer holds `value`, and spurious returns are
    // handled by the caller's loop.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            value,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

/// A heap's lock held without touching the heap's state (see
/// [`crate::ForkHold`]); released when dropped.
pub(crate) struct HeapHold<'a> {
    heap: &'a Heap,
}

impl<'a> HeapHold<'a> {
    pub(super) fn new(heap: &'a Heap) -> HeapHold<'a> {
        heap.lock.lock(heap);
        HeapHold { heap }
    }
}

impl Drop for HeapHold<'_> {
    fn drop(&mut self) {
        self.heap.lock.unlock();
    }
}

/// If this thread holds a heap's lock, poisons that heap and releases the
/// lock, returning the heap's bead. For the fault handler, which is about to
/// abandon the interrupted code: async-signal-safe (a TLS read, atomics and
/// at most one `futex` system call).
pub fn abandon_held_heap() -> Option<OwnerId> {
    let heap = HELD.with(|h| h.replace(std::ptr::null()));
    if heap.is_null() {
        return None;
    }
    // SAFETY: HELD points at a heap whose lock this thread holds, so the
    // heap cannot be destroyed (destroy requires that nobody uses it).
    let heap = unsafe { &*heap };
    heap.poison();
    heap.lock.release();
    Some(heap.owner())
}
