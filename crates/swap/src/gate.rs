//! Gates: the stubs a mediator puts in client slots while a swap runs.
//!
//! ```text
//!  client:  call [slot] ──> stub k ──> gate_common ──> gate_enter(entry k, &return slot)
//!                                         │                 │ forward: record the return
//!                                         │                 │   address, replace it with
//!                                         │                 │   gate_return, answer `old`
//!                                         │                 │ block: park; answer `new`
//!                                         ▼                 ▼
//!                                      jmp answer (arguments and stack as the client left them)
//!  old function returns ──> gate_return ──> gate_exit(sp) ──> jmp real return address
//! ```
//!
//! A stub is 32 bytes: `movabs r11, entry; jmp [rip]; .quad gate_common`.
//! `gate_common` saves every argument register (integer, vector, `al` for
//! variadic calls, `r10` for a static chain), asks [`gate_enter`] where to
//! go, restores them and jumps: the callee sees exactly the call the client
//! made, except for its return address while the call is counted.
//! `gate_return` keeps the return registers (`rax`, `rdx`, `xmm0`, `xmm1`;
//! the x87 stack is never touched by the runtime) around [`gate_exit`].
//!
//! Stub pages are never unmapped: a string may have read a slot just
//! before the swap completed and jump to the stub afterwards, and a stub
//! of a completed swap still sends it to the right place.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::mediator::Mediator;

/// One function of the old bead as the gates see it.
pub struct GateEntry {
    pub(crate) mediator: &'static Mediator,
    /// The old bead's definition.
    pub(crate) old: u64,
    /// The new bead's definition (known from the start, used once the
    /// swap completes).
    pub(crate) new: AtomicU64,
}

std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl weaves_gate_common",
    ".hidden weaves_gate_common",
    "weaves_gate_common:",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "sub rsp, 192",
    "mov [rsp], rdi",
    "mov [rsp + 8], rsi",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], rcx",
    "mov [rsp + 32], r8",
    "mov [rsp + 40], r9",
    "mov [rsp + 48], rax",
    "mov [rsp + 56], r10",
    "movdqu [rsp + 64], xmm0",
    "movdqu [rsp + 80], xmm1",
    "movdqu [rsp + 96], xmm2",
    "movdqu [rsp + 112], xmm3",
    "movdqu [rsp + 128], xmm4",
    "movdqu [rsp + 144], xmm5",
    "movdqu [rsp + 160], xmm6",
    "movdqu [rsp + 176], xmm7",
    "mov rdi, r11",
    "lea rsi, [rbp + 8]",
    "call {enter}",
    "mov r11, rax",
    "mov rdi, [rsp]",
    "mov rsi, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov rcx, [rsp + 24]",
    "mov r8, [rsp + 32]",
    "mov r9, [rsp + 40]",
    "mov rax, [rsp + 48]",
    "mov r10, [rsp + 56]",
    "movdqu xmm0, [rsp + 64]",
    "movdqu xmm1, [rsp + 80]",
    "movdqu xmm2, [rsp + 96]",
    "movdqu xmm3, [rsp + 112]",
    "movdqu xmm4, [rsp + 128]",
    "movdqu xmm5, [rsp + 144]",
    "movdqu xmm6, [rsp + 160]",
    "movdqu xmm7, [rsp + 176]",
    "mov rsp, rbp",
    "pop rbp",
    "jmp r11",
    "",
    ".p2align 4",
    ".globl weaves_gate_return",
    ".hidden weaves_gate_return",
    "weaves_gate_return:",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "sub rsp, 48",
    "mov [rsp], rax",
    "mov [rsp + 8], rdx",
    "movdqu [rsp + 16], xmm0",
    "movdqu [rsp + 32], xmm1",
    "lea rdi, [rbp + 8]",
    "call {exit}",
    "mov r11, rax",
    "mov rax, [rsp]",
    "mov rdx, [rsp + 8]",
    "movdqu xmm0, [rsp + 16]",
    "movdqu xmm1, [rsp + 32]",
    "mov rsp, rbp",
    "pop rbp",
    "jmp r11",
    enter = sym gate_enter,
    exit = sym gate_exit,
);

extern "C" {
    fn weaves_gate_common();
    fn weaves_gate_return();
}

/// Where a counted call returns to first.
pub(crate) fn return_path() -> u64 {
    weaves_gate_return as *const () as u64
}

/// Called by `gate_common` for every call through a gate: where the call
/// goes. `slot` is the stack word holding the call's return address.
extern "C" fn gate_enter(entry: *const GateEntry, slot: *mut u64) -> u64 {
    let _rt = weaves_strings::RuntimeSection::enter();
    // SAFETY: `entry` is the immediate a stub of a leaked GateEntry array
    // passes (see `StubPage::new`); such entries are never freed.
    let entry = unsafe { &*entry };
    let target = crate::mediator::decide(entry, slot as u64);
    if let Some(ctx) = weaves_strings::current() {
        ctx.mediation.entering.store(0, Ordering::SeqCst);
    }
    target
}

/// Called by `gate_return` when a counted call returns; `sp` is the stack
/// pointer after the return. Gives the call's real return address.
extern "C" fn gate_exit(sp: u64) -> u64 {
    let _rt = weaves_strings::RuntimeSection::enter();
    crate::mediator::leave(sp)
}

const STUB: usize = 32;

/// Executable stubs, one per gated function, each passing its entry.
pub(crate) struct StubPage {
    base: usize,
}

impl StubPage {
    /// Maps stubs for `entries` (leaked: see the module docs).
    pub(crate) fn new(entries: &'static [GateEntry]) -> std::io::Result<StubPage> {
        let len = (entries.len().max(1) * STUB).next_multiple_of(4096);
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = p as usize;
        let common = weaves_gate_common as *const () as u64;
        for (k, e) in entries.iter().enumerate() {
            let mut code = [0xccu8; STUB];
            code[0] = 0x49; // movabs r11, imm64
            code[1] = 0xbb;
            code[2..10].copy_from_slice(&(e as *const GateEntry as u64).to_le_bytes());
            code[10..16].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]); // jmp [rip]
            code[16..24].copy_from_slice(&common.to_le_bytes());
            // SAFETY: stub k lies inside the `len` bytes mapped read-write
            // above (len >= entries.len() * STUB).
            unsafe {
                std::ptr::copy_nonoverlapping(code.as_ptr(), (base + k * STUB) as *mut u8, STUB)
            };
        }
        // SAFETY: the mapping made above, `len` bytes; from now on it is
        // code and never written again.
        if unsafe { libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(StubPage { base })
    }

    /// The address of stub `k`.
    pub(crate) fn stub(&self, k: usize) -> u64 {
        (self.base + k * STUB) as u64
    }
}

/// Reads one word of the calling string's own live stack.
///
/// # Safety
/// `at` must be an 8-byte aligned address in the live part of the calling
/// thread's current stack.
pub(crate) unsafe fn own_stack_word(at: u64) -> u64 {
    // SAFETY: caller contract.
    unsafe { AtomicU64::from_ptr(at as *mut u64) }.load(Ordering::Relaxed)
}
