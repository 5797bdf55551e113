//! Preemption at safe points (`[tapestry] preempt_ms = N`, 10 by default).
//!
//! The scheduler's watchdog (`weaves_strings::watchdog`) sends `SIGURG` to
//! a worker whose string has run for N ms without letting go. The handler
//! looks at where the running string was interrupted:
//!
//! * **Safe**: the interrupted instruction is in the code of a bead that
//!   belongs to the weaves of one declared string at most: only that
//!   program runs it, the declared string and the threads it made with
//!   `pthread_create` (directly or through a system library such as
//!   libstdc++), and a program's threads are written for preemptive
//!   execution. (A thread is not preempted where the runtime called back
//!   into bead code from inside one of its own sections.) The handler
//!   rewrites the interrupted context so that, when it returns, the string
//!   calls the preemption stub as if the interrupted instruction had called
//!   it: the stub saves every register (flags and the full vector state
//!   included), yields the fiber, restores everything and returns to the
//!   interrupted instruction.
//! * **Not safe** — inside code the string shares with strings of its
//!   equivalence class (a bead other declared strings may run, or a system
//!   library or the runtime, which everyone shares): switching there could
//!   let another string re-enter code that is not re-entrant, or wait for a
//!   lock the suspended string holds on the same worker. The tick is remembered and
//!   the string yields at its next interposed call (allocation, locking,
//!   I/O, sleeping, yielding).
//!
//! ```text
//!   interrupted stack            after the handler returns
//!   | ... frame ...  | <- rsp    | ... frame ...   |
//!                                | red zone (128)  |   (left untouched)
//!                                | interrupted rip | <- rsp, rip = stub
//!   stub: push flags and registers, xsave, yield, xrstor, pop, `ret 128`
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use weaves_strings::current;

use crate::phdr::with_bead_at;
use crate::tls::XSAVE_BYTES;

/// The signal ticks are delivered with (ignored by default, so a stray one
/// harms nothing).
pub const TICK: i32 = libc::SIGURG;

/// Installs the tick handler (once).
pub fn install() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    crate::tls::tls_resolvers(); // sizes the XSAVE area the stub uses
                                 // SAFETY: a zeroed sigaction filled in: three-argument handler
                                 // (SA_SIGINFO: we need the interrupted context), on the alternate stack
                                 // (SA_ONSTACK: the fiber's stack is not ours to grow), restarting
                                 // interrupted system calls of other code (SA_RESTART).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_tick as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(TICK, &action, std::ptr::null_mut());
    }
}

extern "C" fn on_tick(_sig: i32, _info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(ctx) = current() else { return };
    let (low, high) = ctx.stack_bounds();
    if (low, high) == (0, 0) {
        return;
    }
    // SAFETY: the kernel passes a valid ucontext_t for a SA_SIGINFO handler.
    let uc = unsafe { &mut *(context as *mut libc::ucontext_t) };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64;
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let mut safe = false;
    with_bead_at(pc, |bead, _| safe = bead.preemptible);
    // A program's own threads share its beads, and its code is written to
    // be preempted anywhere; but not where the runtime called back into it
    // from one of its own sections (it may hold a lock there that another
    // string on this worker needs).
    if safe && ctx.has_siblings.load(Ordering::Relaxed) {
        safe = weaves_strings::acting_bead() != 0;
    }
    // Native code a Wasm engine called: the engine's per-thread state must
    // not meet another string's on this worker.
    if ctx.holds_worker.load(Ordering::Relaxed) != 0 {
        safe = false;
    }
    // The stub needs room below the red zone: registers and the XSAVE area.
    let need = 128 + 8 + 17 * 8 + 64 + XSAVE_BYTES.load(Ordering::Relaxed) as usize + 4096;
    let room = sp > low + weaves_strings::STACK_GUARD + need && sp <= high;
    if !(safe && room) {
        ctx.preempt_pending.store(true, Ordering::Relaxed);
        return;
    }
    let new_sp = sp - 128 - 8;
    // SAFETY: `new_sp` lies on the string's own stack, below the interrupted
    // frame's red zone and above its guard (checked above); nothing lives
    // there. Writing the interrupted pc makes it the stub's return address.
    unsafe { (new_sp as *mut u64).write(pc) };
    let g = &mut uc.uc_mcontext.gregs;
    g[libc::REG_RSP as usize] = new_sp as i64;
    g[libc::REG_RIP as usize] = weaves_preempt_stub as *const () as i64;
}

extern "C" fn preempted() {
    weaves_strings::blocking::preempted();
}

// Entered (from a rewritten context) with [rsp] = the interrupted pc and
// the interrupted frame's red zone above it. Preserves every register and
// the flags, so the interrupted code cannot tell it ran.
std::arch::global_asm!(
    ".globl weaves_preempt_stub",
    ".hidden weaves_preempt_stub",
    "weaves_preempt_stub:",
    "pushfq",
    "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
    "push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14", "push r15",
    "mov rbp, rsp",
    xstate_save!(),
    "call {yield_now}",
    xstate_restore!(),
    "mov rsp, rbp",
    "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "popfq",
    "ret 128",
    size = sym XSAVE_BYTES,
    yield_now = sym preempted,
);

extern "C" {
    fn weaves_preempt_stub();
}
