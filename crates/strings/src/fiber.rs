//! Fibers on arena stacks, and the driver that runs a string on one.
//!
//! ```text
//!  region.addr                                             region.end()
//!  | guard (one granule, PROT_NONE) | usable stack, grows down <------ |
//!  ^ limit()                                                          ^ base()
//! ```
//!
//! The usable part is mapped `MAP_NORESERVE`: a large stack (Fortran codes
//! with big automatic arrays want hundreds of MiB) costs only the pages the
//! string touches.

use std::sync::Arc;

use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use weaves_arena::{Arena, ArenaError, Protection, Region, GRANULE};

use crate::ctx::{Enter, ExecCtx};

/// Stack size of a string unless its tapestry says otherwise.
pub const DEFAULT_STACK: usize = 8 << 20;

/// A fiber stack inside the arena, with a guard region below it.
pub struct FiberStack {
    region: Region,
}

impl FiberStack {
    pub fn new(size: usize) -> Result<FiberStack, ArenaError> {
        let arena = Arena::global()?;
        let size = (size.max(64 << 10) + GRANULE - 1) & !(GRANULE - 1);
        let region = arena.place(size + GRANULE, GRANULE, 0)?;
        if let Err(e) = arena.commit(region.addr + GRANULE, size, Protection::ReadWrite) {
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

// SAFETY: the stack has a PROT_NONE guard granule below its usable part and
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
    /// The entry returned this value.
    Returned(i32),
    /// Bead code called `exit` (or an equivalent) with this status.
    Exited(i32),
}

impl Outcome {
    pub fn status(self) -> i32 {
        match self {
            Outcome::Returned(s) | Outcome::Exited(s) => s,
        }
    }
}

/// Runs `body` on a fiber using `stack`, with `ctx` as the current context,
/// until it returns or calls `exit`.
///
/// `body` must not own anything that needs dropping: if bead code exits, the
/// fiber's frames are abandoned without unwinding (exactly what C's `exit`
/// does to the frames of the program).
pub fn run_on_fiber(ctx: &ExecCtx, stack: &mut FiberStack, body: impl FnOnce() -> i32) -> Outcome {
    let _enter = Enter::new(ctx);
    ctx.stack.set(stack.bounds());
    let func = |y: &Yielder<(), i32>, ()| {
        ctx.yielder.set(y);
        body()
    };
    // SAFETY: `ctx`, `body`'s borrows and the stack outlive the coroutine,
    // which is finished or reset and dropped before this function returns.
    let mut co = unsafe { Coroutine::with_stack_unchecked(&mut *stack, func) };
    let outcome = match co.resume(()) {
        CoroutineResult::Return(status) => Outcome::Returned(status),
        CoroutineResult::Yield(status) => {
            // SAFETY: the only suspension point is `exit_current`, reached
            // from bead code (C frames, nothing to drop) through interposed
            // functions that hold no values needing Drop at that point.
            unsafe { co.force_reset() };
            Outcome::Exited(status)
        }
    };
    ctx.yielder.set(std::ptr::null());
    outcome
}

/// Everything needed to start a string.
pub struct Launch {
    pub ctx: Arc<ExecCtx>,
    /// Address of `int entry(int argc, char **argv, char **envp)`.
    pub entry: u64,
    pub stack_size: usize,
}

/// Starts a string on a driver thread of its own. The handle yields the
/// string's outcome, or an error if its stack could not be made.
pub fn spawn(launch: Launch) -> std::io::Result<std::thread::JoinHandle<Result<Outcome, String>>> {
    std::thread::Builder::new()
        .name(format!("string {}", launch.ctx.info.name))
        .stack_size(256 << 10)
        .spawn(move || {
            let mut stack = FiberStack::new(launch.stack_size).map_err(|e| e.to_string())?;
            let ctx = &*launch.ctx;
            let argc = ctx.args().len() as i32;
            let mut argv: Vec<*const libc::c_char> =
                ctx.args().iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            let env = ctx.environ_block();
            let envp_p = match &env {
                Some((_, ptrs)) => ptrs.as_ptr(),
                None => crate::process_environ(),
            };
            let (argv_p, entry) = (argv.as_ptr(), launch.entry);
            let outcome = run_on_fiber(ctx, &mut stack, move || {
                // SAFETY: `entry` is the address of a function of a mapped,
                // relocated, initialised bead, with the C signature of
                // `main` (checked by the tapestry when resolving the entry).
                let f: extern "C" fn(
                    i32,
                    *const *const libc::c_char,
                    *const *const libc::c_char,
                ) -> i32 = unsafe { std::mem::transmute(entry as usize) };
                f(argc, argv_p, envp_p)
            });
            run_on_fiber(ctx, &mut stack, || {
                ctx.finish();
                0
            });
            Ok(outcome)
        })
}
