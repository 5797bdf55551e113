//! Misuse that interposed calls catch without a signal: `abort()` called by
//! bead code, and a heap refusing what `free` or `realloc` was handed.
//!
//! Both are reported like faults (one line naming the string, weave and
//! bead, the bead's function and offset) and end the string with status
//! 134, as the C library's `abort` would end a program; a shared bead's
//! misuse stops the tapestry.

use std::fmt::Write as _;

use weaves_arena::{existing_heap, owner_of, HeapMisuse, OwnerId, ARENA_BASE};

use super::blame::with_caller;
use super::contain::{Report, Site};
use super::own::has_handler;
use crate::phdr::with_registry;

const ABORTED: i32 = 128 + libc::SIGABRT;

std::arch::global_asm!(
    ".globl weaves_abort",
    ".hidden weaves_abort",
    ".type weaves_abort,@function",
    "weaves_abort:",
    "mov rdi, qword ptr [rsp]",
    "jmp {target}",
    ".size weaves_abort, . - weaves_abort",
    target = sym abort_from,
);

extern "C" {
    fn weaves_abort() -> !;
}

/// The stack pointer of the caller (close enough: this frame's).
#[inline(always)]
fn stack_pointer() -> usize {
    let here = 0u8;
    std::ptr::addr_of!(here) as usize
}

/// `abort()` from bead code (returning to `ret`): a bead with its own
/// SIGABRT handler gets the signal, as natively; otherwise the string ends.
extern "C" fn abort_from(ret: usize) -> ! {
    let site = Site::here();
    let caller = owner_of(ret).or_else(|| site.ctx().map(|c| c.info.home));
    if caller.is_some_and(|o| has_handler(o, libc::SIGABRT)) {
        // SAFETY: raising a signal in this thread; the fault handler
        // delivers it to the bead's handler.
        unsafe { libc::raise(libc::SIGABRT) };
    }
    if let Site::Outside = site {
        // SAFETY: not in a tapestry's string: the C library's abort.
        unsafe { libc::abort() }
    }
    with_caller(ret as u64, stack_pointer(), site.ctx(), |culprit| {
        let mut report = Report::new("abort()", site);
        if let Some(c) = culprit {
            report.culprit(c);
            let _ = write!(report.line(), " called abort()");
        }
        report.end_now(ABORTED)
    })
}

/// What was done with a pointer a heap refused.
#[derive(Clone, Copy)]
pub(crate) enum Op {
    Free,
    Realloc,
}

/// Reports that a heap (of bead `heap`, if any) refused pointer `ptr`
/// handed to `op` by code returning to `ret`, and ends the string.
pub(crate) fn heap_misuse(
    misuse: HeapMisuse,
    op: Op,
    ptr: usize,
    ret: usize,
    heap: Option<OwnerId>,
) -> ! {
    let site = Site::here();
    with_caller(ret as u64, stack_pointer(), site.ctx(), |culprit| {
        let mut report = Report::new(misuse.kind(), site);
        if let Some(c) = culprit {
            report.culprit(c);
        }
        let verb = match op {
            Op::Free => "freed",
            Op::Realloc => "reallocated",
        };
        let line = report.line();
        let _ = match misuse {
            HeapMisuse::DoubleFree { .. } => write!(line, " {verb} {ptr:#x} twice"),
            HeapMisuse::NotABlock { .. } => write!(
                line,
                " {verb} {ptr:#x}, which is not the start of a block of its heap (or the block's header was overwritten)"
            ),
            HeapMisuse::NotInHeap { .. } => write!(line, " {verb} {ptr:#x}, which no heap handed out"),
            HeapMisuse::Overflow {
                size, into_next, ..
            } => write!(
                line,
                " {verb} {ptr:#x}, a block of {size} bytes that was written past its end{}",
                if into_next {
                    ", into the next block"
                } else {
                    ""
                }
            ),
            HeapMisuse::OverrunFromBefore { .. } => write!(
                line,
                " {verb} {ptr:#x}, whose header the block before it overran"
            ),
        };
        where_it_lies(&mut report, ptr, heap, site);
        report.end_now(ABORTED)
    })
}

/// Adds " (heap of bead `B`)", or where else in the arena `ptr` lies.
fn where_it_lies(report: &mut Report, ptr: usize, heap: Option<OwnerId>, site: Site) {
    if let Some(owner) = heap {
        with_registry(|beads| {
            if let Some(b) = beads.get(&owner) {
                let _ = write!(
                    report.line(),
                    " (heap of bead `{}`)",
                    b.name.to_string_lossy()
                );
                if b.shared {
                    report.involves_shared_state();
                }
            }
        });
        return;
    }
    if let Some(ctx) = site.ctx() {
        let (low, high) = ctx.stack_bounds();
        if (low..high).contains(&ptr) {
            let _ = write!(report.line(), " (it lies on the string's own stack)");
            return;
        }
    }
    let bead = owner_of(ptr).and_then(|owner| {
        with_registry(|beads| {
            beads
                .get(&owner)
                .map(|b| b.name.to_string_lossy().into_owned())
        })
        .flatten()
    });
    let _ = match bead {
        Some(name) => write!(report.line(), " (it lies in the image of bead `{name}`)"),
        None => write!(report.line(), " (arena memory that no heap handed out)"),
    };
}

/// Whether `ptr` is arena memory (the runtime's, not the C library's).
pub(crate) fn in_arena(ptr: usize) -> bool {
    (ARENA_BASE..weaves_arena::arena_end()).contains(&ptr)
}

/// The heap `ptr` would belong to, if arena memory of a bead with a heap.
pub(crate) fn heap_of(ptr: usize) -> Option<&'static weaves_arena::Heap> {
    owner_of(ptr).and_then(existing_heap)
}

/// The interposed calls of this module, for the binder.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    match name {
        "abort" => Some(weaves_abort as *const () as u64),
        _ => None,
    }
}
