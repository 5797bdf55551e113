//! Timer heaps: strings asleep until a deadline.
//!
//! Each worker owns one heap, filled by the strings it runs when they go to
//! sleep, and fires it between strings. Its lock is taken by its owner
//! almost always, so it stays in that worker's cache; an idle worker may
//! take it to fire timers a busy owner has not reached yet. Threads that
//! are not workers (thread-mode strings, the main thread) share one more
//! heap.
//!
//! Deadlines are nanoseconds since the scheduler's epoch, rounded up to a
//! grid: a sleep may last a little longer than asked (never shorter), and
//! strings that go to sleep at nearly the same moment wake in one batch.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use crate::task::Task;

/// Deadlines are rounded up to multiples of this many nanoseconds.
pub(crate) const GRID_NS: u64 = 100_000;

/// No timer pending.
pub(crate) const NONE: u64 = u64::MAX;

struct Timer {
    at: u64,
    seq: u64,
    task: Arc<Task>,
}
impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}
#[derive(Default)]
struct Heap {
    timers: BinaryHeap<Reverse<Timer>>,
    seq: u64,
}
/// One heap of sleeping strings.
pub(crate) struct Timers {
    heap: Mutex<Heap>,
    /// The earliest deadline in the heap ([`NONE`]: empty), readable without
    /// the lock so that workers skip heaps with nothing due.
    next_due: AtomicU64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(Heap::default()),
            next_due: AtomicU64::new(NONE),
        }
    }

    /// The earliest deadline, or [`NONE`].
    pub(crate) fn next_due(&self) -> u64 {
        self.next_due.load(Ordering::SeqCst)
    }

    /// Adds a timer waking `task` at `at` (already on the grid). Returns
    /// whether it is now the earliest.
    pub(crate) fn add(&self, at: u64, task: Arc<Task>) -> bool {
        let mut h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        let seq = h.seq;
        h.seq += 1;
        h.timers.push(Reverse(Timer { at, seq, task }));
        let sooner = at < self.next_due.load(Ordering::Relaxed);
        if sooner {
            self.next_due.store(at, Ordering::SeqCst);
        }
        sooner
    }

    /// Moves the tasks whose deadlines are at or before `now` into `out`.
    /// With `wait` false, gives up if another worker holds the heap.
    pub(crate) fn fire(&self, now: u64, out: &mut Vec<Arc<Task>>, wait: bool) {
        if self.next_due() > now {
            return;
        }
        let mut h = match self.heap.try_lock() {
            Ok(h) => h,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) if !wait => return,
            Err(TryLockError::WouldBlock) => self.heap.lock().unwrap_or_else(|e| e.into_inner()),
        };
        while let Some(Reverse(first)) = h.timers.peek() {
            if first.at > now {
                break;
            }
            if let Some(Reverse(timer)) = h.timers.pop() {
                out.push(timer.task);
            }
        }
        let next = h.timers.peek().map_or(NONE, |Reverse(first)| first.at);
        self.next_due.store(next, Ordering::SeqCst);
    }
}

/// Rounds `ns` up to the timer grid.
pub(crate) fn on_grid(ns: u64) -> u64 {
    ns.div_ceil(GRID_NS).saturating_mul(GRID_NS)
}
