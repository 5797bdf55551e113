//! Frames a checkpointed string can be resumed from, in any process.
//!
//! A string's stack holds three kinds of frames:
//!
//! ```text
//!  stack base (high)
//!  | coroutine frames (the switch library's and ours) | <- of this process only
//!  +--- top = base - TOP_RESERVE ------------------------------------------+
//!  | fiber_base: calls the entry, then reports its return value      |  ^
//!  | bead frames (C, Fortran, ...)                                    |  | process-
//!  | Boundary record: the bead's registers where it called into us    |  | independent
//!  +------------------------------------------------------------------+  v
//!  | runtime frames (the interposed call's Rust code, the switch)     | <- this process only
//!  stack limit (low)
//! ```
//!
//! Everything between the boundary record and `top` means the same thing in
//! a new process with the same layout (same executable, same system
//! libraries, address-space randomisation off): bead code and data live at
//! the same arena addresses, and the frames hold nothing of the runtime's
//! own heap. So a string caught at a boundary can be resumed elsewhere by
//! restoring the stack's bytes, making a fresh coroutine on the same stack
//! (its frames land above `top`) and jumping back to the bead with the
//! boundary's registers: either re-entering the interposed call from the
//! start (a sleep or a lock wait is simply made again) or returning a value
//! (`wv_checkpoint` returns 1).
//!
//! The boundary record is pushed by a small stub per checkpointable call
//! (`boundary_stub!`): the stub saves the callee-saved registers and the
//! argument registers, then calls the Rust implementation with a pointer to
//! the record as a seventh argument.

/// Bytes at the top of every fiber stack left to the coroutine's own frames
/// (unoptimised builds have far larger frames). A restore uses the same
/// executable, hence the same reserve.
pub const TOP_RESERVE: usize = if cfg!(debug_assertions) {
    32 << 10
} else {
    1024
};

/// What a boundary stub pushed: the bead's argument registers (for
/// re-entering the call), its callee-saved registers, and where the call
/// returns to. Lowest address first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Boundary {
    pub args: [u64; 6],
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbx: u64,
    pub rbp: u64,
    pub ret: u64,
}

core::arch::global_asm!(
    // fiber_base(entry, a0, a1, a2, top): runs entry(a0, a1, a2) with its
    // stack starting at `top`, then hands the value it returned to
    // `fiber_returned`. It never returns and keeps nothing in its frame, so
    // the frames below it are meaningful in another process too.
    ".text",
    ".globl weaves_fiber_base",
    ".type weaves_fiber_base,@function",
    "weaves_fiber_base:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "mov rsp, r8",
    "xor ebp, ebp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "call rax",
    "mov rdi, rax",
    "call {returned}",
    "ud2",
    ".cfi_endproc",
    ".size weaves_fiber_base, .-weaves_fiber_base",
    // boundary_resume(record, target): back to bead code as it was when it
    // made the call the record belongs to, entering `target` as that call.
    ".globl weaves_boundary_resume",
    ".type weaves_boundary_resume,@function",
    "weaves_boundary_resume:",
    "mov rsp, rdi",
    "mov rax, rsi",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop r8",
    "pop r9",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "jmp rax",
    ".size weaves_boundary_resume, .-weaves_boundary_resume",
    // Resume targets that only return a value.
    ".globl weaves_return_one",
    "weaves_return_one:",
    "mov eax, 1",
    "ret",
    ".globl weaves_return_zero",
    "weaves_return_zero:",
    "xor eax, eax",
    "ret",
    returned = sym fiber_returned,
);

extern "C" {
    fn weaves_fiber_base(entry: u64, a0: u64, a1: u64, a2: u64, top: u64) -> !;
    fn weaves_boundary_resume(record: u64, target: u64) -> !;
    fn weaves_return_one() -> i32;
    fn weaves_return_zero() -> i32;
}

/// Resume target of a call that returns 1 (`wv_checkpoint` after a restore).
pub fn return_one() -> u64 {
    weaves_return_one as *const () as u64
}

/// Resume target of a call that returns 0.
pub fn return_zero() -> u64 {
    weaves_return_zero as *const () as u64
}

/// Where `fiber_base` goes when the entry returns: the string ends with the
/// entry's value.
extern "C" fn fiber_returned(value: i64) -> ! {
    if crate::forked::in_forked_child() {
        crate::forked::entry_returned(value);
    }
    crate::ctx::suspend(crate::ctx::Suspend::Return(value));
    // A string that ended is never resumed.
    std::process::abort()
}

/// The `top` of a stack whose coroutine base is `base`.
pub(crate) fn top_of(base: usize) -> usize {
    (base - TOP_RESERVE) & !15
}

/// Runs `entry(a0, a1, a2)` with its stack from `top` down; the string ends
/// with what it returns.
///
/// # Safety
/// Called on the fiber whose stack `top` belongs to, from a frame above
/// `top` (the coroutine's), with `entry` a function of bead code taking up
/// to three integer arguments.
pub(crate) unsafe fn enter_base(entry: u64, a0: u64, a1: u64, a2: u64, top: usize) -> ! {
    let here = 0u8;
    assert!(
        (&here as *const u8 as usize) > top + 64,
        "fiber frames reach below the reserved top"
    );
    // SAFETY: as promised by the caller; `fiber_base` switches to `top`,
    // below every frame of ours, and never returns.
    unsafe { weaves_fiber_base(entry, a0, a1, a2, top as u64) }
}

/// Resumes bead code at boundary `record`, entering `target`.
///
/// # Safety
/// The stack from `record` up to the fiber's `top` holds the frames of a
/// string caught at a boundary (restored from an image, or left in place),
/// the caller runs on that fiber above `top`, and `target` is a function
/// valid to enter with the recorded argument registers.
pub(crate) unsafe fn resume_at(record: usize, target: u64) -> ! {
    // SAFETY: as promised by the caller.
    unsafe { weaves_boundary_resume(record as u64, target) }
}

/// Defines `extern "C" fn $stub` that pushes a [`Boundary`] and calls
/// `$imp(record)`, an `extern "C" fn(&Boundary) -> u64` that finds the
/// call's (integer) arguments in `record.args`.
#[macro_export]
macro_rules! boundary_stub {
    ($stub:ident, $imp:path) => {
        core::arch::global_asm!(
            ".text",
            concat!(".globl ", stringify!($stub)),
            concat!(".type ", stringify!($stub), ",@function"),
            concat!(stringify!($stub), ":"),
            ".cfi_startproc",
            "push rbp",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset rbp, 0",
            "push rbx",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset rbx, 0",
            "push r12",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r12, 0",
            "push r13",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r13, 0",
            "push r14",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r14, 0",
            "push r15",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r15, 0",
            "push r9",
            "push r8",
            "push rcx",
            "push rdx",
            "push rsi",
            "push rdi",
            ".cfi_adjust_cfa_offset 48",
            "mov rdi, rsp",
            "sub rsp, 8",
            ".cfi_adjust_cfa_offset 8",
            "call {imp}",
            "add rsp, 56",
            ".cfi_adjust_cfa_offset -56",
            "pop r15",
            ".cfi_adjust_cfa_offset -8",
            "pop r14",
            ".cfi_adjust_cfa_offset -8",
            "pop r13",
            ".cfi_adjust_cfa_offset -8",
            "pop r12",
            ".cfi_adjust_cfa_offset -8",
            "pop rbx",
            ".cfi_adjust_cfa_offset -8",
            "pop rbp",
            ".cfi_adjust_cfa_offset -8",
            "ret",
            ".cfi_endproc",
            concat!(".size ", stringify!($stub), ", .-", stringify!($stub)),
            imp = sym $imp,
        );
    };
}
