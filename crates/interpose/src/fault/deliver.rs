//! Running a bead's own handler for its own fault, on the faulting string's
//! stack, the way the kernel would have run it in a process of its own.
//!
//! The runtime's handler runs on the thread's alternate signal stack, where
//! the kernel left its signal frame. To hand the fault to the bead, the
//! handler copies that frame onto the string's stack, below the interrupted
//! frame's red zone, and rewrites the interrupted context to enter the
//! bead's handler there, with the copied `siginfo_t` and `ucontext_t`:
//!
//! ```text
//!  string's stack                     when the bead's handler is entered
//!  | interrupted frame |  <- rsp       | interrupted frame |
//!                                      | red zone (128)    |
//!                                      | FPU/XSAVE state   |  (64-aligned, uc's fpregs points here)
//!                                      | siginfo_t         |
//!                                      | ucontext_t        |
//!                                      | return address    |  <- rsp, rip = the bead's handler
//! ```
//!
//! The return address is the C library's signal restorer (copied from the
//! kernel's frame): a handler that returns ends in `rt_sigreturn` on the
//! copied frame and the interrupted code runs again with whatever context
//! the handler left, as natively. A handler that `siglongjmp`s out jumps
//! up its own stack, as natively. The signal mask is left as it was:
//! strings share their worker thread's mask, so blocking SIGSEGV while one
//! string's handler runs would turn another string's fault on that worker
//! into a kill; a handler that faults again gets the fault again.
//!
//! SIGABRT differs: the C library's `abort` does not expect its handler to
//! return (it would reset SIGABRT to the default for the whole process and
//! raise it again). A bead's SIGABRT handler that returns therefore returns
//! into [`weaves_own_abort_returned`], which ends the string as an aborted
//! program ends.

use std::fmt::Write as _;

use weaves_arena::OwnerId;
use weaves_strings::STACK_GUARD;

use super::contain::{Report, Site};

/// The kernel's `struct ucontext` on x86-64 (flags, link, stack, the
/// 256-byte `sigcontext`, an 8-byte signal mask): what `rt_sigreturn` reads.
const KERNEL_UCONTEXT: usize = 304;
const SIGINFO: usize = 128;
/// Room the bead's handler gets below its frame, at least.
const HANDLER_ROOM: usize = 32 << 10;
/// Where in the copied `ucontext_t` the bead's owner id is kept for
/// [`weaves_own_abort_returned`]: `sigcontext`'s reserved words, which the
/// kernel ignores.
const OWNER_SLOT: usize = 232;

/// Makes the interrupted context enter bead `owner`'s `handler` for `sig` on the
/// string's stack `(low, high)`. Returns false, changing nothing, if the
/// stack has no room for it.
///
/// # Safety
/// `info` and `context` must be the kernel's arguments to the running
/// SA_SIGINFO handler, and the interrupted code must be running on the
/// stack `(low, high)`.
pub(crate) unsafe fn enter_own_handler(
    handler: usize,
    owner: OwnerId,
    sig: i32,
    info: *const libc::siginfo_t,
    context: *mut libc::c_void,
    (low, high): (usize, usize),
) -> bool {
    // SAFETY: the kernel's ucontext for this handler (caller contract).
    let uc = unsafe { &mut *(context as *mut libc::ucontext_t) };
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let fp = uc.uc_mcontext.fpregs as usize;
    let fp_bytes = if fp == 0 {
        0
    } else {
        // SAFETY: a non-null `fpregs` is the kernel's FPU save area.
        unsafe { xstate_bytes(fp) }
    };
    if sp <= low + STACK_GUARD || sp > high {
        return false;
    }
    let new_fp = (sp - 128 - fp_bytes) & !63;
    let frame = ((new_fp - 8 - KERNEL_UCONTEXT - SIGINFO) & !15) - 8;
    if frame < low + STACK_GUARD + HANDLER_ROOM {
        return false;
    }
    let (new_uc, new_info) = (frame + 8, frame + 8 + KERNEL_UCONTEXT);
    let restorer = if sig == libc::SIGABRT {
        weaves_own_abort_returned as *const () as usize
    } else {
        // SAFETY: the kernel's frame starts with the restorer's address, right
        // before the ucontext it passed (x86-64 `struct rt_sigframe`).
        unsafe { *(context as *const usize).sub(1) }
    };
    // SAFETY: [frame, sp - 128) lies on the string's stack above its guard
    // (checked above) and below the interrupted frame's red zone: nothing
    // lives there. The sources are the kernel's frame on the signal stack.
    unsafe {
        (frame as *mut usize).write(restorer);
        std::ptr::copy_nonoverlapping(context as *const u8, new_uc as *mut u8, KERNEL_UCONTEXT);
        std::ptr::copy_nonoverlapping(info as *const u8, new_info as *mut u8, SIGINFO);
        if fp != 0 {
            std::ptr::copy_nonoverlapping(fp as *const u8, new_fp as *mut u8, fp_bytes);
            (*(new_uc as *mut libc::ucontext_t)).uc_mcontext.fpregs = new_fp as *mut _;
        }
        ((new_uc + OWNER_SLOT) as *mut u64).write(u64::from(owner));
    }
    let g = &mut uc.uc_mcontext.gregs;
    g[libc::REG_RSP as usize] = frame as i64;
    g[libc::REG_RIP as usize] = handler as i64;
    g[libc::REG_RDI as usize] = i64::from(sig);
    g[libc::REG_RSI as usize] = new_info as i64;
    g[libc::REG_RDX as usize] = new_uc as i64;
    g[libc::REG_RAX as usize] = 0;
    // As the kernel enters handlers: direction flag clear, not traced.
    g[libc::REG_EFL as usize] &= !(0x400 | 0x100 | 0x1_0000);
    true
}

/// Size of the FPU save area at `fp`: the extended size XSAVE records in
/// its software-reserved bytes, or the 512 bytes of FXSAVE.
///
/// # Safety
/// `fp` must be the kernel's FPU save area of a signal frame.
unsafe fn xstate_bytes(fp: usize) -> usize {
    const MAGIC1: u32 = 0x4650_5853;
    // SAFETY: the save area is at least the 512 bytes of FXSAVE; its
    // software-reserved bytes start at 464 (`struct _fpx_sw_bytes`).
    let (magic, extended) = unsafe { (*((fp + 464) as *const u32), *((fp + 468) as *const u32)) };
    if magic == MAGIC1 && extended as usize >= 512 {
        extended as usize
    } else {
        512
    }
}

// Entered by `ret` from a bead's SIGABRT handler, with rsp at the copied
// ucontext; calls `own_abort_returned(uc)` on an aligned stack.
std::arch::global_asm!(
    ".globl weaves_own_abort_returned",
    ".hidden weaves_own_abort_returned",
    "weaves_own_abort_returned:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {target}",
    "ud2",
    target = sym own_abort_returned,
);

extern "C" {
    fn weaves_own_abort_returned();
}

/// A bead's SIGABRT handler returned: the string ends as an aborted program
/// ends (status 134).
extern "C" fn own_abort_returned(uc: usize) -> ! {
    // SAFETY: `uc` is the copied ucontext, with the owner written by
    // `enter_own_handler`.
    let owner = unsafe { *((uc + OWNER_SLOT) as *const u64) } as OwnerId;
    let mut report = Report::new("SIGABRT (abort)", Site::here());
    report.bead_by_owner(owner);
    let _ = write!(
        report.line(),
        " returned from its own SIGABRT handler, so the string ends as an aborted program does"
    );
    report.end_now(128 + libc::SIGABRT)
}
