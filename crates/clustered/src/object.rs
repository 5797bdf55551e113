//! A clustered object: one reference, an implementation behind it that can
//! change, and the call path every method goes through.
//!
//! ## The call path
//!
//! ```text
//!   call(f) ── enter generation (per-CPU counter) ── read phase
//!      Normal   → f(current root)                          (the fast path)
//!      Forward  → count as forwarded, mark "inside", f(current root)
//!      Block    → inside already? let through: f(current root)
//!                 otherwise leave the generation, wait for the swap, retry
//! ```
//!
//! ## Who may touch what
//!
//! `current` points at the live [`Root`]. Only a swap replaces it, and only
//! while every call is blocked and every call that could have read the old
//! pointer has left (see [`crate::mediator`]); that is also what makes
//! freeing the old root safe. `phase` is written only by the swap holding
//! `swapping`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::generation::Generations;
use crate::root::Root;
use crate::table::{self, ObjectId};
use crate::Implementation;

pub(crate) const NORMAL: u8 = 0;
pub(crate) const FORWARD: u8 = 1;
pub(crate) const BLOCK: u8 = 2;

/// Where a swap stands, as callers see it (transfer and completion happen
/// while calls are blocked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No swap: calls go straight to the live root.
    Normal,
    /// A mediator counts calls and waits for older ones to leave.
    Forward,
    /// New calls wait; re-entrant ones go through.
    Block,
}

/// An object whose representatives are `R`s (often a `dyn Trait`).
pub struct Clustered<R: ?Sized + 'static> {
    pub(crate) id: ObjectId,
    /// Unique for the process's lifetime (ids in the table are reused).
    pub(crate) serial: u64,
    pub(crate) cpus: usize,
    pub(crate) generations: Generations,
    pub(crate) phase: AtomicU8,
    pub(crate) current: AtomicPtr<Root<R>>,
    /// Held by the swap in progress.
    pub(crate) swapping: Mutex<()>,
    /// Blocked callers wait on this (with `released`) for the swap to end.
    pub(crate) released: Mutex<()>,
    pub(crate) wake: Condvar,
    pub(crate) forwarded: AtomicU64,
    pub(crate) blocked: AtomicU64,
    pub(crate) let_through: AtomicU64,
    pub(crate) swaps: AtomicU64,
}

// SAFETY: the raw `current` pointer is an owned `Box<Root<R>>` (freed in
// Drop or by a swap once no call can use it); a Root<R> is shared between
// threads only as `&Root<R>`, which is Send + Sync when R is Sync + Send.
unsafe impl<R: ?Sized + Send + Sync> Send for Clustered<R> {}
// SAFETY: as above; every other field is Sync.
unsafe impl<R: ?Sized + Send + Sync> Sync for Clustered<R> {}

/// What a method sees during a call: the live root and the caller's CPU.
pub struct Ctx<'a, R: ?Sized> {
    root: &'a Root<R>,
    cpu: usize,
}

impl<'a, R: ?Sized + 'static> Ctx<'a, R> {
    /// This CPU's representative (made by the miss handler on first use).
    #[inline]
    pub fn rep(&self) -> &'a R {
        self.root.rep_for_cpu(self.cpu)
    }

    /// The whole root: every representative made so far.
    pub fn root(&self) -> &'a Root<R> {
        self.root
    }

    /// The CPU the call entered on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

thread_local! {
    /// How many clustered calls this thread is inside, of any object.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Objects (by serial) this thread is inside through the mediator.
    static INSIDE: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks the thread as inside a call until dropped.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        DEPTH.with(|d| d.set(d.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Marks the thread as inside one object through the mediator.
struct Inside(u64);

impl Inside {
    fn enter(serial: u64) -> Inside {
        INSIDE.with(|v| v.borrow_mut().push(serial));
        Inside(serial)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.with(|v| {
            let mut v = v.borrow_mut();
            if let Some(at) = v.iter().rposition(|&s| s == self.0) {
                v.remove(at);
            }
        });
    }
}

fn inside(serial: u64) -> bool {
    INSIDE.with(|v| v.borrow().contains(&serial))
}

/// Whether the calling thread is inside any clustered call.
pub(crate) fn inside_any() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

impl<R: ?Sized + Send + Sync + 'static> Clustered<R> {
    /// A new object running `imp`, listed in the translation table.
    pub fn new(imp: Arc<dyn Implementation<R>>) -> Arc<Self> {
        Self::with_cpus(imp, crate::cpu::count())
    }

    /// As [`Clustered::new`], sized for `cpus` CPUs (CPU ids beyond wrap).
    pub fn with_cpus(imp: Arc<dyn Implementation<R>>, cpus: usize) -> Arc<Self> {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let cpus = cpus.max(1);
        let root = Box::new(Root::new(imp, cpus));
        let object = Arc::new(Clustered {
            id: table::reserve(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            cpus,
            generations: Generations::new(cpus),
            phase: AtomicU8::new(NORMAL),
            current: AtomicPtr::new(Box::into_raw(root)),
            swapping: Mutex::new(()),
            released: Mutex::new(()),
            wake: Condvar::new(),
            forwarded: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            let_through: AtomicU64::new(0),
            swaps: AtomicU64::new(0),
        });
        table::fill(&object);
        object
    }

    /// Its id in the translation table.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Calls `f` with the live implementation's root and this CPU.
    #[inline]
    pub fn call<T>(&self, f: impl FnOnce(Ctx<'_, R>) -> T) -> T {
        let (cpu, token, _inside) = loop {
            let cpu = crate::cpu::current();
            let token = self.generations.enter(cpu);
            match self.phase.load(Ordering::SeqCst) {
                NORMAL => break (cpu, token, None),
                FORWARD => {
                    self.forwarded.fetch_add(1, Ordering::Relaxed);
                    break (cpu, token, Some(Inside::enter(self.serial)));
                }
                _ if inside(self.serial) => {
                    // A call from inside a call already under way: blocking
                    // it would wait for the swap, which waits for the outer
                    // call to end. Let it through to the old implementation.
                    self.let_through.fetch_add(1, Ordering::Relaxed);
                    break (cpu, token, Some(Inside::enter(self.serial)));
                }
                _ => {
                    drop(token);
                    self.blocked.fetch_add(1, Ordering::Relaxed);
                    self.wait_for_release();
                }
            }
        };
        let _depth = Depth::enter();
        // SAFETY: `current` always points at a live Root. A swap frees the
        // one it replaces only after every call that read the pointer has
        // left the generation it entered, and this call holds `token` (its
        // generation) until `f` returns.
        let root = unsafe { &*self.current.load(Ordering::Acquire) };
        let result = f(Ctx { root, cpu });
        drop(token);
        result
    }

    fn wait_for_release(&self) {
        let mut guard = self.released.lock().unwrap_or_else(|e| e.into_inner());
        while self.phase.load(Ordering::SeqCst) == BLOCK {
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The live implementation's name.
    pub fn implementation(&self) -> &'static str {
        self.call(|c| c.root().implementation().name())
    }

    /// Where a swap of this object stands.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            NORMAL => Phase::Normal,
            FORWARD => Phase::Forward,
            _ => Phase::Block,
        }
    }

    /// Calls the swap in progress (or the last one) forwarded, blocked and
    /// let through so far.
    pub fn mediated(&self) -> (u64, u64, u64) {
        (
            self.forwarded.load(Ordering::Relaxed),
            self.blocked.load(Ordering::Relaxed),
            self.let_through.load(Ordering::Relaxed),
        )
    }

    /// Swaps completed so far.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl<R: ?Sized + 'static> Drop for Clustered<R> {
    fn drop(&mut self) {
        table::unregister(self.id, self.serial);
        // SAFETY: no call can be in progress on an object being dropped
        // (calls borrow it); `current` is the Box made by `with_cpus` or a
        // swap, freed exactly once, here.
        drop(unsafe { Box::from_raw(*self.current.get_mut()) });
    }
}
