//! The runtime's own allocator: Rust allocations of the `weaves` executable
//! go straight to the C library's heap, never to a bead's.
//!
//! The exported `malloc` routes a call made while a string runs to the heap
//! of the bead acting (see [`crate::alloc`]). Rust's default allocator calls
//! that `malloc`, so a timer, a wait-list node or a monitor reply made by
//! runtime code on a string's worker would land in that bead's heap, and be
//! unmapped under the runtime's feet when the bead is removed. Declaring
//! this type as the executable's `#[global_allocator]` makes that impossible
//! by construction: the runtime never enters the routing `malloc` at all.
//!
//! ```text
//!   Rust code (runtime)      --> RuntimeAllocator --> __libc_malloc (glibc heap)
//!   bead code / libc for it  --> malloc shim      --> bead heap (arena)
//! ```

use std::alloc::{GlobalAlloc, Layout};

extern "C" {
    fn __libc_malloc(size: usize) -> *mut u8;
    fn __libc_free(p: *mut u8);
    fn __libc_calloc(n: usize, size: usize) -> *mut u8;
    fn __libc_realloc(p: *mut u8, size: usize) -> *mut u8;
    fn __libc_memalign(align: usize, size: usize) -> *mut u8;
}

/// glibc's `malloc` returns memory aligned to 16 bytes on x86-64.
const MALLOC_ALIGN: usize = 16;

/// The runtime's `#[global_allocator]`: glibc's heap, bypassing the
/// per-bead routing of the exported `malloc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeAllocator;

// SAFETY: every method forwards to glibc's allocator entry points, which
// return memory valid for the requested size and alignment (or null), and
// `dealloc`/`realloc` receive only pointers these methods returned, so they
// are glibc's own blocks.
unsafe impl GlobalAlloc for RuntimeAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: plain call into glibc.
            unsafe { __libc_malloc(layout.size()) }
        } else {
            // SAFETY: `align` is a power of two (Layout's invariant).
            unsafe { __libc_memalign(layout.align(), layout.size()) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: plain call into glibc.
            unsafe { __libc_calloc(1, layout.size()) }
        } else {
            // SAFETY: as in `alloc`; the block is then ours to zero.
            unsafe {
                let p = self.alloc(layout);
                if !p.is_null() {
                    std::ptr::write_bytes(p, 0, layout.size());
                }
                p
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`alloc_zeroed`/`realloc` above,
        // all of which are glibc blocks.
        unsafe { __libc_free(ptr) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: `ptr` is a glibc block (see `dealloc`).
            return unsafe { __libc_realloc(ptr, new_size) };
        }
        // SAFETY: a new block of the same alignment, the old contents copied
        // (the smaller of both sizes), the old block freed.
        unsafe {
            let new = __libc_memalign(layout.align(), new_size);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                __libc_free(ptr);
            }
            new
        }
    }
}
