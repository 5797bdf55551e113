//! # The arena: every byte the runtime owns, at an address it chose
//!
//! A tapestry's beads, their heaps, its strings' stacks and its TLS blocks all
//! live inside one virtual range reserved at a fixed address when the runtime
//! starts. Keeping runtime-owned memory at known addresses is what later makes
//! checkpoint/restore into a new process, migration and distributed shared
//! memory possible without fixing up pointers.
//!
//! ```text
//!  ARENA_BASE (0x2000_0000_0000)                         ARENA_BASE + NODE_SPAN
//!  |<------------------------- node 0: 1 TiB ------------------------------->|
//!  | bead image | heap extent | stack | bead image | ...bump...  | unreserved  |
//!  |<-- page granules: each one records the bead that owns it (owner table) ->|
//! ```
//!
//! * [`Arena`] reserves the range `PROT_NONE | MAP_NORESERVE` (costs no memory),
//!   hands out [`Region`]s aligned to [`GRANULE`] and records, per granule, the
//!   [`OwnerId`] of the bead the region belongs to. [`owner_of`] answers "which
//!   bead owns this address?" in O(1) without locks or allocation, which is what
//!   the interposed `malloc`/`free` need.
//! * [`Heap`] is a bead's private heap: a TLSF allocator (O(1) allocate/free,
//!   bounded fragmentation) over extents taken from the arena. Its own metadata
//!   lives inside its first extent, so a heap is entirely arena memory.
//!
//! Nothing in this crate allocates through the global allocator on the paths
//! that `malloc` may take: those paths must not re-enter `malloc`.

mod fork;
mod heap;
mod owner;
mod reserve;
mod sys;

pub use fork::ForkHold;
pub use heap::{
    abandon_held_heap, adopt_heap, existing_heap, heap_for, Heap, HeapMisuse, HeapStats,
};
pub use owner::{owner_of, OwnerId};
pub use reserve::{
    arena_end, node_count, node_of, Arena, ArenaError, PlacementState, Region, ARENA_BASE, GRANULE,
    MAX_NODES, NODES_VAR, NODE_SPAN,
};
pub use sys::{page_size, Protection};

/// Tests that assert on placement share the process-wide arena: they take
/// this lock so that one test's releases cannot be reused by another.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
