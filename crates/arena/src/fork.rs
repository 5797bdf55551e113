//! Holding the arena's locks across a `fork`.
//!
//! A forked child has one thread. A lock that another thread held at the
//! moment of the fork stays held in the child forever, so the child must
//! not need any lock some other thread might have been holding. The child
//! of bead code allocates from its beads' heaps (and a growing heap places
//! extents in the arena): the forking thread takes those locks itself
//! before forking and releases them on both sides afterwards, exactly as
//! the C library does for its own `malloc` arenas.
//!
//! Order: heaps (ascending owner id), then placement — the order a growing
//! heap takes them in (its own lock, then the arena's), so holding them
//! cannot deadlock against an allocation in progress.

use std::sync::MutexGuard;

use crate::heap::existing_heap;
use crate::owner::OwnerId;
use crate::reserve::{Arena, Placement};

/// The locks a forked child's allocations may take, held by the forking
/// thread. Dropping it releases them; drop it on both sides of the fork.
pub struct ForkHold {
    // Dropped in declaration order: placement first, then the heaps.
    _placement: Option<MutexGuard<'static, Placement>>,
    _heaps: [Option<crate::heap::HeapHold<'static>>; 2],
}

impl ForkHold {
    /// Takes the heap locks of `beads` (up to two; 0 = none) and the
    /// arena's placement lock, blocking until each is free.
    pub fn take(beads: [OwnerId; 2]) -> ForkHold {
        let mut owners = beads;
        owners.sort_unstable();
        let heap = |o: OwnerId| existing_heap(o).map(|h| h.hold());
        let first = (owners[0] != 0).then(|| heap(owners[0])).flatten();
        let second = (owners[1] != 0 && owners[1] != owners[0])
            .then(|| heap(owners[1]))
            .flatten();
        let placement = Arena::global().ok().map(Arena::hold_placement);
        ForkHold {
            _placement: placement,
            _heaps: [first, second],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::heap_for;

    /// While a fork hold is taken, the heaps it names and the placement
    /// lock are held; dropping it frees them for the next allocation.
    #[test]
    fn holds_the_named_heaps_and_placement_until_dropped() {
        let _serial = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let arena = Arena::global().unwrap();
        let (a, b) = (arena.new_owner(), arena.new_owner());
        let (ha, hb) = (heap_for(a).unwrap(), heap_for(b).unwrap());
        let hold = ForkHold::take([b, a]);
        assert!(ha.is_locked(), "heap a held");
        assert!(hb.is_locked(), "heap b held");
        assert!(arena.placement.try_lock().is_err(), "placement held");
        drop(hold);
        assert!(!ha.allocate(64).is_null());
        assert!(!hb.allocate(10 << 20).is_null(), "growing places an extent");
    }

    #[test]
    fn a_bead_without_a_heap_or_no_bead_holds_only_placement() {
        let _serial = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let arena = Arena::global().unwrap();
        let unborn = arena.new_owner();
        let hold = ForkHold::take([0, unborn]);
        assert!(arena.placement.try_lock().is_err());
        drop(hold);
        assert!(arena.placement.try_lock().is_ok());
    }
}
