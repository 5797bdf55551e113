//! Fiber stacks made while the beads load.
//!
//! Starting a string on a stack made for it costs two kernel operations:
//! installing the guard below the stack and the page fault of its first
//! frame (each about a microsecond or two, in a virtual machine more).
//! For a tapestry of thousands of strings that is most of what starting
//! them costs, and it falls on the workers just when every string wants
//! to start. Loading the beads takes one thread far longer than making
//! the stacks, so a helper thread makes them meanwhile, and the strings
//! start on stacks that are ready.
//!
//! Small tapestries skip this (a thread costs more than it saves), and at
//! most [`MOST`] stacks are made: each costs about 8 KiB of memory (its
//! top page and the page table that maps it) whether or not a string
//! ever needs it, because finished strings hand their stacks on.

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use weaves_strings::FiberStack;

use crate::config::Plan;

/// Fewer strings than this start on stacks made as they start.
const FEWEST: usize = 256;

/// Stacks made ahead at most.
const MOST: usize = 16_384;

/// Starts making stacks for `plan`'s strings on a helper thread, if it
/// has enough of them to be worth it.
pub(crate) fn make_ahead(plan: &Plan) -> Option<JoinHandle<()>> {
    if plan.strings.len() < FEWEST {
        return None;
    }
    let mut by_size: BTreeMap<usize, usize> = BTreeMap::new();
    for s in plan.strings.iter().take(MOST) {
        *by_size
            .entry(FiberStack::usable_for(s.stack_size))
            .or_default() += 1;
    }
    std::thread::Builder::new()
        .name("weaves stacks".into())
        .spawn(move || {
            for (size, count) in by_size {
                // A stack that cannot be made now cannot be made by its
                // string either, which then says so itself.
                if FiberStack::provision(size, count).is_err() {
                    break;
                }
            }
        })
        .ok()
}
