//! Fibers on arena stacks, and the driver that runs a string on one.
//!
//! ```text
//!  region.addr                                             region.end()
//!  | guard (STACK_GUARD, PROT_NONE) | usable stack, grows down <------ |
//!  ^ limit()                                                          ^ base()
//! ```
//!
//! The usable part is mapped `MAP_NORESERVE`: a large stack (Fortran codes
//! with big automatic arrays want hundreds of MiB) costs only the pages the
//! string touches.

use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use weaves_arena::{Arena, ArenaError, Protection, Region, GRANULE};

/// Inaccessible bytes below every fiber stack: a frame larger than this could
/// jump over the guard, so it is generous.
pub const STACK_GUARD: usize = 64 << 10;

use crate::ctx::{Enter, ExecCtx, Suspend};

/// Stack size of a string unless its tapestry says otherwise.
pub const DEFAULT_STACK: usize = 8 << 20;

/// A fiber stack inside the arena, with a guard region below it.
pub struct FiberStack {
    region: Region,
}

impl FiberStack {
    /// The usable size a stack asked to be `size` bytes gets.
    pub fn usable_for(size: usize) -> usize {
        (size.max(64 << 10) + GRANULE - 1) & !(GRANULE - 1)
    }

    /// Usable bytes (guard excluded).
    pub fn usable(&self) -> usize {
        self.region.len - STACK_GUARD
    }

    pub fn new(size: usize) -> Result<FiberStack, ArenaError> {
        let arena = Arena::global()?;
        let size = FiberStack::usable_for(size);
        let region = arena.place(size + STACK_GUARD, GRANULE, 0)?;
        if let Err(e) = arena.commit(region.addr + STACK_GUARD, size, Protection::ReadWrite) {
            // SAFETY: the region was never used.
            unsafe { arena.release(region) };
            return Err(e);
        }
        Ok(FiberStack { region })
    }

    /// Lowest and highest address of the stack (guard included).
    pub fn bounds(&self) -> (usize, usize) {
        (self.region.addr, self.region.end())
    }
}

impl Drop for FiberStack {
    fn drop(&mut self) {
        if let Ok(arena) = Arena::global() {
            // SAFETY: a FiberStack is dropped only after the coroutine using
            // it is finished or reset (the coroutine borrows the stack).
            unsafe { arena.release(self.region) };
        }
    }
}

// SAFETY: the stack has a PROT_NONE guard (STACK_GUARD) below its usable part and
// at least 64 KiB of usable memory; both bounds are granule-aligned, hence
// aligned to STACK_ALIGNMENT (16).
unsafe impl Stack for FiberStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.region.end()).expect("arena regions are never at address 0")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.region.addr).expect("arena regions are never at address 0")
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
}

impl Outcome {
    /// The string's status, as `main`'s return value or `exit`'s argument.
    pub fn status(self) -> i32 {
        match self {
            Outcome::Returned(s) | Outcome::Exited(s) => s as i32,
        }
    }

    /// The full value (a pthread start routine's result).
    pub fn value(self) -> i64 {
        match self {
            Outcome::Returned(s) | Outcome::Exited(s) => s,
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
        i64::from(body())
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
            CoroutineResult::Yield(Suspend::Yield | Suspend::Park) => continue,
        }
    };
    ctx.yielder.set(std::ptr::null());
    ctx.stack.set((0, 0));
    outcome
}
