//! `weaves mpirun -l`: every line a rank prints on stdout or stderr starts
//! with `[RANK] `, as MPICH's launcher writes them.
//!
//! MPICH labels each process's pipe; here the ranks share one process and
//! its descriptors, so the labelling happens where the text is made: the C
//! library's `stdout` and `stderr` (and every program's own copy of them,
//! made by a COPY relocation) become unbuffered streams of our own
//! (`fopencookie`) whose write function runs on the string that printed.
//! It finds the rank in that string's environment (`WEAVES_MPI_RANK`),
//! keeps the rank's unfinished line, and writes each finished one, with its
//! label, in one `write` to descriptor 1 or 2.
//!
//! Output that does not pass through the C library's streams (a direct
//! `write(1, …)`, or Fortran's units, which libgfortran writes itself) is
//! not labelled.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;

/// Unfinished lines, per (descriptor, rank).
type Lines = HashMap<(i32, String), Vec<u8>>;
static PENDING: Mutex<Option<Lines>> = Mutex::new(None);

fn rank() -> String {
    weaves_strings::current()
        .and_then(|c| c.getenv(c"WEAVES_MPI_RANK"))
        .map(|p| {
            // SAFETY: getenv's pointer is a NUL-terminated string of the
            // string's environment, alive while the string runs.
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "?".into())
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing a live slice to a descriptor (the runtime's own
        // calls reach the C library's `write`, not an interposed one).
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// The streams' write function: `cookie` is the descriptor.
unsafe extern "C" fn write_labelled(
    cookie: *mut c_void,
    buf: *const libc::c_char,
    size: usize,
) -> isize {
    let _rt = weaves_strings::RuntimeSection::enter();
    let fd = cookie as usize as i32;
    // SAFETY: the C library passes `size` readable bytes at `buf`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) };
    let rank = rank();
    let mut out = Vec::new();
    {
        let mut g = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        let line = g
            .get_or_insert_with(HashMap::new)
            .entry((fd, rank.clone()))
            .or_default();
        for &b in bytes {
            line.push(b);
            if b == b'\n' {
                out.extend_from_slice(format!("[{rank}] ").as_bytes());
                out.append(line);
            }
        }
    }
    if !out.is_empty() {
        write_all(fd, &out);
    }
    size as isize
}

type CookieWrite = unsafe extern "C" fn(*mut c_void, *const libc::c_char, usize) -> isize;

/// glibc's `cookie_io_functions_t` (stdio.h).
#[repr(C)]
struct CookieFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut libc::c_char, usize) -> isize>,
    write: Option<CookieWrite>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, i32) -> i32>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> i32>,
}

extern "C" {
    fn fopencookie(
        cookie: *mut c_void,
        mode: *const libc::c_char,
        funcs: CookieFunctions,
    ) -> *mut libc::FILE;
}

/// A labelling stream writing to descriptor `fd`, unbuffered (each print
/// reaches the write function from the string that made it).
fn stream(fd: i32) -> *mut libc::FILE {
    let funcs = CookieFunctions {
        read: None,
        write: Some(write_labelled),
        seek: None,
        close: None,
    };
    // SAFETY: a write-only cookie stream whose cookie is the descriptor
    // number (never dereferenced); `funcs` is copied by fopencookie.
    let f = unsafe { fopencookie(fd as usize as *mut c_void, c"w".as_ptr(), funcs) };
    if !f.is_null() {
        // SAFETY: a stream just made, not yet used.
        unsafe { libc::setvbuf(f, std::ptr::null_mut(), libc::_IONBF, 0) };
    }
    f
}

extern "C" {
    static mut stdout: *mut libc::FILE;
    static mut stderr: *mut libc::FILE;
}

/// Labels what ranks print from now on. `copies` are the addresses of the
/// programs' own `stdout` (fd 1) and `stderr` (fd 2) variables.
///
/// # Safety
/// Each address must be a bead's COPY of the C library's `stdout` or
/// `stderr` (a `FILE *`), and no string may be running yet.
pub unsafe fn label_output(copies: &[(u64, i32)]) {
    let (out, err) = (stream(1), stream(2));
    if out.is_null() || err.is_null() {
        return;
    }
    // SAFETY: the C library's own stream variables, written before any
    // string runs (caller contract); the runtime's own output does not go
    // through them.
    unsafe {
        libc::fflush(stdout);
        libc::fflush(stderr);
        stdout = out;
        stderr = err;
    }
    for &(at, fd) in copies {
        // SAFETY: caller contract: `at` is a bead's `FILE *` copy.
        unsafe { *(at as *mut *mut libc::FILE) = if fd == 1 { out } else { err } };
    }
}

/// Writes the ranks' unfinished lines (with their labels) at the end of a
/// run.
pub fn flush_labels() {
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner()).take();
    for ((fd, rank), line) in pending.into_iter().flatten() {
        if !line.is_empty() {
            let mut out = format!("[{rank}] ").into_bytes();
            out.extend(line);
            write_all(fd, &out);
        }
    }
}
