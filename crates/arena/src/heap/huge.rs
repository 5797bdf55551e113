//! Blocks too big for TLSF: each gets an arena region of its own.
//!
//! TLSF's size classes end at 4 GiB (`rlsf`'s `GRANULARITY << FLLEN`), and
//! growing a heap by a few gigabytes for one block would keep them after
//! the block is freed. So a request of [`HUGE`] bytes or more gets its own
//! region, listed in the heap's huge-block table (in its first extent, like
//! the extent list), and given back to the arena when freed. The arena is
//! reserved `MAP_NORESERVE`, so such a block costs memory only for the
//! pages the bead touches — `malloc(16 GiB)` of which a program uses a
//! little works as natively (lazy commit).
//!
//! ```text
//!  region (page-aligned)
//!  | padding | Header 16 | user bytes (size) | canary 8 | rest of the page |
//!            ^user - 16  ^user                ^user + size
//! ```
//!
//! The header carries the same keyed digest as a TLSF block's (see
//! [`super::check`]), so frees are checked the same way.

use super::check::{self, HeapMisuse, HEADER};
use super::{Heap, Inner};
use crate::reserve::{round_up, Arena, Region, GRANULE};
use crate::sys::{page_size, Protection};

/// Requests from this size on get a region of their own.
pub(super) const HUGE: usize = 256 << 20;
/// Huge blocks a heap can have at once.
pub(super) const MAX_HUGE: usize = 64;

impl Inner {
    pub(super) fn huge(&self) -> &[Region] {
        // SAFETY: `huge` points at MAX_HUGE Regions in the heap's first
        // extent, of which the first `n_huge` are in use.
        unsafe { std::slice::from_raw_parts(self.huge, self.n_huge) }
    }

    /// The huge block whose region holds `p`, if any.
    pub(super) fn huge_holding(&self, p: usize) -> Option<usize> {
        self.huge().iter().position(|r| p >= r.addr && p < r.end())
    }

    fn forget_huge(&mut self, k: usize) -> Region {
        let r = self.huge()[k];
        let last = self.n_huge - 1;
        // SAFETY: both indices are below n_huge <= MAX_HUGE.
        unsafe { self.huge.add(k).write(*self.huge.add(last)) };
        self.n_huge = last;
        r
    }
}

impl Heap {
    /// A huge block of `size` bytes aligned to `align`, or null.
    pub(super) fn allocate_huge(&self, size: usize, align: usize) -> *mut u8 {
        let Ok(arena) = Arena::global() else {
            return std::ptr::null_mut();
        };
        let lead = round_up(HEADER, align);
        let Some(len) = lead
            .checked_add(size)
            .and_then(|n| n.checked_add(8 + page_size()))
            .map(|n| round_up(n, page_size()))
        else {
            return std::ptr::null_mut();
        };
        let mut g = self.locked();
        if g.n_huge == MAX_HUGE {
            return std::ptr::null_mut();
        }
        let Ok(region) = arena.place(len, GRANULE.max(align), self.owner) else {
            return std::ptr::null_mut();
        };
        if arena
            .commit(region.addr, region.len, Protection::ReadWrite)
            .is_err()
        {
            // SAFETY: the region was never used.
            unsafe { arena.release(region) };
            return std::ptr::null_mut();
        }
        let user = region.addr + lead;
        // SAFETY: `user - HEADER` and the 8 bytes after the user bytes lie in
        // the committed region (`len` counts both).
        unsafe { check::seal_huge(self.key, region.addr, user, size) };
        let n = g.n_huge;
        // SAFETY: n < MAX_HUGE (checked above).
        unsafe { g.huge.add(n).write(region) };
        g.n_huge += 1;
        g.in_use += size;
        user as *mut u8
    }

    /// Frees the huge block at `p` (whose region is huge block `k`), after
    /// checking it; gives its region back.
    pub(super) fn free_huge(&self, g: &mut Inner, k: usize, p: usize) -> Result<(), HeapMisuse> {
        let region = g.huge()[k];
        // SAFETY: the region is committed memory of this heap; the caller
        // holds its lock.
        let size = unsafe { check::validate_huge(self.key, region, p) }?;
        g.forget_huge(k);
        g.in_use -= size;
        if let Ok(arena) = Arena::global() {
            // SAFETY: the block was live and is freed now: nothing of the
            // bead may use it any more (C's contract for free).
            unsafe { arena.release(region) };
        }
        Ok(())
    }

    /// `realloc` of the huge block at `p` (block `k`) to `size` bytes
    /// without copying: in place if its region has room, else its pages
    /// move to a larger region (`mremap`), so untouched pages stay
    /// untouched. `None` if `size` is not huge (the caller copies).
    pub(super) fn reallocate_huge(
        &self,
        g: &mut Inner,
        k: usize,
        p: usize,
        size: usize,
    ) -> Result<Option<*mut u8>, HeapMisuse> {
        let region = g.huge()[k];
        // SAFETY: as in `free_huge`.
        let old = unsafe { check::validate_huge(self.key, region, p) }?;
        let lead = p - region.addr;
        if size + HEADER < HUGE {
            return Ok(None);
        }
        let Some(len) = lead
            .checked_add(size)
            .and_then(|n| n.checked_add(8 + page_size()))
            .map(|n| round_up(n, page_size()))
        else {
            return Ok(Some(std::ptr::null_mut()));
        };
        let Ok(arena) = Arena::global() else {
            return Ok(Some(std::ptr::null_mut()));
        };
        let target = if len <= region.len {
            region
        } else {
            let Ok(fresh) = arena.place(len, GRANULE, self.owner) else {
                return Ok(Some(std::ptr::null_mut()));
            };
            // SAFETY: moves the pages of the huge block's own region onto
            // `fresh`, a region just placed for this heap (MREMAP_FIXED
            // replaces its reservation); the old range is then re-reserved
            // by `release`. Nothing else uses either range: the caller holds
            // the heap's lock and C's realloc contract gives us `p`.
            let moved = unsafe {
                libc::mremap(
                    region.addr as *mut libc::c_void,
                    region.len,
                    fresh.len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    fresh.addr as *mut libc::c_void,
                )
            };
            if moved == libc::MAP_FAILED {
                // SAFETY: `fresh` was never used (mremap failed).
                unsafe { arena.release(fresh) };
                return Ok(Some(std::ptr::null_mut()));
            }
            // SAFETY: the old range's pages moved away; nothing refers to it.
            unsafe { arena.release(region) };
            // SAFETY: k < n_huge.
            unsafe { g.huge.add(k).write(fresh) };
            fresh
        };
        let user = target.addr + lead;
        // SAFETY: the header and the new canary lie in `target` (`len`
        // counts both); the user bytes moved with the pages.
        unsafe { check::seal_huge(self.key, target.addr, user, size) };
        g.in_use = g.in_use - old + size;
        Ok(Some(user as *mut u8))
    }

    /// The size of the huge block at `p`, checked, without freeing it.
    pub(super) fn huge_size(&self, g: &Inner, k: usize, p: usize) -> Result<usize, HeapMisuse> {
        // SAFETY: as in `free_huge`.
        unsafe { check::validate_huge(self.key, g.huge()[k], p) }
    }
}
