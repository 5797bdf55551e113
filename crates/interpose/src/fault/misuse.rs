//! Misuse that interposed calls catch without a signal: `abort()` called by
//! bead code.
//!
//! It is reported like a fault (one line naming the string, weave and
//! bead, the bead's function and offset) and ends the string with status
//! 134, as the C library's `abort` would end a program; a shared bead's
//! abort stops the tapestry.

use std::fmt::Write as _;

use weaves_arena::owner_of;

use super::blame::with_caller;
use super::contain::{Report, Site};
use super::own::has_handler;

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

/// The interposed calls of this module, for the binder.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    match name {
        "abort" => Some(weaves_abort as *const () as u64),
        _ => None,
    }
}
