//! `__tls_get_addr` and TLS descriptors for bead code.

use weaves_strings::tls;

use crate::real::real;

/// `__tls_get_addr` as bound into beads: our module ids are answered from
/// the string's blocks, glibc's are passed on.
pub(crate) unsafe extern "C" fn tls_get_addr(ti: *const u64) -> *mut u8 {
    // SAFETY: the caller passes a `tls_index { module, offset }`.
    let (module, offset) = unsafe { (*ti, *ti.add(1)) };
    if tls::is_bead_module(module) {
        return tls::address(module, offset);
    }
    // SAFETY: a glibc module id: glibc answers it.
    unsafe { (real().tls_get_addr)(ti) }
}

extern "C" fn tlsdesc_slow(arg: u64) -> u64 {
    let module = tls::module_id((arg >> 40) as u32);
    tls::address(module, arg & 0xff_ffff_ffff) as u64
}

// TLS descriptor resolvers (x86-64 "gnu2" dialect). Called with %rax
// pointing at the descriptor {resolver, argument}; must return in %rax the
// variable's offset from the thread pointer and preserve every other
// register, vector registers included.
std::arch::global_asm!(
    ".globl weaves_tlsdesc_static",
    ".hidden weaves_tlsdesc_static",
    "weaves_tlsdesc_static:",
    "mov rax, qword ptr [rax + 8]",
    "ret",
    ".globl weaves_tlsdesc_dynamic",
    ".hidden weaves_tlsdesc_dynamic",
    "weaves_tlsdesc_dynamic:",
    "push rbp",
    "mov rbp, rsp",
    "push rdi", "push rsi", "push rdx", "push rcx", "push r8", "push r9", "push r10", "push r11",
    "and rsp, -64",
    "sub rsp, 512",
    "fxsave64 [rsp]",
    "mov rdi, qword ptr [rax + 8]",
    "call {slow}",
    "sub rax, qword ptr fs:[0]",
    "fxrstor64 [rsp]",
    "lea rsp, [rbp - 64]",
    "pop r11", "pop r10", "pop r9", "pop r8", "pop rcx", "pop rdx", "pop rsi", "pop rdi",
    "pop rbp",
    "ret",
    slow = sym tlsdesc_slow,
);

extern "C" {
    fn weaves_tlsdesc_static();
    fn weaves_tlsdesc_dynamic();
}

/// Addresses of the descriptor resolvers, for the loader.
pub fn tls_resolvers() -> (u64, u64) {
    (
        weaves_tlsdesc_dynamic as *const () as u64,
        weaves_tlsdesc_static as *const () as u64,
    )
}

/// Offset from this thread's thread pointer of `addr`, a host library's
/// thread-local variable in static TLS (the same offset on every thread).
pub fn host_static_tls_offset(addr: u64) -> i64 {
    let tp: u64;
    // SAFETY: on x86-64 Linux %fs:0 holds the thread pointer itself.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    addr.wrapping_sub(tp) as i64
}
