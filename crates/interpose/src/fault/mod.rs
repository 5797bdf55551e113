//! # Faults: who claims a synchronous signal
//!
//! The runtime owns SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGABRT for
//! the whole process. A fault, a trap or an `abort` raised by a string ends
//! that string, not the tapestry, whether it happened in bead code or in a
//! system library or the runtime working for the string (libc's `free`
//! aborting on a bad pointer, `memcpy` handed one). One handler asks, in
//! order:
//!
//! | claimant | claims | then |
//! |---|---|---|
//! | DSM coherence | a SIGSEGV on a page a DSM node may not access yet (after the stack-guard check, so a guard page stays a guard) | the page is fetched or upgraded (see the `weaves-dsm` crate) and the access retried |
//! | checkpoint write tracking | (not on this path: checkpoints track writes with userfaultfd, which raises no signal) | — |
//! | a string's stack guard | SIGSEGV/SIGBUS in the guard below the string's stack | "stack overflow in string S"; the string ends |
//! | the bead's own handler | a fault blamed on a bead that installed a handler for it (`signal`, `sigaction`; see `own`) | the handler runs on the string's stack (see `deliver`) |
//! | containment | a fault blamed on a bead private to its weave | one line; the string ends with 128 + signal (see `contain`) |
//! | the tapestry | a fault blamed on a bead shared by several weaves, or on a string where no bead can be blamed | one line; the process exits with 128 + signal |
//! | the previous handler | anything outside strings (a runtime bug: one line first, unless it is an abort, whose message is already out), and signals another process sent | Rust's handler, or the default action |
//!
//! A fault is **blamed** on the bead whose code faulted or, outside bead
//! code, on the nearest bead frame of the string's stack (see `blame`).
//!
//! Misuse that interposed calls find without a signal ends strings the same
//! way: `abort()` from bead code, and a bead heap refusing a pointer handed
//! to `free` or `realloc` (see `misuse`).
//!
//! The handler runs on the thread's alternate signal stack (`SA_ONSTACK`;
//! Rust's runtime gives every thread it starts one), composes its line in a
//! stack buffer and writes it with `write(2)`, reads the bead registry
//! without waiting for its lock, and allocates nothing. It keeps `errno`.
//! Ending a string from a signal handler: the handler rewrites the
//! interrupted context so that, when it returns, the string's fiber calls
//! `fault_exit`, which leaves the fiber the way `exit` does (its frames are
//! abandoned, never unwound). A string stopped inside a heap operation
//! leaves that heap poisoned rather than locked (see `weaves_arena`).
//!
//! Known edge: a string ended inside a system library leaves whatever that
//! library held as it was; glibc's `abort` and malloc checks hold no lock
//! when they abort, but a fault inside `printf` leaves stdout's lock taken.

mod blame;
mod contain;
mod deliver;
mod line;
mod misuse;
mod own;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use weaves_strings::STACK_GUARD;

use self::blame::{with_culprit, Culprit};
use self::contain::{Report, Site};
pub use self::line::take_fault_report;
pub(crate) use self::misuse::{heap_misuse, heap_of, in_arena, Op};
pub use self::own::forget;
pub(crate) use self::own::with_async;

/// The synchronous-fault signals whose handlers `own` keeps per bead.
pub(crate) fn own_signals() -> &'static [i32] {
    &own::SIGNALS
}
use self::own::SIGNALS;

/// `si_code`s of SIGFPE (`<bits/siginfo-consts.h>`; the libc crate lacks
/// them).
const FPE_INTDIV: i32 = 1;
const FPE_INTOVF: i32 = 2;

/// The handlers that were installed before ours, for what is not ours to
/// explain (in [`SIGNALS`] order).
static PREVIOUS: OnceLock<[libc::sigaction; 6]> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The interposed calls of this module (`abort`, the signal functions), for
/// the binder.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    own::lookup(name).or_else(|| misuse::lookup(name))
}

/// Installs the handler for the six signals (once).
pub(crate) fn install() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: sigaction is plain data; all-zero is a valid empty value.
    let mut previous: [libc::sigaction; 6] = unsafe { std::mem::zeroed() };
    for (i, sig) in SIGNALS.into_iter().enumerate() {
        // SAFETY: installing a handler with a zeroed, then filled, sigaction:
        // SA_SIGINFO (three-argument handler: we need the fault address and
        // the interrupted context), SA_ONSTACK (the fault may be a stack
        // overflow: run on the alternate stack), SA_RESTART (interrupted
        // system calls of other code restart). The mask holds the
        // preemption tick: a tick arriving while the handler runs would
        // push its frame below ours on the small alternate stack, and one
        // that does not fit kills the process; it waits for the handler to
        // return instead. The signal itself stays blocked while the handler
        // runs, so a fault in the handler ends the process instead of
        // recursing.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaddset(&mut action.sa_mask, crate::preempt::TICK);
            libc::sigaction(sig, &action, &mut previous[i]);
        }
    }
    let _ = PREVIOUS.set(previous);
}

/// What the kernel says about a signal.
struct Fault {
    sig: i32,
    code: i32,
    pc: u64,
    sp: usize,
    /// The faulting address (SIGSEGV, SIGBUS).
    addr: usize,
    /// Raised by this process (`raise`, `abort`), not by the processor.
    raised: bool,
    /// Sent by another process: not a fault of this one.
    foreign: bool,
}

impl Fault {
    /// # Safety
    /// `info` and `uc` must be the kernel's arguments to a SA_SIGINFO handler.
    unsafe fn read(sig: i32, info: *const libc::siginfo_t, uc: &libc::ucontext_t) -> Fault {
        // SAFETY: caller contract.
        let (code, addr, pid) = unsafe {
            (
                (*info).si_code,
                (*info).si_addr() as usize,
                (*info).si_pid(),
            )
        };
        // Positive codes come from the kernel (a processor fault); zero and
        // negative ones (SI_USER, SI_TKILL, SI_QUEUE) from kill or raise.
        let sent = code <= 0;
        // SAFETY: getpid has no preconditions and is async-signal-safe.
        let ours = pid == unsafe { libc::getpid() };
        Fault {
            sig,
            code,
            pc: uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64,
            sp: uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize,
            addr,
            raised: sent && ours,
            foreign: sent && !ours,
        }
    }

    fn status(&self) -> i32 {
        128 + self.sig
    }

    fn touches_memory(&self) -> bool {
        !self.raised && (self.sig == libc::SIGSEGV || self.sig == libc::SIGBUS)
    }

    /// "SIGSEGV (segmentation fault)" and the like.
    fn what(&self) -> &'static str {
        match self.sig {
            libc::SIGSEGV => "SIGSEGV (segmentation fault)",
            libc::SIGBUS => "SIGBUS (bus error)",
            libc::SIGILL => "SIGILL (illegal instruction)",
            libc::SIGFPE if !self.raised && self.code == FPE_INTDIV => {
                "SIGFPE (integer division by zero)"
            }
            libc::SIGFPE if !self.raised && self.code == FPE_INTOVF => "SIGFPE (integer overflow)",
            libc::SIGFPE => "SIGFPE (arithmetic exception)",
            libc::SIGTRAP => "SIGTRAP (trace/breakpoint trap)",
            _ => "SIGABRT (abort)",
        }
    }

    /// What the culprit did, after its name.
    fn describe(&self, c: Option<&Culprit<'_>>, line: &mut line::Line) {
        let _ = match c {
            _ if self.raised && self.sig == libc::SIGABRT => write!(line, " aborted"),
            _ if self.raised => write!(line, " raised it"),
            Some(c) if c.direct && self.touches_memory() => {
                write!(line, " touched address {:#x}", self.addr)
            }
            Some(c) if c.direct => Ok(()),
            Some(c) if c.at != 0 => write!(line, " called code that faulted at {:#x}", self.pc),
            _ => write!(line, " outside bead code, at {:#x}", self.pc),
        };
        if self.touches_memory() && !c.is_some_and(|c| c.direct) {
            let _ = write!(line, ", touching {:#x}", self.addr);
        }
    }
}

extern "C" fn on_signal(sig: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: errno is this thread's; the interrupted code must find it as
    // it left it.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel's arguments to this SA_SIGINFO handler.
    unsafe { handle(sig, info, context) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// # Safety
/// The kernel's arguments to a SA_SIGINFO handler.
unsafe fn handle(sig: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: caller contract.
    let uc = unsafe { &mut *(context as *mut libc::ucontext_t) };
    // SAFETY: caller contract.
    let fault = unsafe { Fault::read(sig, info, uc) };
    let site = Site::at(fault.sp);
    if fault.foreign {
        return chain(sig, info, context);
    }
    if let Some(ctx) = site.ctx() {
        let (low, high) = ctx.stack_bounds();
        if fault.touches_memory() && (low..low + STACK_GUARD).contains(&fault.addr) {
            return stack_overflow(&fault, site, uc, (low, high));
        }
    }
    // DSM coherence: a page this node may not access yet. Bit 1 of the
    // page-fault error code says the access was a write.
    if fault.sig == libc::SIGSEGV
        && fault.touches_memory()
        && crate::dsm_hooks::claim(
            fault.addr,
            uc.uc_mcontext.gregs[libc::REG_ERR as usize] & 2 != 0,
        )
    {
        return;
    }
    if let Site::Outside = site {
        return unclaimed(&fault, site, info, context);
    }
    with_culprit(fault.pc, fault.sp, site.ctx(), |culprit| {
        if let (Some(c), Some(ctx)) = (culprit, site.ctx()) {
            if let Some(handler) = own::take_for_delivery(c.bead.owner, sig) {
                weaves_arena::abandon_held_heap();
                // SAFETY: the kernel's arguments; the interrupted code runs
                // on the string's stack (it is not a guard fault).
                let entered = unsafe {
                    deliver::enter_own_handler(
                        handler,
                        c.bead.owner,
                        sig,
                        info,
                        context,
                        ctx.stack_bounds(),
                    )
                };
                if entered {
                    return;
                }
            }
        }
        let mut report = Report::new(fault.what(), site);
        if let Some(c) = culprit {
            report.culprit(c);
        }
        fault.describe(culprit, report.line());
        // Below the red zone of the interrupted frame.
        report.end_in_context(uc, fault.sp.saturating_sub(1024), fault.status());
    });
}

/// A fault in the guard below a string's stack.
fn stack_overflow(
    fault: &Fault,
    site: Site,
    uc: &mut libc::ucontext_t,
    (low, high): (usize, usize),
) {
    with_culprit(fault.pc, fault.sp, site.ctx(), |culprit| {
        let mut report = Report::new("stack overflow", site);
        report.stack_is_the_strings_own();
        if let Some(c) = culprit {
            report.culprit(c);
        }
        let _ = write!(
            report.line(),
            "; its stack is {} KiB; give it more with stack_kib",
            (high - low - STACK_GUARD) >> 10
        );
        // Continue high on the string's own stack, far from the overflow.
        report.end_in_context(uc, high - (32 << 10), fault.status());
    });
}

/// A signal outside any string: a bug in the runtime (or a library it
/// uses). Says so, unless it is an abort (whose message is out already:
/// a Rust panic's, or the C library's), and passes it on.
fn unclaimed(fault: &Fault, site: Site, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    if fault.sig != libc::SIGABRT {
        let mut report = Report::new(fault.what(), site);
        let _ = write!(report.line(), " at {:#x}", fault.pc);
        if fault.touches_memory() {
            let _ = write!(report.line(), ", touching {:#x}", fault.addr);
        }
        report.announce();
    }
    chain(fault.sig, info, context);
}

/// Hands a signal that is not ours to the handler installed before.
fn chain(sig: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    let prev = previous[i];
    match prev.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: restore the default action and raise the signal again:
            // it is blocked while this handler runs, and the kernel applies
            // the default action as soon as the handler returns.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &action, std::ptr::null_mut());
                libc::raise(sig);
            }
        }
        handler if prev.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: the previous handler was installed as a three-argument
            // SA_SIGINFO handler.
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(sig, info, context);
        }
        handler => {
            // SAFETY: a one-argument handler.
            let f: extern "C" fn(i32) = unsafe { std::mem::transmute(handler) };
            f(sig);
        }
    }
}
