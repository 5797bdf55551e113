//! Reserving the arena and placing regions inside it.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::owner::{self, OwnerId};
use crate::sys::{self, Protection};

/// Where the arena starts. Far below where the kernel puts shared libraries
/// and stacks (`0x7f..`) and far above PIE executables and the brk heap
/// (`0x55..`), so it is free in every ordinary process layout.
pub const ARENA_BASE: usize = 0x2000_0000_0000;
/// Address space of one node's part of the arena (2^40 bytes, as in Weaves §4.4).
pub const NODE_SPAN: usize = 1 << 40;
/// The most node spans an arena reserves (a DSM run's node count).
pub const MAX_NODES: usize = 64;
/// The environment variable naming how many node spans to reserve (a DSM
/// node process sets it before the arena is first used; default 1).
pub const NODES_VAR: &str = "WEAVES_ARENA_NODES";

/// 0 until read from the environment.
static NODES: AtomicUsize = AtomicUsize::new(0);

/// How many node spans the arena reserves (1 outside DSM runs): read from
/// [`NODES_VAR`] once, and fixed from then on.
pub fn node_count() -> usize {
    match NODES.load(Ordering::Relaxed) {
        0 => {
            let n = nodes_from_environment();
            match NODES.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(already) => already,
            }
        }
        n => n,
    }
}

/// One past the arena's last address: every node span is reserved in
/// every node process, so that any node's address is valid everywhere.
pub fn arena_end() -> usize {
    ARENA_BASE + node_count() * NODE_SPAN
}

/// The node whose span holds `addr` (its home), if it lies in the arena.
pub fn node_of(addr: usize) -> Option<usize> {
    (ARENA_BASE..arena_end())
        .contains(&addr)
        .then(|| (addr - ARENA_BASE) / NODE_SPAN)
}

fn nodes_from_environment() -> usize {
    std::env::var(NODES_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_NODES).contains(n))
        .unwrap_or(1)
}
pub(crate) const GRANULE_SHIFT: u32 = 12;
/// Placement granularity: one page. Regions pack back to back, so a bead
/// costs no mapping beyond its segments (a coarser granule would leave an
/// inaccessible gap after each bead: one more kernel mapping per bead, of
/// the 65,530 a process gets by default). The owner table is then 256 Mi
/// entries (1 GiB of address space, committed only where touched).
pub const GRANULE: usize = 1 << GRANULE_SHIFT;

const FREE_SLOTS: usize = 4096;

/// Errors from reserving or placing memory in the arena.
#[derive(Debug, thiserror::Error)]
pub enum ArenaError {
    /// the arena range 0x{base:x}..+{span:#x} cannot be reserved: {source}
    #[error("cannot reserve the arena at 0x{base:x} (+{span:#x} bytes): {source}")]
    Reserve {
        base: usize,
        span: usize,
        source: std::io::Error,
    },
    /// the arena is full
    #[error("arena exhausted: cannot place {len} more bytes (node span is {NODE_SPAN:#x})")]
    Exhausted { len: usize },
    /// mapping memory inside the arena failed
    #[error("cannot map {len} bytes at 0x{addr:x} in the arena: {source}")]
    Map {
        addr: usize,
        len: usize,
        source: std::io::Error,
    },
}

/// A granule-aligned span of the arena handed to one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub addr: usize,
    pub len: usize,
}

impl Region {
    pub fn end(&self) -> usize {
        self.addr + self.len
    }
    pub fn contains(&self, addr: usize) -> bool {
        (self.addr..self.end()).contains(&addr)
    }
}

pub(crate) struct Placement {
    /// Next never-used address.
    bump: usize,
    /// One past the last address of the span placing happens in.
    limit: usize,
    /// Returned regions, reused first-fit. A fixed array so that placing a
    /// region (which heap growth does from inside `malloc`) never allocates.
    free: [Region; FREE_SLOTS],
    free_len: usize,
}

/// The reserved range and the placement of regions inside it.
pub struct Arena {
    pub(crate) placement: Mutex<Placement>,
    next_owner: AtomicU32,
}

static GLOBAL: OnceLock<Result<Arena, String>> = OnceLock::new();

impl Arena {
    /// The process's arena, reserved on first use.
    pub fn global() -> Result<&'static Arena, ArenaError> {
        let r = GLOBAL.get_or_init(|| Arena::reserve().map_err(|e| e.to_string()));
        match r {
            Ok(a) => Ok(a),
            Err(msg) => Err(ArenaError::Reserve {
                base: ARENA_BASE,
                span: NODE_SPAN,
                source: std::io::Error::other(msg.clone()),
            }),
        }
    }

    fn reserve() -> Result<Arena, ArenaError> {
        let err = |source| ArenaError::Reserve {
            base: ARENA_BASE,
            span: NODE_SPAN,
            source,
        };
        sys::reserve_fixed(ARENA_BASE, node_count() * NODE_SPAN).map_err(err)?;
        owner::install_table().map_err(err)?;
        Ok(Arena {
            placement: Mutex::new(Placement {
                bump: ARENA_BASE,
                limit: ARENA_BASE + NODE_SPAN,
                free: [Region { addr: 0, len: 0 }; FREE_SLOTS],
                free_len: 0,
            }),
            next_owner: AtomicU32::new(1),
        })
    }

    /// Holds the placement lock without placing anything (see
    /// [`crate::ForkHold`]).
    pub(crate) fn hold_placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.placement.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh owner id for a new bead.
    pub fn new_owner(&self) -> OwnerId {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
    }

    /// Places a region of at least `len` bytes whose start is aligned to
    /// `align` (a power of two; at least [`GRANULE`]), owned by `owner`
    /// (0 = no bead). The region is reserved but inaccessible until
    /// [`Arena::commit`].
    pub fn place(&self, len: usize, align: usize, owner: OwnerId) -> Result<Region, ArenaError> {
        let len = round_up(len.max(1), GRANULE);
        let align = align.max(GRANULE);
        let mut p = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        let free_len = p.free_len;
        // First fit among returned regions with a suitable start.
        for i in 0..free_len {
            let f = p.free[i];
            let start = round_up(f.addr, align);
            if start + len <= f.end() {
                // Keep the unused tail (and head, if any) in the list.
                let tail = Region {
                    addr: start + len,
                    len: f.end() - (start + len),
                };
                let head = Region {
                    addr: f.addr,
                    len: start - f.addr,
                };
                p.free[i] = p.free[p.free_len - 1];
                p.free_len -= 1;
                for rest in [head, tail] {
                    if rest.len > 0 && p.free_len < FREE_SLOTS {
                        let n = p.free_len;
                        p.free[n] = rest;
                        p.free_len += 1;
                    }
                }
                drop(p);
                let r = Region { addr: start, len };
                // Released regions are cleared to owner 0.
                if owner != 0 {
                    owner::set_owner(r.addr, r.len, owner);
                }
                return Ok(r);
            }
        }
        let start = round_up(p.bump, align);
        if start + len > p.limit {
            return Err(ArenaError::Exhausted { len });
        }
        p.bump = start + len;
        drop(p);
        let r = Region { addr: start, len };
        // Never-used space has owner 0 already.
        if owner != 0 {
            owner::set_owner(r.addr, r.len, owner);
        }
        Ok(r)
    }

    /// Makes `[addr, addr+len)` (inside a freshly placed region) zeroed
    /// memory with protection `prot`. Pages are committed by the kernel on
    /// first touch.
    ///
    /// Placed regions are always untouched reservation (never used, or
    /// re-reserved by [`Arena::release`]), so their pages are zero.
    pub fn commit(&self, addr: usize, len: usize, prot: Protection) -> Result<(), ArenaError> {
        debug_assert!((ARENA_BASE..arena_end()).contains(&addr));
        // SAFETY: the range lies in the arena, which this process reserved, and
        // callers only commit ranges of regions they were given.
        unsafe { sys::protect(addr, len, prot) }.map_err(|source| ArenaError::Map {
            addr,
            len,
            source,
        })
    }

    /// Makes `[addr, addr+len)` (inside a committed region of the caller's)
    /// fault on any access: a stack guard.
    pub fn guard(&self, addr: usize, len: usize) -> Result<(), ArenaError> {
        debug_assert!((ARENA_BASE..arena_end()).contains(&addr));
        // SAFETY: the range lies in the arena and belongs to the caller, who
        // stores nothing there.
        unsafe { sys::guard(addr, len) }.map_err(|source| ArenaError::Map { addr, len, source })
    }

    /// Returns a region: its memory is discarded and its addresses reused.
    ///
    /// # Safety
    /// Nothing may use the region's memory afterwards.
    pub unsafe fn release(&self, region: Region) {
        // SAFETY: the region was placed by this arena, and the caller promises
        // nothing uses it any more.
        let _ = unsafe { sys::map_anonymous(region.addr, region.len, Protection::None) };
        if owner::owner_of(region.addr).is_some() {
            owner::set_owner(region.addr, region.len, 0);
        }
        let mut p = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        if p.free_len < FREE_SLOTS {
            let n = p.free_len;
            p.free[n] = region;
            p.free_len += 1;
        }
    }

    /// From now on places regions only in node `node`'s span (a DSM node
    /// process, once it has placed the program exactly as node 0 did).
    /// Returned regions of the span left behind are forgotten: they are
    /// node 0's addresses.
    pub fn enter_node_span(&self, node: usize) -> Result<(), ArenaError> {
        if node >= node_count() {
            return Err(ArenaError::Exhausted { len: NODE_SPAN });
        }
        let mut p = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        let base = ARENA_BASE + node * NODE_SPAN;
        p.bump = p.bump.max(base);
        p.limit = base + NODE_SPAN;
        p.free_len = 0;
        Ok(())
    }

    /// One past the highest address placed so far.
    pub fn placed_end(&self) -> usize {
        self.placement
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bump
    }

    /// Records `owner` as the owner of a placed region.
    pub fn set_owner(&self, region: Region, owner: OwnerId) {
        owner::set_owner(region.addr, region.len, owner);
    }

    /// Bytes of address space handed out so far (high-water mark).
    pub fn placed_bytes(&self) -> usize {
        self.placement
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bump
            - ARENA_BASE
    }
}

/// What the arena's placement was at a checkpoint: enough to go on placing
/// regions in a restored process without overlapping restored ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlacementState {
    pub bump: usize,
    pub free: Vec<(usize, usize)>,
    pub next_owner: OwnerId,
    /// Owned granule runs: (address, length, owner).
    pub owners: Vec<(usize, usize, OwnerId)>,
}

impl Arena {
    /// The placement state now.
    pub fn placement_state(&self) -> PlacementState {
        let p = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        let free = p.free[..p.free_len]
            .iter()
            .map(|r| (r.addr, r.len))
            .collect();
        let bump = p.bump;
        drop(p);
        let mut owners: Vec<(usize, usize, OwnerId)> = Vec::new();
        let mut a = ARENA_BASE;
        while a < bump {
            if let Some(o) = owner::owner_of(a) {
                match owners.last_mut() {
                    Some(last) if last.0 + last.1 == a && last.2 == o => last.1 += GRANULE,
                    _ => owners.push((a, GRANULE, o)),
                }
            }
            a += GRANULE;
        }
        PlacementState {
            bump,
            free,
            next_owner: self.next_owner.load(Ordering::Relaxed),
            owners,
        }
    }

    /// Makes the placement what `state` records (a restore: the regions it
    /// lists as placed are the restored process's from now on).
    pub fn restore_placement(&self, state: &PlacementState) {
        let mut p = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        p.bump = state.bump.max(p.bump);
        p.free_len = 0;
        for &(addr, len) in state.free.iter().take(FREE_SLOTS) {
            let n = p.free_len;
            p.free[n] = Region { addr, len };
            p.free_len += 1;
        }
        drop(p);
        self.next_owner
            .fetch_max(state.next_owner, Ordering::Relaxed);
        for &(addr, len, o) in &state.owners {
            owner::set_owner(addr, len, o);
        }
    }
}

pub(crate) fn round_up(x: usize, align: usize) -> usize {
    (x + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_aligned_owned_regions_and_reuses_released_ones() {
        let _serial = crate::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let arena = Arena::global().expect("arena");
        let id = arena.new_owner();
        let r = arena.place(100, GRANULE, id).unwrap();
        assert_eq!(r.addr % GRANULE, 0);
        assert_eq!(r.len, GRANULE);
        assert_eq!(crate::owner_of(r.addr + 5), Some(id));
        arena.commit(r.addr, r.len, Protection::ReadWrite).unwrap();
        // SAFETY: the region was just committed read-write and is ours.
        unsafe { *(r.addr as *mut u64) = 42 };
        let big = arena.place(3 * GRANULE, 4 * GRANULE, id).unwrap();
        assert_eq!(big.addr % (4 * GRANULE), 0);
        // SAFETY: nothing uses `r` any more.
        unsafe { arena.release(r) };
        assert_eq!(crate::owner_of(r.addr), None);
        let high_water = arena.placed_bytes();
        let again = arena.place(GRANULE, GRANULE, id + 1).unwrap();
        // Released address space (ours, or another test's) is reused before
        // fresh space is handed out.
        assert_eq!(
            arena.placed_bytes(),
            high_water,
            "released region is reused first"
        );
        arena
            .commit(again.addr, again.len, Protection::ReadWrite)
            .unwrap();
        // SAFETY: committed read-write just above.
        let first_word = unsafe { *(again.addr as *const u64) };
        assert_eq!(first_word, 0, "reused memory is zeroed");
    }
}
