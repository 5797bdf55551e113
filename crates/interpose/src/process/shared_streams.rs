//! The unlocked stdio calls on the standard streams.
//!
//! `stdin`, `stdout` and `stderr` are one `FILE` each for the whole
//! tapestry (see docs/process-semantics.md). A single-threaded program may
//! write them with `fputs_unlocked`, `fwrite_unlocked` and friends, which
//! skip the stream's lock — gnulib makes every coreutils program do so.
//! Natively that is safe: the program is the only writer of its buffer.
//! Two such programs as beads on two workers wrote one buffer at once, and
//! lines came out twice, torn or not at all (`sha256sum` as two beads
//! printed its line three times).
//!
//! So on a standard stream each of these calls takes the lock, as its
//! locked twin does; on any other stream it is the C library's unlocked
//! call, unchanged. The inline forms (`putc_unlocked` and `getc_unlocked`
//! expanded by the compiler) touch the buffer without a call and are not
//! covered: see the table in docs/process-semantics.md.

use std::ffi::{c_char, c_int, c_void};

use libc::FILE;

extern "C" {
    fn fwrite_unlocked(p: *const c_void, size: usize, n: usize, fp: *mut FILE) -> usize;
    fn fread_unlocked(p: *mut c_void, size: usize, n: usize, fp: *mut FILE) -> usize;
    fn fputs_unlocked(s: *const c_char, fp: *mut FILE) -> c_int;
    fn fputc_unlocked(c: c_int, fp: *mut FILE) -> c_int;
    fn putc_unlocked(c: c_int, fp: *mut FILE) -> c_int;
    fn fgetc_unlocked(fp: *mut FILE) -> c_int;
    fn getc_unlocked(fp: *mut FILE) -> c_int;
    fn fgets_unlocked(s: *mut c_char, n: c_int, fp: *mut FILE) -> *mut c_char;
    fn fflush_unlocked(fp: *mut FILE) -> c_int;
    fn putc(c: c_int, fp: *mut FILE) -> c_int;
    fn getc(fp: *mut FILE) -> c_int;
}

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "fwrite_unlocked" => fwrite as *const () as usize,
        "fread_unlocked" => fread as *const () as usize,
        "fputs_unlocked" => fputs as *const () as usize,
        "fputc_unlocked" => fputc as *const () as usize,
        "putc_unlocked" => putc_ as *const () as usize,
        "putchar_unlocked" => putchar as *const () as usize,
        "fgetc_unlocked" => fgetc as *const () as usize,
        "getc_unlocked" => getc_ as *const () as usize,
        "getchar_unlocked" => getchar as *const () as usize,
        "fgets_unlocked" => fgets as *const () as usize,
        "fflush_unlocked" => fflush as *const () as usize,
        _ => return None,
    };
    Some(f)
}

use super::stdfds::standard;

/// Defines `$name`, which calls `$locked` on a standard stream (`$fp`) and
/// `$unlocked` on any other, with the same arguments.
macro_rules! locked_on_standard_streams {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $locked:path, $unlocked:path => $fp:ident;)*) => {$(
        unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            let locked = $fp.is_null() || standard($fp);
            // SAFETY: the caller's own arguments, passed on to the C
            // library's call of the same signature.
            unsafe {
                if locked {
                    $locked($($arg),*)
                } else {
                    $unlocked($($arg),*)
                }
            }
        }
    )*};
}

locked_on_standard_streams! {
    fn fwrite(p: *const c_void, size: usize, n: usize, fp: *mut FILE) -> usize = libc::fwrite, fwrite_unlocked => fp;
    fn fread(p: *mut c_void, size: usize, n: usize, fp: *mut FILE) -> usize = libc::fread, fread_unlocked => fp;
    fn fputs(s: *const c_char, fp: *mut FILE) -> c_int = libc::fputs, fputs_unlocked => fp;
    fn fputc(c: c_int, fp: *mut FILE) -> c_int = libc::fputc, fputc_unlocked => fp;
    fn putc_(c: c_int, fp: *mut FILE) -> c_int = putc, putc_unlocked => fp;
    fn fgetc(fp: *mut FILE) -> c_int = libc::fgetc, fgetc_unlocked => fp;
    fn getc_(fp: *mut FILE) -> c_int = getc, getc_unlocked => fp;
    fn fgets(s: *mut c_char, n: c_int, fp: *mut FILE) -> *mut c_char = libc::fgets, fgets_unlocked => fp;
    fn fflush(fp: *mut FILE) -> c_int = libc::fflush, fflush_unlocked => fp;
}

unsafe extern "C" fn putchar(c: c_int) -> c_int {
    // SAFETY: stdout is a standard stream: the locked call.
    unsafe { libc::putchar(c) }
}

unsafe extern "C" fn getchar() -> c_int {
    // SAFETY: stdin is a standard stream: the locked call.
    unsafe { libc::getchar() }
}
