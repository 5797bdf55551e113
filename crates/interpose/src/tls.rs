//! `__tls_get_addr` and TLS descriptors for bead code.

use std::sync::atomic::{AtomicU64, Ordering};

use weaves_loader::HOST_TLS_FLAG;
use weaves_strings::tls;

use crate::real::real;

// `__tls_get_addr` as bound into beads. Code built by old compilers may call
// it with a misaligned stack (GCC PR 58066), so the entry realigns it before
// running Rust code.
std::arch::global_asm!(
    ".globl weaves_tls_get_addr",
    ".hidden weaves_tls_get_addr",
    "weaves_tls_get_addr:",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "call {imp}",
    "mov rsp, rbp",
    "pop rbp",
    "ret",
    imp = sym tls_get_addr,
);

extern "C" {
    pub(crate) fn weaves_tls_get_addr(ti: *const u64) -> *mut u8;
}

/// Our module ids are answered from the string's blocks, glibc's are passed
/// on.
unsafe extern "C" fn tls_get_addr(ti: *const u64) -> *mut u8 {
    // SAFETY: the caller passes a `tls_index { module, offset }`.
    let (module, offset) = unsafe { (*ti, *ti.add(1)) };
    if tls::is_bead_module(module) {
        return tls::address(module, offset);
    }
    // SAFETY: a glibc module id: glibc answers it.
    unsafe { (real().tls_get_addr)(ti) }
}

/// Slow path of the dynamic descriptor: the variable's address.
extern "C" fn tlsdesc_slow(arg: u64) -> u64 {
    let module = (arg >> 40) & 0xff_ffff;
    let offset = arg & 0xff_ffff_ffff;
    if arg & HOST_TLS_FLAG != 0 {
        let ti = [module, offset];
        // SAFETY: a glibc module id and offset, as __tls_get_addr takes them.
        return unsafe { (real().tls_get_addr)(ti.as_ptr()) } as u64;
    }
    tls::address(tls::module_id(module as u32), offset) as u64
}

/// Bytes `xsave` needs for the state enabled in XCR0, rounded up to 64
/// (set by [`tls_resolvers`] before any bead runs).
pub(crate) static XSAVE_BYTES: AtomicU64 = AtomicU64::new(4096);

// TLS descriptor resolvers (x86-64 "gnu2" dialect). Called with %rax
// pointing at the descriptor {resolver, argument}; they return in %rax the
// variable's offset from the thread pointer and preserve every other
// register, including all vector state: the slow path runs Rust and libc
// code (memcpy may use AVX-512 registers or `vzeroupper`), so the whole
// extended state is saved with `xsave` (the XSAVE header must be zeroed
// first for `xrstor`, as `xsave` only writes XSTATE_BV).
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
    "mov rdi, qword ptr [rax + 8]",
    xstate_save!(),
    "call {slow}",
    "mov rsi, rax",
    xstate_restore!(),
    "mov rax, rsi",
    "sub rax, qword ptr fs:[0]",
    "lea rsp, [rbp - 64]",
    "pop r11", "pop r10", "pop r9", "pop r8", "pop rcx", "pop rdx", "pop rsi", "pop rdi",
    "pop rbp",
    "ret",
    slow = sym tlsdesc_slow,
    size = sym XSAVE_BYTES,
);

extern "C" {
    fn weaves_tlsdesc_static();
    fn weaves_tlsdesc_dynamic();
}

/// Addresses of the descriptor resolvers, for the loader.
pub fn tls_resolvers() -> (u64, u64) {
    // CPUID leaf 0xD, sub-leaf 0: EBX = bytes XSAVE needs for the features
    // XCR0 enables now. Every x86-64 Linux machine this runtime targets has
    // XSAVE (glibc 2.35+ itself relies on it for the same purpose).
    let leaf = std::arch::x86_64::__cpuid_count(0xd, 0);
    let bytes = (u64::from(leaf.ebx).max(576) + 63) & !63;
    XSAVE_BYTES.store(bytes + 64, Ordering::Relaxed);
    (
        weaves_tlsdesc_dynamic as *const () as u64,
        weaves_tlsdesc_static as *const () as u64,
    )
}

/// Offset from this thread's thread pointer of `addr`, a host library's
/// thread-local variable (the same offset on every thread if the library's
/// TLS is static).
pub fn host_static_tls_offset(addr: u64) -> i64 {
    let tp: u64;
    // SAFETY: on x86-64 Linux %fs:0 holds the thread pointer itself.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    addr.wrapping_sub(tp) as i64
}

/// glibc's TLS module id of the library holding thread-local variable
/// `addr` (this thread's instance, as `dlsym` returns it), and the
/// variable's offset in that module's block: the object whose TLS block on
/// this thread contains `addr`.
pub fn host_tls(addr: u64) -> Option<(u64, u64)> {
    struct Search {
        addr: u64,
        found: Option<(u64, u64)>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> i32 {
        // SAFETY: glibc passes a valid record; `data` is our Search.
        unsafe {
            let search = &mut *(data as *mut Search);
            let info = &*info;
            if info.dlpi_tls_modid == 0 || info.dlpi_tls_data.is_null() {
                return 0;
            }
            let block = info.dlpi_tls_data as u64;
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            let size = phdrs
                .iter()
                .find(|p| p.p_type == libc::PT_TLS)
                .map_or(0, |p| p.p_memsz);
            if (block..block + size).contains(&search.addr) {
                search.found = Some((info.dlpi_tls_modid as u64, search.addr - block));
                return 1;
            }
            0
        }
    }
    let mut search = Search { addr, found: None };
    // SAFETY: the real dl_iterate_phdr (host objects only) with a callback
    // that reads the records it is given.
    unsafe {
        (crate::real::real().dl_iterate_phdr)(Some(visit), (&mut search as *mut Search).cast())
    };
    search.found
}
