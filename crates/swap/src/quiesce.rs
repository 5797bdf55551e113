//! Is a string clear of the old bead? A conservative look at its stack.
//!
//! A string is *inside* the old bead if the live part of its stack, outside
//! the calls the gates counted, holds an address of the old bead's code: a
//! return address into it (a frame of the old bead, perhaps waiting for a
//! call out of it to return) or a pointer to one of its functions (which
//! the string may call later without passing a gate). Anything else on the
//! stack may be a false alarm (a stale value in a spill slot); the cost of
//! one is a swap that waits, and aborts at its timeout, never a wrong swap.
//!
//! Counted calls (see `gate`) lie below the outermost counted call's return
//! slot: the part from there down is the gates' business, so the look
//! starts above it.

use weaves_strings::{ExecCtx, Task};

use crate::mediator::Mediator;

/// What a look at a suspended string found.
pub(crate) enum Look {
    Clear,
    /// The first address of the old bead's code found.
    Holds(u64),
    /// It ran while being looked at, or is running.
    Running,
}

fn in_text(m: &Mediator, word: u64) -> bool {
    m.text.iter().any(|&(lo, hi)| (lo..hi).contains(&word))
}

/// Whether the calling string, making a call whose return address is at
/// `slot`, is clear of the old bead.
pub(crate) fn own_stack_clear(m: &Mediator, ctx: &ExecCtx, slot: u64) -> bool {
    let (_, top) = ctx.stack_bounds();
    if top == 0 {
        // Not on a fiber stack (an initialiser's thread): nothing to look
        // at that the runtime knows the bounds of.
        return false;
    }
    let from = match ctx.mediation.inside(m.id).1 {
        Some(outermost) => outermost + 8,
        None => slot,
    };
    let mut at = from & !7;
    while at + 8 <= top as u64 {
        // SAFETY: `at` lies between the current call's return slot and the
        // top of the calling string's own fiber stack: its live frames.
        if in_text(m, unsafe { crate::gate::own_stack_word(at) }) {
            return false;
        }
        at += 8;
    }
    true
}

/// Looks at the stack of a string that is not running.
pub(crate) fn look_at_suspended(m: &Mediator, t: &Task, outermost: Option<u64>) -> Look {
    let from = outermost.map_or(0, |o| o as usize + 8);
    let mut found = 0;
    match t.scan_suspended_stack(from, |w| {
        if in_text(m, w) {
            found = w;
            false
        } else {
            true
        }
    }) {
        None => Look::Running,
        Some(true) => Look::Clear,
        Some(false) => Look::Holds(found),
    }
}
