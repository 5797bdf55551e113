//! The owner table: one `u32` per arena granule naming the bead that owns it.
//!
//! Written under the arena's region lock when a region is handed out or
//! returned; read lock-free (relaxed atomics) by `malloc`/`free` routing. A
//! reader racing with a writer sees either the old or the new owner of a
//! granule that is being (re)assigned, and no correct program asks about
//! memory that is being assigned at that moment.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::reserve::{arena_end, node_count, ARENA_BASE, GRANULE_SHIFT, NODE_SPAN};

/// Identifies the owner of arena memory: a bead (ids start at 1; 0 = nobody).
pub type OwnerId = u32;

/// Entries per node span; the table covers every span the arena reserves.
const ENTRIES: usize = NODE_SPAN >> GRANULE_SHIFT;

static TABLE: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn install_table() -> std::io::Result<()> {
    if !TABLE.load(Ordering::Acquire).is_null() {
        return Ok(());
    }
    let p = crate::sys::map_table(node_count() * ENTRIES * std::mem::size_of::<AtomicU32>())?;
    TABLE.store(p.cast(), Ordering::Release);
    Ok(())
}

fn slot(addr: usize) -> Option<&'static AtomicU32> {
    let table = TABLE.load(Ordering::Acquire);
    if table.is_null() || !(ARENA_BASE..arena_end()).contains(&addr) {
        return None;
    }
    let index = (addr - ARENA_BASE) >> GRANULE_SHIFT;
    // SAFETY: `index < node_count() * ENTRIES` because `addr` lies inside the
    // arena, and the table is a zero-initialised mapping of that many AtomicU32s that is
    // never unmapped once installed.
    Some(unsafe { &*table.add(index) })
}

/// The bead owning `addr`, if `addr` lies in a region of the arena that a
/// bead owns.
#[inline]
pub fn owner_of(addr: usize) -> Option<OwnerId> {
    match slot(addr)?.load(Ordering::Relaxed) {
        0 => None,
        id => Some(id),
    }
}

pub(crate) fn set_owner(addr: usize, len: usize, owner: OwnerId) {
    let mut a = addr;
    while a < addr + len {
        if let Some(s) = slot(a) {
            s.store(owner, Ordering::Relaxed);
        }
        a += 1 << GRANULE_SHIFT;
    }
}
