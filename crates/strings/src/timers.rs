//! Timers: strings asleep until a deadline.
//!
//! Each worker owns one set of timers, filled by the strings it runs when
//! they go to sleep, and fires it between strings. Its lock is taken by
//! its owner almost always, so it stays in that worker's cache; an idle
//! worker may take it to fire timers a busy owner has not reached yet.
//! Threads that are not workers (thread-mode strings, the main thread)
//! share one more set.
//!
//! Deadlines are nanoseconds since the scheduler's epoch, rounded up to a
//! grid: a sleep may last a little longer than asked (never shorter), and
//! strings that go to sleep at nearly the same moment wake in one batch.
//! The grid also makes the set cheap: strings with the same deadline share
//! a slot, so adding one is a push and firing drains whole slots (a binary
//! heap of ten thousand sleepers cost a tenth of a microsecond per wake).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use crate::task::Task;

/// Deadlines are rounded up to multiples of this many nanoseconds.
pub(crate) const GRID_NS: u64 = 100_000;

/// No timer pending.
pub(crate) const NONE: u64 = u64::MAX;

/// Emptied slot vectors kept for reuse (a slot holds many strings).
const SPARE_SLOTS: usize = 16;

/// Sleeping strings by deadline. Deadlines lie on the grid, so strings
/// that sleep for the same time share a slot: adding is a push onto the
/// slot's vector (the map has a few keys: the distinct deadlines ahead)
/// and firing drains whole slots, in the order their strings went to
/// sleep.
#[derive(Default)]
struct Slots {
    slots: BTreeMap<u64, Vec<Arc<Task>>>,
    spare: Vec<Vec<Arc<Task>>>,
}
/// One worker's sleeping strings.
pub(crate) struct Timers {
    slots: Mutex<Slots>,
    /// The earliest deadline in the set ([`NONE`]: empty), readable
    /// without the lock so that workers skip sets with nothing due.
    next_due: AtomicU64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            slots: Mutex::new(Slots::default()),
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
        let mut h = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let h = &mut *h;
        h.slots
            .entry(at)
            .or_insert_with(|| h.spare.pop().unwrap_or_default())
            .push(task);
        let sooner = at < self.next_due.load(Ordering::Relaxed);
        if sooner {
            self.next_due.store(at, Ordering::SeqCst);
        }
        sooner
    }

    /// Moves the tasks whose deadlines are at or before `now` into `out`.
    /// With `wait` false, gives up if another worker holds the set.
    pub(crate) fn fire(&self, now: u64, out: &mut Vec<Arc<Task>>, wait: bool) {
        if self.next_due() > now {
            return;
        }
        let mut h = match self.slots.try_lock() {
            Ok(h) => h,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) if !wait => return,
            Err(TryLockError::WouldBlock) => self.slots.lock().unwrap_or_else(|e| e.into_inner()),
        };
        let h = &mut *h;
        while let Some(entry) = h.slots.first_entry() {
            if *entry.key() > now {
                break;
            }
            let at = *entry.key();
            let mut slot = entry.remove();
            for task in &slot {
                task.timer_passed.fetch_max(at, Ordering::Relaxed);
            }
            out.append(&mut slot);
            if h.spare.len() < SPARE_SLOTS {
                h.spare.push(slot);
            }
        }
        let next = h.slots.first_key_value().map_or(NONE, |(&at, _)| at);
        self.next_due.store(next, Ordering::SeqCst);
    }
}

/// Rounds `ns` up to the timer grid.
pub(crate) fn on_grid(ns: u64) -> u64 {
    ns.div_ceil(GRID_NS).saturating_mul(GRID_NS)
}
