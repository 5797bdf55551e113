//! The runtime's SIGSEGV/SIGBUS handler: faults in bead code get a
//! diagnostic naming where they happened, instead of a bare crash.
//!
//! | fault | what happens |
//! |---|---|
//! | in a string's stack guard | "stack overflow in string S"; the string ends with status 128+signal |
//! | in bead code, bead private to its weave | one line: string, weave, bead, module, function+offset, address; the string ends with status 128+signal, the rest of the tapestry goes on |
//! | in bead code, bead shared by several weaves | the same line; the process exits with 128+signal (the shared state may be corrupt) |
//! | anywhere else while a string runs | the line names the string and the code address; the process exits |
//! | outside strings and beads | passed to the handler that was installed before ours |
//!
//! Ending one string from a signal handler: the handler rewrites the
//! interrupted context so that, when it returns, the string's fiber calls
//! [`fault_exit`], which leaves the fiber the way `exit` does (the fiber's
//! frames are abandoned, never unwound). For a stack overflow the fiber
//! resumes near the top of its own stack, far above the overflow.
//!
//! The handler runs on the thread's alternate signal stack (`SA_ONSTACK`;
//! Rust's runtime gives every thread it starts one), writes with `write(2)`
//! from a stack buffer, and takes no lock it could be waiting for (the bead
//! registry is only `try_read`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use weaves_strings::{current, exit_current};

use crate::phdr::with_bead_at;

/// The handlers that were installed before ours, for faults that are not
/// ours to explain.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the handler for SIGSEGV and SIGBUS (once).
pub(crate) fn install() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut previous: [libc::sigaction; 2] = [
        // SAFETY: sigaction is plain data; all-zero is a valid empty value.
        unsafe { std::mem::zeroed() },
        // SAFETY: as above.
        unsafe { std::mem::zeroed() },
    ];
    for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
        // SAFETY: installing a handler with a zeroed, then filled, sigaction:
        // SA_SIGINFO (three-argument handler, we need the fault address and
        // the interrupted context), SA_ONSTACK (the fault may be a stack
        // overflow: run on the alternate stack), SA_RESTART (interrupted
        // system calls of other code restart).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, &mut previous[i]);
        }
    }
    let _ = PREVIOUS.set(previous);
}

/// A fixed buffer for composing the message without allocating.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl Line {
    fn emit(&mut self) {
        if self.len == self.buf.len() {
            self.buf[self.len - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        // SAFETY: writing our own buffer to stderr; write(2) is
        // async-signal-safe.
        unsafe { libc::write(2, self.buf.as_ptr().cast(), self.len) };
    }
}

/// Where a string that faulted continues: it ends with `status`.
extern "C" fn fault_exit(status: i32) -> ! {
    exit_current(status);
    // SAFETY: not on a fiber after all (exit_current returned): end the
    // process without running anything else.
    unsafe { libc::_exit(status) }
}

fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGBUS {
        "SIGBUS (bus error)"
    } else {
        "SIGSEGV (segmentation fault)"
    }
}

extern "C" fn on_fault(sig: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t and ucontext_t for a
    // SA_SIGINFO handler.
    let (addr, uc) = unsafe {
        (
            (*info).si_addr() as usize,
            &mut *(context as *mut libc::ucontext_t),
        )
    };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let status = 128 + sig;
    let mut line = Line {
        buf: [0; 512],
        len: 0,
    };
    let string = current().filter(|c| c.stack_bounds() != (0, 0));

    if let Some(ctx) = string {
        let (low, high) = ctx.stack_bounds();
        if (low..low + weaves_strings::STACK_GUARD).contains(&addr) {
            let _ = write!(
                line,
                "weaves: stack overflow in string `{}` (weave `{}`): its stack is {} KiB; give it more with stack_kib",
                ctx.info.name,
                ctx.info.weave,
                (high - low - weaves_strings::STACK_GUARD) >> 10
            );
            line.emit();
            // Continue high on the string's own stack, far from the overflow.
            resume_in_fault_exit(uc, (high - (32 << 10)) & !15, status);
            return;
        }
    }

    let mut in_bead = false;
    let mut shared = false;
    with_bead_at(pc as u64, |bead, function| {
        in_bead = true;
        shared = bead.shared;
        let _ = write!(line, "weaves: {}", signal_name(sig));
        if let Some(ctx) = string {
            let _ = write!(
                line,
                " in string `{}` (weave `{}`)",
                ctx.info.name, ctx.info.weave
            );
        }
        let _ = write!(line, ": bead `{}` (", bead.name.to_string_lossy());
        let _ = write!(line, "{}", bead.path.to_string_lossy());
        match function {
            Some((name, off)) => {
                let _ = write!(line, ", {name}+{off:#x}");
            }
            None => {
                let _ = write!(line, ", +{:#x}", pc as u64 - bead.base);
            }
        }
        let _ = write!(line, ") touched address {addr:#x}");
        if bead.shared {
            let _ = write!(
                line,
                "; the bead is shared by several weaves, so the whole tapestry stops"
            );
        }
    });
    match (string, in_bead) {
        (Some(_), true) if !shared => {
            line.emit();
            // Below the red zone of the interrupted frame.
            resume_in_fault_exit(uc, sp.saturating_sub(1024) & !15, status);
        }
        (_, true) => {
            line.emit();
            // SAFETY: ending the process from a signal handler.
            unsafe { libc::_exit(status) }
        }
        (Some(ctx), false) => {
            let _ = write!(
                line,
                "weaves: {} in string `{}` (weave `{}`) outside bead code, at {pc:#x}, touching {addr:#x}",
                signal_name(sig),
                ctx.info.name,
                ctx.info.weave
            );
            line.emit();
            // SAFETY: as above.
            unsafe { libc::_exit(status) }
        }
        (None, false) => chain(sig, info, context),
    }
}

/// Makes the interrupted context continue in `fault_exit(status)` with its
/// stack pointer at `sp` (16-byte aligned, as at a function's call site).
fn resume_in_fault_exit(uc: &mut libc::ucontext_t, sp: usize, status: i32) {
    let g = &mut uc.uc_mcontext.gregs;
    g[libc::REG_RIP as usize] = fault_exit as *const () as i64;
    // As if `call fault_exit` had pushed a return address.
    g[libc::REG_RSP as usize] = (sp - 8) as i64;
    g[libc::REG_RDI as usize] = i64::from(status);
}

/// Hands a fault that is not ours to the handler installed before.
fn chain(sig: i32, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let i = usize::from(sig == libc::SIGBUS);
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    let prev = previous[i];
    match prev.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: restore the default action and return: the faulting
            // instruction runs again and the kernel applies it.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &action, std::ptr::null_mut());
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
