//! Naming bead code: `dladdr` and glibc's backtrace formatting, bead-aware.
//!
//! glibc resolves addresses for `dladdr` and `backtrace_symbols` through its
//! own list of loaded objects, which does not include beads, so a backtrace
//! through bead code would show bare addresses. Bead code is bound to these
//! versions, which name bead functions (from the module's dynamic and static
//! symbol tables) and pass every other address to glibc.

use std::ffi::CStr;

use weaves_strings::RuntimeSection;

use crate::alloc;
use crate::api::interned;
use crate::phdr::{describe, CodeLocation};

#[repr(C)]
pub(crate) struct DlInfo {
    fname: *const libc::c_char,
    fbase: u64,
    sname: *const libc::c_char,
    saddr: u64,
}

extern "C" {
    #[link_name = "dladdr"]
    fn libc_dladdr(addr: *const libc::c_void, info: *mut DlInfo) -> i32;
    #[link_name = "backtrace_symbols"]
    fn libc_backtrace_symbols(
        buffer: *const *mut libc::c_void,
        size: i32,
    ) -> *mut *mut libc::c_char;
}

/// `dladdr`.
pub(crate) unsafe extern "C" fn dladdr(addr: *const libc::c_void, info: *mut DlInfo) -> i32 {
    let Some(CodeLocation {
        path,
        base,
        function,
    }) = describe(addr as u64)
    else {
        // SAFETY: not bead code: glibc answers.
        return unsafe { libc_dladdr(addr, info) };
    };
    let (sname, saddr) = match function {
        Some((name, start)) => (interned(&name), start),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the caller passes a writable Dl_info.
    unsafe {
        info.write(DlInfo {
            fname: path,
            fbase: base,
            sname,
            saddr,
        })
    };
    1
}

/// One line as glibc formats it: `path(symbol+0xoff) [0xaddr]`.
fn line(addr: u64) -> Vec<u8> {
    if let Some(CodeLocation {
        path,
        base,
        function,
    }) = describe(addr)
    {
        // SAFETY: `path` is a CString owned by the bead registry.
        let path = unsafe { CStr::from_ptr(path) }.to_string_lossy();
        return match function {
            Some((name, start)) => format!("{path}({name}+{:#x}) [{addr:#x}]", addr - start),
            None => format!("{path}(+{:#x}) [{addr:#x}]", addr - base),
        }
        .into_bytes();
    }
    let one = [addr as *mut libc::c_void];
    // SAFETY: asking glibc to format one address; it returns one malloc'd
    // block holding the pointer and the string, freed right after copying.
    unsafe {
        let strs = libc_backtrace_symbols(one.as_ptr(), 1);
        if strs.is_null() {
            return format!("[{addr:#x}]").into_bytes();
        }
        let s = CStr::from_ptr(*strs).to_bytes().to_vec();
        alloc::free(strs.cast());
        s
    }
}

/// `backtrace_symbols`: one `malloc`'d block holding the pointer array and
/// the strings (the caller frees it with one `free`).
pub(crate) unsafe extern "C" fn backtrace_symbols(
    buffer: *const *mut libc::c_void,
    size: i32,
) -> *mut *mut libc::c_char {
    let n = size.max(0) as usize;
    let lines: Vec<Vec<u8>> = {
        let _rt = RuntimeSection::enter();
        // SAFETY: the caller passes `size` return addresses.
        (0..n)
            .map(|i| line(unsafe { *buffer.add(i) } as u64))
            .collect()
    };
    let bytes = n * 8 + lines.iter().map(|l| l.len() + 1).sum::<usize>();
    // SAFETY: one allocation, in the caller's bead heap or glibc's.
    let block = unsafe { alloc::malloc(bytes) };
    if block.is_null() {
        return std::ptr::null_mut();
    }
    let table = block as *mut *mut libc::c_char;
    // SAFETY: the block holds `n` pointers followed by the NUL-terminated
    // strings, exactly `bytes` bytes.
    unsafe {
        let mut at = block.add(n * 8);
        for (i, l) in lines.iter().enumerate() {
            *table.add(i) = at.cast();
            std::ptr::copy_nonoverlapping(l.as_ptr(), at, l.len());
            *at.add(l.len()) = 0;
            at = at.add(l.len() + 1);
        }
    }
    table
}

/// `backtrace_symbols_fd`: the same lines written to `fd`.
pub(crate) unsafe extern "C" fn backtrace_symbols_fd(
    buffer: *const *mut libc::c_void,
    size: i32,
    fd: i32,
) {
    let _rt = RuntimeSection::enter();
    for i in 0..size.max(0) as usize {
        // SAFETY: the caller passes `size` return addresses.
        let mut l = line(unsafe { *buffer.add(i) } as u64);
        l.push(b'\n');
        // SAFETY: writing our own buffer to the caller's descriptor.
        unsafe { libc::write(fd, l.as_ptr().cast(), l.len()) };
    }
}
