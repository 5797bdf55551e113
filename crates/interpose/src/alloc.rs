//! The `malloc` family, routed to per-bead heaps.
//!
//! Allocation entry points are tiny assembly shims that append the caller's
//! return address as an extra argument and jump to the Rust implementation:
//! Rust has no stable way to read its own return address, and the return
//! address is what tells us which bead's code is asking.
//!
//! ```text
//!  malloc(size)             -> malloc_from(size, ret)
//!  calloc(n, size)          -> calloc_from(n, size, ret)
//!  realloc(p, size)         -> realloc_from(p, size, ret)
//!  posix_memalign(pp, a, s) -> posix_memalign_from(pp, a, s, ret)
//!  aligned_alloc(a, s), memalign(a, s) -> memalign_from(a, s, ret)
//!  valloc(s), pvalloc(s)    -> valloc_from(s, ret)
//!  free(p)                  -> free_from(p, ret)
//! ```
//!
//! `free` and `realloc` route by the address: arena memory to the heap of
//! the bead owning it, anything else to the C library. A bead heap checks
//! what it is handed (see `weaves_arena`'s heap); a pointer it refuses, or
//! arena memory that no heap handed out (a string's stack, a bead's
//! globals), is reported as the calling bead's misuse, which ends the
//! string (see `fault`), instead of corrupting the heap or reaching the C
//! library, which would abort the whole process.

use weaves_arena::{heap_for, owner_of, Heap, HeapMisuse};

use crate::fault::{heap_misuse, heap_of, in_arena, Op};

extern "C" {
    fn __libc_malloc(size: usize) -> *mut u8;
    fn __libc_free(p: *mut u8);
    fn __libc_calloc(n: usize, size: usize) -> *mut u8;
    fn __libc_realloc(p: *mut u8, size: usize) -> *mut u8;
    fn __libc_memalign(align: usize, size: usize) -> *mut u8;
}

macro_rules! shim {
    ($name:literal, $reg:literal, $target:ident) => {
        std::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            concat!("mov ", $reg, ", qword ptr [rsp]"),
            "jmp {target}",
            concat!(".size ", $name, ", . - ", $name),
            target = sym $target,
        );
    };
}

shim!("malloc", "rsi", malloc_from);
shim!("calloc", "rdx", calloc_from);
shim!("realloc", "rdx", realloc_from);
shim!("posix_memalign", "rcx", posix_memalign_from);
shim!("aligned_alloc", "rdx", memalign_from);
shim!("memalign", "rdx", memalign_from);
shim!("valloc", "rsi", valloc_from);
shim!("pvalloc", "rsi", pvalloc_from);
shim!("free", "rsi", free_from);

/// The heap an allocation requested from `ret` should come from, or `None`
/// for the C library's heap.
#[inline]
fn heap_for_caller(ret: usize) -> Option<&'static Heap> {
    if let Some(owner) = owner_of(ret) {
        return heap_for(owner);
    }
    match weaves_strings::acting_bead() {
        0 => None,
        owner => heap_for(owner),
    }
}

fn set_enomem(p: *mut u8) -> *mut u8 {
    if p.is_null() {
        // SAFETY: errno is thread-local and always writable.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
    }
    p
}

extern "C" fn malloc_from(size: usize, ret: usize) -> *mut u8 {
    let heap = match owner_of(ret) {
        Some(owner) => {
            // Called by bead code itself (not by the runtime or a system
            // library, which may hold locks): a safe point.
            weaves_strings::blocking::preempt_point();
            heap_for(owner)
        }
        None => heap_for_caller(ret),
    };
    match heap {
        Some(h) => set_enomem(h.allocate(size)),
        // SAFETY: plain forwarding to the C library's allocator.
        None => unsafe { __libc_malloc(size) },
    }
}

extern "C" fn calloc_from(n: usize, size: usize, ret: usize) -> *mut u8 {
    match heap_for_caller(ret) {
        Some(h) => {
            let Some(total) = n.checked_mul(size) else {
                return set_enomem(std::ptr::null_mut());
            };
            set_enomem(h.allocate_zeroed(total))
        }
        // SAFETY: plain forwarding.
        None => unsafe { __libc_calloc(n, size) },
    }
}

extern "C" fn realloc_from(p: *mut u8, size: usize, ret: usize) -> *mut u8 {
    if p.is_null() {
        return malloc_from(size, ret);
    }
    if !in_arena(p as usize) {
        // SAFETY: not arena memory, so the C library allocated it (or the
        // C library reports what it is).
        return unsafe { __libc_realloc(p, size) };
    }
    if crate::dsm_hooks::foreign_block(p as usize, false) {
        // Another DSM node's block: a new one here, the contents (read
        // through shared pages; `size` bytes, the old block's length is
        // that node's to know), the old block back to its node.
        let fresh = malloc_from(size, ret);
        if !fresh.is_null() {
            // SAFETY: `fresh` has `size` bytes; `p`'s node's pages are
            // readable here through DSM faults.
            unsafe { std::ptr::copy_nonoverlapping(p, fresh, size) };
            crate::dsm_hooks::foreign_block(p as usize, true);
        }
        return fresh;
    }
    let Some(h) = heap_of(p as usize) else {
        refuse(
            HeapMisuse::NotInHeap { ptr: p as usize },
            Op::Realloc,
            ret,
            None,
        )
    };
    if size == 0 {
        // SAFETY: `h` checks that `p` is one of its live blocks; the caller
        // does not use `p` after realloc(p, 0).
        if let Err(m) = unsafe { h.free(p) } {
            refuse(m, Op::Realloc, ret, Some(h))
        }
        return std::ptr::null_mut();
    }
    // SAFETY: as above; `p` is not used after a successful realloc.
    match unsafe { h.reallocate(p, size) } {
        Ok(fresh) => set_enomem(fresh),
        Err(m) => refuse(m, Op::Realloc, ret, Some(h)),
    }
}

/// Ends the string for handing heap `h` (if any) the pointer it refused.
fn refuse(misuse: HeapMisuse, op: Op, ret: usize, h: Option<&Heap>) -> ! {
    // A pointer outside the heap is described by where it lies instead.
    let heap = h
        .filter(|_| !matches!(misuse, HeapMisuse::NotInHeap { .. }))
        .map(Heap::owner);
    let ptr = match misuse {
        HeapMisuse::NotInHeap { ptr }
        | HeapMisuse::NotABlock { ptr }
        | HeapMisuse::DoubleFree { ptr }
        | HeapMisuse::Overflow { ptr, .. }
        | HeapMisuse::OverrunFromBefore { ptr } => ptr,
    };
    heap_misuse(misuse, op, ptr, ret, heap)
}

extern "C" fn memalign_from(align: usize, size: usize, ret: usize) -> *mut u8 {
    match heap_for_caller(ret) {
        Some(h) => set_enomem(h.allocate_aligned(size, align)),
        // SAFETY: plain forwarding.
        None => unsafe { __libc_memalign(align, size) },
    }
}

extern "C" fn posix_memalign_from(out: *mut *mut u8, align: usize, size: usize, ret: usize) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(std::mem::size_of::<usize>()) {
        return libc::EINVAL;
    }
    let p = memalign_from(align, size, ret);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: C requires `out` to point to writable storage for a pointer.
    unsafe { *out = p };
    0
}

extern "C" fn valloc_from(size: usize, ret: usize) -> *mut u8 {
    memalign_from(weaves_arena::page_size(), size, ret)
}

extern "C" fn pvalloc_from(size: usize, ret: usize) -> *mut u8 {
    let page = weaves_arena::page_size();
    memalign_from(page, size.div_ceil(page).max(1) * page, ret)
}

/// `free`: by the address freed, to its bead's heap or the C library.
extern "C" fn free_from(p: *mut u8, ret: usize) {
    if p.is_null() {
        return;
    }
    if !in_arena(p as usize) {
        // SAFETY: not arena memory: the C library allocated it (or the C
        // library reports what it is, and the fault handler ends the string
        // that handed it over).
        return unsafe { __libc_free(p) };
    }
    if crate::dsm_hooks::foreign_block(p as usize, true) {
        return;
    }
    match heap_of(p as usize) {
        Some(h) => {
            // SAFETY: `h` checks that `p` is one of its live blocks; the
            // caller does not use `p` after free.
            if let Err(m) = unsafe { h.free(p) } {
                refuse(m, Op::Free, ret, Some(h))
            }
        }
        None => refuse(
            HeapMisuse::NotInHeap { ptr: p as usize },
            Op::Free,
            ret,
            None,
        ),
    }
}

/// `malloc_usable_size`.
///
/// # Safety
/// As for glibc's `malloc_usable_size`.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    if owner_of(p as usize).is_some() {
        // SAFETY: arena heap memory handed out by a Heap.
        return unsafe { Heap::usable_size(p) };
    }
    // SAFETY: C library memory.
    unsafe { (crate::real::real().malloc_usable_size)(p.cast()) }
}

extern "C" {
    pub(crate) fn malloc(size: usize) -> *mut u8;
    pub(crate) fn free(p: *mut u8);
    pub(crate) fn calloc(n: usize, size: usize) -> *mut u8;
    pub(crate) fn realloc(p: *mut u8, size: usize) -> *mut u8;
    pub(crate) fn posix_memalign(out: *mut *mut u8, align: usize, size: usize) -> i32;
    pub(crate) fn aligned_alloc(align: usize, size: usize) -> *mut u8;
    pub(crate) fn memalign(align: usize, size: usize) -> *mut u8;
    pub(crate) fn valloc(size: usize) -> *mut u8;
    pub(crate) fn pvalloc(size: usize) -> *mut u8;
}
