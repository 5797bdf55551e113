//! Fibers on arena stacks.
//!
//! ```text
//!  slab (one commit for SLAB_STACKS stacks; adjacent slabs merge into one
//!  kernel mapping):
//!  | guard | stack 0, grows down <-- | guard | stack 1 <-- | ... |
//!    ^ limit()                     ^ base()
//! ```
//!
//! Stacks are committed `MAP_NORESERVE`: a large stack (Fortran codes with
//! big automatic arrays want hundreds of MiB) costs only the pages the
//! string touches. Making a stack is the main cost of starting a string, so
//! stacks are carved from slabs (one `mprotect` per slab), guards are
//! lightweight guard regions where the kernel has them (no new kernel
//! mapping per stack), and a finished string's stack goes back to a free
//! list for the next string of the same size.

use std::collections::HashMap;
use std::sync::Mutex;

use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use weaves_arena::{Arena, ArenaError, Protection, GRANULE};

use crate::ctx::{Enter, ExecCtx, Suspend};

/// Inaccessible bytes below every fiber stack: a frame larger than this could
/// jump over the guard, so it is generous.
pub const STACK_GUARD: usize = 64 << 10;

/// Stack size of a string unless its tapestry says otherwise.
pub const DEFAULT_STACK: usize = 8 << 20;

/// Stacks carved from one slab.
const SLAB_STACKS: usize = 64;

/// A fiber stack inside the arena, with a guard region below it.
pub struct FiberStack {
    /// Lowest address (the guard's).
    low: usize,
    /// Usable bytes above the guard.
    usable: usize,
}

/// Per usable size: the current slab's next free stack and its end, and
/// stacks that finished strings gave back.
struct Stacks {
    slabs: HashMap<usize, (usize, usize)>,
    free: HashMap<usize, Vec<usize>>,
}

static STACKS: Mutex<Option<Stacks>> = Mutex::new(None);

impl FiberStack {
    /// The usable size a stack asked to be `size` bytes gets.
    pub fn usable_for(size: usize) -> usize {
        (size.max(64 << 10) + GRANULE - 1) & !(GRANULE - 1)
    }

    /// Usable bytes (guard excluded).
    pub fn usable(&self) -> usize {
        self.usable
    }

    /// A stack of at least `size` usable bytes: a reused one, or one carved
    /// from a slab.
    pub fn new(size: usize) -> Result<FiberStack, ArenaError> {
        let usable = FiberStack::usable_for(size);
        let span = usable + STACK_GUARD;
        let mut g = STACKS.lock().unwrap_or_else(|e| e.into_inner());
        let st = g.get_or_insert_with(|| Stacks {
            slabs: HashMap::new(),
            free: HashMap::new(),
        });
        if let Some(low) = st.free.get_mut(&usable).and_then(Vec::pop) {
            return Ok(FiberStack { low, usable });
        }
        let arena = Arena::global()?;
        let (next, end) = st.slabs.get(&usable).copied().unwrap_or((0, 0));
        let low = if next + span <= end {
            next
        } else {
            let region = arena.place(span * SLAB_STACKS, GRANULE, 0)?;
            arena.commit(region.addr, region.len, Protection::ReadWrite)?;
            region.addr
        };
        st.slabs.insert(
            usable,
            (
                low + span,
                if next + span <= end {
                    end
                } else {
                    low + span * SLAB_STACKS
                },
            ),
        );
        drop(g);
        arena.guard(low, STACK_GUARD)?;
        Ok(FiberStack { low, usable })
    }

    /// Makes `count` stacks of at least `size` usable bytes ahead of need
    /// and puts them on the free list, each with its guard installed and
    /// its top page present: starting a string on one costs no system
    /// call and no page fault. Stops early, with the error, if the arena
    /// cannot hold more.
    pub fn provision(size: usize, count: usize) -> Result<(), ArenaError> {
        let mut made = Vec::with_capacity(count);
        for _ in 0..count {
            let stack = FiberStack::new(size)?;
            let top = stack.low + STACK_GUARD + stack.usable - 64;
            // SAFETY: the top line of a stack just made (committed
            // read-write) that no fiber uses yet: writing it makes the page
            // present; what a fiber later finds there does not matter.
            unsafe { std::ptr::write_volatile(top as *mut u8, 0) };
            made.push(stack);
        }
        // Dropped: onto the free list.
        Ok(())
    }

    /// The stack at `low` with `usable` bytes above its guard, as a string
    /// had it in the process an image was taken from. The address range
    /// must be placed in the arena already (restored placement); it is
    /// committed read-write, its guard installed.
    pub fn at(low: usize, usable: usize) -> Result<FiberStack, ArenaError> {
        let arena = Arena::global()?;
        arena.commit(low, usable + STACK_GUARD, Protection::ReadWrite)?;
        arena.guard(low, STACK_GUARD)?;
        Ok(FiberStack { low, usable })
    }

    /// Lowest and highest address of the stack (guard included).
    pub fn bounds(&self) -> (usize, usize) {
        (self.low, self.low + STACK_GUARD + self.usable)
    }
}

impl Drop for FiberStack {
    fn drop(&mut self) {
        // Back to the free list (a FiberStack is dropped only after the
        // coroutine using it is finished or reset). Its guard stays; the
        // pages it touched stay committed for the next string.
        let mut g = STACKS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = g.as_mut() {
            st.free.entry(self.usable).or_default().push(self.low);
        }
    }
}

// SAFETY: the stack has a guard (STACK_GUARD bytes that fault on access)
// below its usable part and at least 64 KiB of usable memory; both bounds are
// page-aligned, hence aligned to STACK_ALIGNMENT (16).
unsafe impl Stack for FiberStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.low + STACK_GUARD + self.usable)
            .expect("arena addresses are never 0")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.low).expect("arena addresses are never 0")
    }
}

/// How a fiber ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The entry returned this value (`int` for `main`, `void *` for a
    /// pthread start routine).
    Returned(i64),
    /// Bead code called `exit` (or `pthread_exit`) with this value.
    Exited(i64),
    /// The string was stopped (`Task::request_stop`) at a safe point.
    Stopped,
}

impl Outcome {
    /// The string's status, as `main`'s return value or `exit`'s argument.
    pub fn status(self) -> i32 {
        match self {
            Outcome::Returned(s) | Outcome::Exited(s) => s as i32,
            Outcome::Stopped => 0,
        }
    }

    /// The full value (a pthread start routine's result).
    pub fn value(self) -> i64 {
        match self {
            Outcome::Returned(s) | Outcome::Exited(s) => s,
            Outcome::Stopped => 0,
        }
    }
}

/// Runs `body` on a fiber using `stack`, with `ctx` as the current context,
/// until it returns or calls `exit`. Used for initialisers and finalisers,
/// which are not scheduled: a request to yield or park resumes at once.
///
/// `body` must not own anything that needs dropping: if bead code exits, the
/// fiber's frames are abandoned without unwinding (exactly what C's `exit`
/// does to the frames of the program).
pub fn run_on_fiber(ctx: &ExecCtx, stack: &mut FiberStack, body: impl FnOnce() -> i32) -> Outcome {
    let _enter = Enter::new(ctx);
    ctx.stack.set(stack.bounds());
    let func = |y: &Yielder<(), Suspend>, ()| {
        ctx.yielder.set(y);
        let status = body();
        if crate::forked::in_forked_child() {
            // A bead initialiser forked, and its child returned here: the
            // child must not go on to build and run the tapestry.
            crate::forked::exit_forked_child(status);
        }
        i64::from(status)
    };
    // SAFETY: `ctx`, `body`'s borrows and the stack outlive the coroutine,
    // which is finished or reset and dropped before this function returns.
    let mut co = unsafe { Coroutine::with_stack_unchecked(&mut *stack, func) };
    let outcome = loop {
        match co.resume(()) {
            CoroutineResult::Return(status) => break Outcome::Returned(status),
            CoroutineResult::Yield(Suspend::Exit(status)) => {
                // SAFETY: suspended by `exit` from bead code (C frames, nothing
                // to drop) through interposed functions that hold no values
                // needing Drop at that point.
                unsafe { co.force_reset() };
                break Outcome::Exited(status);
            }
            CoroutineResult::Yield(Suspend::Return(value)) => {
                // SAFETY: as for exit.
                unsafe { co.force_reset() };
                break Outcome::Returned(value);
            }
            CoroutineResult::Yield(Suspend::Stop) => {
                // SAFETY: as for exit: stop points hold nothing needing Drop.
                unsafe { co.force_reset() };
                break Outcome::Stopped;
            }
            CoroutineResult::Yield(Suspend::Yield | Suspend::Park) => continue,
        }
    };
    ctx.yielder.set(std::ptr::null());
    ctx.stack.set((0, 0));
    outcome
}
