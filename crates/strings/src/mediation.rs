//! What a hot-swap's mediator keeps per string, and how it looks at the
//! stack of a string that is not running.
//!
//! While a bead is being swapped, calls into it from other beads pass
//! through *gates* (see the `weaves-swap` crate). A gate that lets a call
//! through replaces the call's return address with its own return path and
//! remembers the real one here, in the string's [`Mediation`]: so the
//! mediator knows which strings are inside the old bead (a string with
//! frames of that mediator) and the gate's return path knows where to go.
//!
//! Calls that were already inside the old bead when the gates went up are
//! found by looking at the stacks of strings: a string whose live stack
//! holds no address of the old bead's code (no return address into it, no
//! pointer to one of its functions) outside gated calls is *clear*: it can
//! only enter the old bead through a gate from then on. A running string is
//! looked at by itself (at a gate); a suspended one by the mediator, through
//! [`Task::scan_suspended_stack`], which reads its stack while making sure
//! it did not run meanwhile.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::Mutex;

use crate::task::Task;

/// A call a gate let through, whose return it will see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateFrame {
    /// Where the call returns to (the caller's code).
    pub ret: u64,
    /// The stack word that held `ret` and now holds the gate's return
    /// path.
    pub slot: u64,
    /// Which mediator let it through.
    pub mediator: u32,
}

/// A string's part in hot-swaps.
#[derive(Debug, Default)]
pub struct Mediation {
    /// Calls gates let through and that have not returned, innermost last.
    pub frames: Mutex<Vec<GateFrame>>,
    /// The latest mediator for which this string was found clear.
    pub clear_for: AtomicU32,
    /// While the string is inside a gate (deciding, or parked until its
    /// swap ends): that gate's mediator. Such a string is about to call
    /// whatever the gate answers, so no later swap may count it clear.
    pub entering: AtomicU32,
}

impl Mediation {
    /// How many of the string's calls mediator `id` let through are still
    /// inside, and the outermost one's slot.
    pub fn inside(&self, id: u32) -> (usize, Option<u64>) {
        let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        let mine = frames.iter().filter(|f| f.mediator == id);
        let outermost = mine.clone().map(|f| f.slot).max();
        (mine.count(), outermost)
    }
}

impl Task {
    /// Calls `visit` on each 8-byte word of the live part of this string's
    /// stack, from `from` (or the point where it suspended, if higher) up to
    /// the top, while it is suspended. `visit` returns `false` to stop.
    ///
    /// Returns `None` when the string is running or ran while the words were
    /// read (what was read means nothing), `Some(true)` when it has not
    /// started or has ended (no live stack) or every word was visited, and
    /// `Some(false)` if `visit` stopped.
    ///
    /// Safe for any caller: fiber stacks are never unmapped (a finished
    /// string's goes back to a free list), the words are read with atomic
    /// loads, and the addresses read stay within the bounds the stack had.
    pub fn scan_suspended_stack(
        &self,
        from: usize,
        mut visit: impl FnMut(u64) -> bool,
    ) -> Option<bool> {
        let before = self.resumes.load(Ordering::Acquire);
        if before % 2 == 1 {
            return None;
        }
        let top = self.stack_top.load(Ordering::Acquire);
        let sp = self.suspended_sp.load(Ordering::Acquire);
        if top == 0 || sp == 0 || self.is_done() {
            return Some(true);
        }
        let mut at = sp.max(from) & !7;
        let mut all = true;
        while at + 8 <= top {
            // SAFETY: `at` lies in [suspended_sp, top) of this string's
            // fiber stack, which stays mapped read-write for the life of the
            // process (see `fiber`); an atomic load of an aligned word never
            // faults on such memory and is never torn.
            let word = unsafe { std::sync::atomic::AtomicU64::from_ptr(at as *mut u64) }
                .load(Ordering::Relaxed);
            if !visit(word) {
                all = false;
                break;
            }
            at += 8;
        }
        fence(Ordering::Acquire);
        (self.resumes.load(Ordering::Relaxed) == before).then_some(all)
    }
}
