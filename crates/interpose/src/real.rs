//! The C library's own versions of the functions we interpose, found once
//! with `dlsym(RTLD_NEXT, …)` (the next definition after the `weaves`
//! executable's).

use std::ffi::CStr;
use std::sync::OnceLock;

#[doc(hidden)]
pub struct Real {
    pub exit: unsafe extern "C" fn(i32) -> !,
    pub dl_iterate_phdr: unsafe extern "C" fn(
        Option<unsafe extern "C" fn(*mut libc::dl_phdr_info, usize, *mut libc::c_void) -> i32>,
        *mut libc::c_void,
    ) -> i32,
    pub getenv: unsafe extern "C" fn(*const libc::c_char) -> *mut libc::c_char,
    pub malloc_usable_size: unsafe extern "C" fn(*mut libc::c_void) -> usize,
    pub tls_get_addr: unsafe extern "C" fn(*const u64) -> *mut u8,
    pub cxa_atexit: unsafe extern "C" fn(usize, usize, usize) -> i32,
    pub cxa_finalize: unsafe extern "C" fn(usize),
    pub cxa_thread_atexit_impl: unsafe extern "C" fn(usize, usize, usize) -> i32,
    pub dl_find_object: unsafe extern "C" fn(*mut libc::c_void, *mut u64) -> i32,
}

static REAL: OnceLock<Real> = OnceLock::new();

fn find(name: &CStr) -> usize {
    // SAFETY: dlsym with a valid NUL-terminated name has no other
    // preconditions; RTLD_NEXT searches the objects loaded after this one.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if p.is_null() {
        // SAFETY: as above, searching every object instead.
        let q = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        assert!(!q.is_null(), "the C library lacks {name:?}");
        return q as usize;
    }
    p as usize
}

/// The C library's `name`, as a function pointer of type `F`.
///
/// # Safety
/// `F` must be the function pointer type matching `name`'s C signature.
unsafe fn function<F: Copy>(name: &CStr) -> F {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<usize>()) };
    let address = find(name);
    // SAFETY: `F` is a function pointer (size checked above) to the function
    // at `address`, whose signature matches by the caller's contract.
    unsafe { std::mem::transmute_copy::<usize, F>(&address) }
}

extern "C" {
    static mut stdout: *mut libc::FILE;
}

/// Gives C's `stdout` a runtime-owned buffer, line-buffered: strings of many
/// beads share stdout, and lines from different strings should interleave
/// whole rather than in arbitrary buffer-sized pieces (C would otherwise
/// buffer fully when stdout is not a terminal). Owning the buffer also keeps
/// it out of the heap of whichever bead prints first.
fn line_buffer_stdout() {
    let buffer: &'static mut [u8] = Box::leak(vec![0u8; 64 << 10].into_boxed_slice());
    // SAFETY: called once, at start-up, before anything was written to
    // stdout; the buffer lives for the rest of the process.
    unsafe {
        libc::setvbuf(
            stdout,
            buffer.as_mut_ptr().cast(),
            libc::_IOLBF,
            buffer.len(),
        )
    };
}

/// Resolves the C library's functions and sets up stdout. Call once at
/// start-up, before anything is printed and before any bead exists.
pub fn init() -> &'static Real {
    REAL.get_or_init(|| {
        line_buffer_stdout();
        crate::fault::install();
        crate::process::install_fork_handlers();
        // SAFETY: each address is the C library's definition of the function
        // named, whose C signature is the one written in `Real`.
        unsafe {
            Real {
                exit: function(c"exit"),
                dl_iterate_phdr: function(c"dl_iterate_phdr"),
                getenv: function(c"getenv"),
                malloc_usable_size: function(c"malloc_usable_size"),
                tls_get_addr: function(c"__tls_get_addr"),
                cxa_atexit: function(c"__cxa_atexit"),
                cxa_finalize: function(c"__cxa_finalize"),
                cxa_thread_atexit_impl: function(c"__cxa_thread_atexit_impl"),
                dl_find_object: function(c"_dl_find_object"),
            }
        }
    })
}

pub(crate) fn real() -> &'static Real {
    init()
}
