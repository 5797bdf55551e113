//! What distributed shared memory plugs into: a fault claimant asked first
//! for every SIGSEGV, and an interposer lookup consulted before the
//! runtime's own table (so that a DSM node's program binds its `pthread_*`
//! calls to the DSM runtime), plus the node-local pthread calls the DSM
//! runtime builds on.
//!
//! Both hooks are set once, before the program is loaded, and never
//! change: a signal handler reads them without locks.

use std::sync::OnceLock;

/// Resolves a page fault at `addr` (`write`: a write access); true if it
/// did (the access is retried), false if the address is not DSM memory.
pub type FaultClaimant = fn(addr: usize, write: bool) -> bool;

/// The DSM runtime's definition of an imported symbol, if it has one.
pub type Interposer = fn(name: &str) -> Option<u64>;

/// Whether `addr` is a block of another node's heap (`free`: and hands it
/// back to that node to free).
pub type ForeignBlock = fn(addr: usize, free: bool) -> bool;

static CLAIMANT: OnceLock<FaultClaimant> = OnceLock::new();
static FOREIGN: OnceLock<ForeignBlock> = OnceLock::new();

/// Installs the DSM test for other nodes' heap blocks (once).
pub fn set_foreign_block(f: ForeignBlock) -> bool {
    FOREIGN.set(f).is_ok()
}

/// `free`/`realloc` of arena memory: is it another node's block (and,
/// with `free`, was it handed back)?
pub(crate) fn foreign_block(addr: usize, free: bool) -> bool {
    FOREIGN.get().is_some_and(|f| f(addr, free))
}
static INTERPOSER: OnceLock<Interposer> = OnceLock::new();

/// Installs the DSM fault claimant (once; false if one was already set).
pub fn set_fault_claimant(claimant: FaultClaimant) -> bool {
    CLAIMANT.set(claimant).is_ok()
}

/// Installs the DSM interposer lookup (once; false if one was already set).
pub fn set_interposer(lookup: Interposer) -> bool {
    INTERPOSER.set(lookup).is_ok()
}

pub(crate) fn claim(addr: usize, write: bool) -> bool {
    CLAIMANT.get().is_some_and(|c| c(addr, write))
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    INTERPOSER.get().and_then(|l| l(name))
}

/// The runtime's own definition of `name`, bypassing the DSM interposer
/// (what a DSM interposer falls back to).
pub fn runtime_definition(name: &str) -> Option<u64> {
    crate::table::lookup_own(name)
}

/// `pthread_create` on this node: a string in the caller's weave.
///
/// # Safety
/// As `pthread_create`.
pub unsafe fn create_local(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { crate::pthread::create(out, attr, start, arg) }
}

/// `pthread_join` of a thread of this node (works outside strings too).
///
/// # Safety
/// As `pthread_join`.
pub unsafe fn join_local(thread: u64, result: *mut u64) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { crate::pthread::join(thread, result) }
}

/// `pthread_detach` of a thread of this node.
pub fn detach_local(thread: u64) -> i32 {
    // SAFETY: detach only looks the id up.
    unsafe { crate::pthread::detach(thread) }
}

/// `pthread_exit` on this node.
///
/// # Safety
/// As `pthread_exit`: ends the calling thread.
pub unsafe fn exit_local(value: u64) {
    // SAFETY: the caller's contract.
    unsafe { crate::pthread::exit(value) }
}

/// `pthread_self` on this node.
pub fn self_local() -> u64 {
    crate::pthread::self_()
}

/// Makes the thread-specific data key `key` exist on this node with
/// `destructor` (a key made on another node); false if it is not a key of
/// the runtime's.
pub fn adopt_key(key: u32, destructor: usize) -> bool {
    crate::tsd::ensure_key(key, destructor)
}

/// The runtime's thread-specific data key number `n` (0-based), as a DSM
/// manager hands keys out.
pub fn runtime_key(n: u32) -> Option<u32> {
    crate::tsd::key_of_slot(n)
}
