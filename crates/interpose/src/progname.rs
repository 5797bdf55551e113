//! A program's name as the C library keeps it: `program_invocation_name`
//! and `program_invocation_short_name` (`__progname_full`, `__progname`).
//!
//! Natively the C library points them at `argv[0]` before `main`. A PIE
//! that uses them (gnulib's `error`, `getprogname`, every coreutils and tar
//! message) has its own copies (COPY relocations), which the loader filled
//! with the runtime's values: messages began with the runtime's path
//! (`/usr/bin/weaves: Exiting with failure status…` from `tar`). When a
//! string of the tapestry is made for a bead, its `argv[0]` is copied into
//! the bead's heap and the bead's copies point at it, as natively they
//! point into `argv`.

use std::ffi::CStr;

use weaves_arena::{heap_for, OwnerId};

/// Points bead `owner`'s own `program_invocation_name` and
/// `program_invocation_short_name`, where it has them, at a copy of
/// `argv0` in its heap.
pub fn set_program_name(owner: OwnerId, argv0: &CStr) {
    let full = crate::phdr::own_copy_of(owner, "__progname_full");
    let short = crate::phdr::own_copy_of(owner, "__progname");
    if full.is_none() && short.is_none() {
        return;
    }
    let Some(heap) = heap_for(owner) else {
        return;
    };
    let bytes = argv0.to_bytes_with_nul();
    let name = heap.allocate(bytes.len());
    if name.is_null() {
        return;
    }
    // SAFETY: `name` is a fresh allocation of `bytes.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), name, bytes.len()) };
    let last = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    for (variable, value) in [(full, name), (short, name.wrapping_add(last))] {
        if let Some(variable) = variable {
            // SAFETY: the bead's own `char *` variable (its COPY of the C
            // library's), in its writable data; no string runs in the bead
            // yet.
            unsafe { (variable as *mut *mut u8).write(value) };
        }
    }
}
