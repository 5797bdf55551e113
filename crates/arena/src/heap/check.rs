//! What a heap checks before it takes a block back.
//!
//! A bead's code hands `free` whatever it likes: a pointer into the middle
//! of a block, one already freed, one on its stack, one into a block whose
//! end it overwrote. TLSF trusts its input, so a heap validates every block
//! it is handed back, and refuses with a [`HeapMisuse`] instead of
//! corrupting itself (or crashing later, far from the bug).
//!
//! ```text
//!  a used block, as TLSF lays it out (GRANULARITY = 32 bytes):
//!
//!  block                                                        next block
//!  | size|USED | prev_phys | size | offset | check | user bytes | tail | size | prev_phys |
//!  |<- TLSF's header 16 ->|<---- Header 16 ------>|^user        ^user+size
//!                                                               |<- canary: up to 8 bytes of
//!                                                                   the slack, if any
//!
//!  after free, if TLSF did not merge it into the block before it:
//!  | size (USED clear) | prev_phys | next_free | prev_free | ...
//! ```
//!
//! * `check` is a 32-bit digest of the user address, size, offset and the
//!   heap's secret key, tagged *live* or *freed*. A pointer whose header does
//!   not carry the live digest is not a block this heap handed out (or its
//!   header was overwritten): **invalid free**. The digest carries the key
//!   so that data written by the bead cannot pass for a header by accident.
//! * Freeing writes the *freed* digest first. A second free finds it (if the
//!   block was merged into a free block before it, its header is intact),
//!   or finds TLSF's free-block header at the block's start, confirmed by
//!   the next block's back pointer (if TLSF made the block a free block of
//!   its own, whose list pointers cover `Header`): **double free**.
//! * The canary after the user bytes, and the next block's TLSF header (its
//!   size must be sane and its `prev_phys` must point back at this block),
//!   catch writes past the end: **heap overflow**. So does the block's own
//!   `prev_phys`, whose block must end where this one starts: TLSF merges a
//!   freed block with its neighbours, and would trust a damaged header.
//!
//! The digest is one multiply; the canary one store and one load; the next
//! header one cache line. The layout of TLSF's header (size word with the
//! USED bit, then `prev_phys`) is `rlsf` 0.2's, pinned by `Cargo.lock` and by
//! the tests below.

use rlsf::GRANULARITY;

use crate::reserve::Region;

/// The bytes before every user pointer.
#[repr(C)]
pub(super) struct Header {
    /// Bytes the caller asked for.
    pub size: usize,
    /// `user - raw`: where TLSF's allocation starts, below the user bytes.
    pub offset: u32,
    /// [`digest`] of the above (XOR [`FREED`] once freed).
    pub check: u32,
}

pub(super) const HEADER: usize = std::mem::size_of::<Header>();

/// TLSF's own header before the address it returns (size word, prev_phys).
const TLSF_HEADER: usize = GRANULARITY / 2;
/// The USED bit of TLSF's size word.
const USED: usize = 1;
const SIZE_MASK: usize = !(GRANULARITY - 1);

/// What tells a freed block's digest from a live one's: XORed into the
/// digest (bit 0 clear, so the digest stays non-zero).
const FREED: u32 = 0x5eed_f4ee;

/// Why a heap refused a pointer it was handed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeapMisuse {
    /// The pointer is not memory of this heap at all.
    #[error("{ptr:#x} is not memory of this heap")]
    NotInHeap { ptr: usize },
    /// The pointer lies in the heap but is not the start of a live block
    /// (a pointer into a block, or a block whose header was overwritten).
    #[error("{ptr:#x} is not the start of a block this heap handed out")]
    NotABlock { ptr: usize },
    /// The block was freed already.
    #[error("{ptr:#x} was freed already")]
    DoubleFree { ptr: usize },
    /// Bytes past the end of the block were overwritten: its tail, or
    /// (`into_next`) the header of the block after it.
    #[error("the block of {size} bytes at {ptr:#x} was written past its end")]
    Overflow {
        ptr: usize,
        size: usize,
        into_next: bool,
    },
    /// The block before this one was written past its end, over this
    /// block's TLSF header (which a free would have to trust).
    #[error("the block before {ptr:#x} was written past its end, over this block's header")]
    OverrunFromBefore { ptr: usize },
}

impl HeapMisuse {
    /// The kind, as diagnostics name it.
    pub fn kind(&self) -> &'static str {
        match self {
            HeapMisuse::NotInHeap { .. } | HeapMisuse::NotABlock { .. } => "invalid free",
            HeapMisuse::DoubleFree { .. } => "double free",
            HeapMisuse::Overflow { .. } | HeapMisuse::OverrunFromBefore { .. } => {
                "heap overflow detected"
            }
        }
    }
}

/// The digest stored in a live block's header: user address, size, offset
/// and the heap's key, mixed by one multiply; never 0 (a free block's list
/// pointer is often 0 there). A freed block's is this XOR [`FREED`].
#[inline]
pub(super) fn digest(key: u64, user: usize, size: usize, offset: u32) -> u32 {
    let x = (user as u64 ^ key)
        .wrapping_add((size as u64).rotate_left(24) ^ (u64::from(offset) << 40))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) as u32) | 1
}

/// The canary bytes written after a block's user bytes.
#[inline]
fn canary(key: u64, user: usize) -> [u8; 8] {
    (key ^ (user as u64).rotate_left(17)).to_le_bytes()
}

/// The end of the TLSF block that starts at `block` (a used block).
///
/// # Safety
/// `block` must be readable (the start of a used TLSF block).
#[inline]
unsafe fn block_end(block: usize) -> usize {
    // SAFETY: caller contract.
    block + (unsafe { *(block as *const usize) } & SIZE_MASK)
}

/// Writes the header and tail canary of a block TLSF just returned at `raw`
/// (a 16-aligned request), whose user bytes start at `user`.
///
/// # Safety
/// `raw` must be what the heap's TLSF returned for a request of at least
/// `user - raw + size` bytes, `HEADER <= user - raw`.
#[inline]
pub(super) unsafe fn seal(key: u64, raw: usize, user: usize, size: usize) {
    let offset = (user - raw) as u32;
    // SAFETY: caller contract: the header lies inside the block, 8-aligned.
    unsafe {
        ((user - HEADER) as *mut Header).write(Header {
            size,
            offset,
            check: digest(key, user, size, offset),
        });
    }
    // SAFETY: `raw - TLSF_HEADER` is the block TLSF just made.
    let end = unsafe { block_end(raw - TLSF_HEADER) };
    let tail = user + size;
    let canary = canary(key, user);
    if end - tail >= 8 {
        // SAFETY: the 8 bytes after the user bytes lie inside the block.
        unsafe { (tail as *mut [u8; 8]).write_unaligned(canary) };
    } else {
        for (i, &byte) in canary.iter().enumerate().take(end - tail) {
            // SAFETY: as above, byte by byte up to the block's end.
            unsafe { ((tail + i) as *mut u8).write(byte) };
        }
    }
}

/// Writes the header and tail canary of a huge block (see `huge`): its
/// region starts at `raw`, its user bytes at `user`, and 8 bytes after them
/// are the region's.
///
/// # Safety
/// `[user - HEADER, user + size + 8)` must be writable memory of the region.
pub(super) unsafe fn seal_huge(key: u64, raw: usize, user: usize, size: usize) {
    let offset = (user - raw) as u32;
    // SAFETY: caller contract.
    unsafe {
        ((user - HEADER) as *mut Header).write(Header {
            size,
            offset,
            check: digest(key, user, size, offset),
        });
        ((user + size) as *mut [u8; 8]).write_unaligned(canary(key, user));
    }
}

/// Checks that `user` is the live huge block of `region`, whole; its size.
///
/// # Safety
/// `region` must be committed memory of the heap, whose lock the caller
/// holds.
pub(super) unsafe fn validate_huge(
    key: u64,
    region: Region,
    user: usize,
) -> Result<usize, HeapMisuse> {
    if user < region.addr + HEADER || !user.is_multiple_of(16) {
        return Err(HeapMisuse::NotABlock { ptr: user });
    }
    // SAFETY: `user - HEADER` lies in the region (checked above), 8-aligned.
    let h = unsafe { ((user - HEADER) as *const Header).read() };
    let live = digest(key, user, h.size, h.offset);
    if h.check != live {
        return Err(if h.check == live ^ FREED {
            HeapMisuse::DoubleFree { ptr: user }
        } else {
            HeapMisuse::NotABlock { ptr: user }
        });
    }
    // The digest matched: size and offset are the sealed ones, so the
    // canary lies in the region.
    // SAFETY: `[user + size, + 8)` lies in the region (allocate_huge).
    if unsafe { ((user + h.size) as *const [u8; 8]).read_unaligned() } != canary(key, user) {
        return Err(HeapMisuse::Overflow {
            ptr: user,
            size: h.size,
            into_next: false,
        });
    }
    Ok(h.size)
}

/// Whether the canary after the user bytes `[user, tail)` of a block ending
/// at `end` is intact.
///
/// # Safety
/// `[tail, end)` must be the block's slack.
#[inline]
unsafe fn canary_intact(key: u64, user: usize, tail: usize, end: usize) -> bool {
    let canary = canary(key, user);
    if end - tail >= 8 {
        // SAFETY: caller contract: 8 bytes of slack.
        unsafe { (tail as *const [u8; 8]).read_unaligned() == canary }
    } else {
        canary
            .iter()
            .enumerate()
            .take(end - tail)
            // SAFETY: caller contract, byte by byte up to the block's end.
            .all(|(i, &byte)| unsafe { ((tail + i) as *const u8).read() } == byte)
    }
}

/// A block that passed [`validate`].
pub(super) struct LiveBlock {
    /// Where TLSF's allocation starts.
    pub raw: usize,
    /// Bytes the caller asked for.
    pub size: usize,
}

/// The extent among `extents` holding `[p - 2 * HEADER, p)`.
fn extent_of(extents: &[Region], p: usize) -> Option<Region> {
    extents
        .iter()
        .copied()
        .find(|r| p >= r.addr + TLSF_HEADER + HEADER && p < r.end())
}

/// Checks that `user` is a live block of the heap with these `extents` and
/// `key`, whole and with its neighbour's header intact.
///
/// # Safety
/// Every extent must be committed memory of the heap, whose lock the caller
/// holds.
pub(super) unsafe fn validate(
    key: u64,
    extents: &[Region],
    user: usize,
) -> Result<LiveBlock, HeapMisuse> {
    let Some(extent) = extent_of(extents, user) else {
        return Err(HeapMisuse::NotInHeap { ptr: user });
    };
    if !user.is_multiple_of(16) {
        return Err(HeapMisuse::NotABlock { ptr: user });
    }
    // SAFETY: `user - HEADER` lies in the extent (extent_of), 8-aligned.
    let h = unsafe { ((user - HEADER) as *const Header).read() };
    let live = digest(key, user, h.size, h.offset);
    if h.check != live {
        let freed = h.check == live ^ FREED
            // SAFETY: as above, for the 32 bytes below `user`.
            || unsafe { is_free_block(extent, user - HEADER - TLSF_HEADER) };
        return Err(if freed {
            HeapMisuse::DoubleFree { ptr: user }
        } else {
            HeapMisuse::NotABlock { ptr: user }
        });
    }
    let raw = user - h.offset as usize;
    let block = raw - TLSF_HEADER;
    let overflow = |into_next| HeapMisuse::Overflow {
        ptr: user,
        size: h.size,
        into_next,
    };
    // The digest matched, so offset and size are the ones sealed; TLSF's
    // size word and the next header are what an overflow of the block before
    // (or of this one) damages.
    // SAFETY: `block` lies in the extent: `raw` is at least HEADER below
    // `user` and TLSF put its header right before it.
    let word = unsafe { *(block as *const usize) };
    let end = block + (word & SIZE_MASK);
    if word & USED == 0 || end < user + h.size || end + TLSF_HEADER > extent.end() {
        return Err(HeapMisuse::NotABlock { ptr: user });
    }
    // SAFETY: `end` and `end + 8` lie in the extent (checked above): every
    // block, the last one included, is followed by another (TLSF ends each
    // pool with a sentinel block).
    let (next_size, next_prev) = unsafe { (*(end as *const usize), *((end + 8) as *const usize)) };
    let next_end = end.wrapping_add(next_size & SIZE_MASK);
    if next_prev != block || next_size & SIZE_MASK == 0 || next_end > extent.end() {
        return Err(overflow(true));
    }
    // SAFETY: `block + 8` lies in the extent (checked above).
    let prev = unsafe { *((block + 8) as *const usize) };
    if prev != 0 {
        let ends_here = prev >= extent.addr && prev < block && {
            // SAFETY: `prev` lies in the extent, below `block`.
            let word = unsafe { *(prev as *const usize) };
            prev + (word & SIZE_MASK) == block
        };
        if !ends_here {
            return Err(HeapMisuse::OverrunFromBefore { ptr: user });
        }
    }
    // SAFETY: `[user + size, end)` is the block's slack (`end` was checked
    // against the sealed size above).
    if !unsafe { canary_intact(key, user, user + h.size, end) } {
        return Err(overflow(false));
    }
    Ok(LiveBlock { raw, size: h.size })
}

/// Marks a validated block freed (before TLSF takes it back).
///
/// # Safety
/// `user` must have passed [`validate`] under the lock still held.
pub(super) unsafe fn mark_freed(user: usize) {
    let h = (user - HEADER) as *mut Header;
    // SAFETY: caller contract: the header is the block's, intact.
    unsafe { (*h).check ^= FREED };
}

/// Whether `block` is the header of a free TLSF block: USED clear, a sane
/// size, and the next block pointing back at it.
///
/// # Safety
/// `[block, block + 16)` must lie in `extent`.
unsafe fn is_free_block(extent: Region, block: usize) -> bool {
    // SAFETY: caller contract.
    let word = unsafe { *(block as *const usize) };
    let next = block.wrapping_add(word);
    if word & USED != 0 || word < GRANULARITY || word & !SIZE_MASK != 0 {
        return false;
    }
    if next < block || next + TLSF_HEADER > extent.end() {
        return false;
    }
    // SAFETY: `next + 8` lies in the extent (checked above).
    unsafe { *((next + 8) as *const usize) == block }
}
