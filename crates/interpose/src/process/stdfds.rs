//! Descriptors 0, 1 and 2 from bead code.
//!
//! Every string of a tapestry writes to the same standard output and error,
//! and the runtime reports failed strings on standard error. A bead that
//! closed descriptor 1, or `dup2`'ed a file over it, would silently take
//! every other string's output (and, for 2, the run's diagnostics) with it.
//! So in the tapestry process:
//!
//! * `close(0..=2)` succeeds for the program and leaves the descriptor
//!   open for the others (gnulib programs close them at exit and fail if
//!   that fails; the program's later writes to it still arrive, where
//!   natively they would fail with `EBADF`).
//! * `dup2`/`dup3` onto 0–2 are refused with `EPERM` and one line; the
//!   descriptor stays as it was. (`dup2(1, 1)`, which changes nothing, is
//!   allowed.)
//! * `freopen(…, stdin/stdout/stderr)` gives a program with its own copy
//!   of the variable (a PIE) a new stream in that variable (see
//!   [`reopen`]); for others it is refused the same way, returning NULL,
//!   and the stream stays open.
//! * `fclose(stdin/stdout/stderr)` flushes the stream and reports what the
//!   flush reported, and leaves it open for the other strings: a program
//!   that closes stdout at the end to check for write errors (as coreutils
//!   do) still learns of them.
//! * `close_range` and `closefrom` would close the runtime's own
//!   descriptors (its reactor, its monitor socket) and every other bead's
//!   files: refused (`EPERM`, one line), except `close_range` with
//!   `CLOSE_RANGE_CLOEXEC`, which only marks descriptors.
//!
//! In a forked child all of these are the C library's: redirecting a
//! child's stdout before `exec` is the usual thing to do there.
//!
//! Output lost all the same — a full disk, a closed pipe — is caught at
//! the end of the run ([`standard_output_lost`]): `weaves run` then says so
//! and exits non-zero.

use weaves_strings::forked::in_forked_child;

use super::{refuse, stderr, stdin, stdout};

extern "C" {
    fn closefrom(lowfd: i32);
    fn freopen64(
        path: *const libc::c_char,
        mode: *const libc::c_char,
        stream: *mut libc::FILE,
    ) -> *mut libc::FILE;
}

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "close" | "__close" => close as *const () as usize,
        "dup2" | "__dup2" => dup2 as *const () as usize,
        "dup3" => dup3 as *const () as usize,
        "close_range" => close_range as *const () as usize,
        "closefrom" => weaves_closefrom as *const () as usize,
        "fclose" => fclose as *const () as usize,
        "freopen" => freopen as *const () as usize,
        "freopen64" => weaves_freopen64 as *const () as usize,
        _ => return None,
    };
    Some(f)
}

/// Why descriptors 0–2 are kept.
const SHARED: &str = "descriptors 0-2 are shared by every string of the tapestry and stay open";

/// Whether `fd` is a standard descriptor this process must keep.
fn kept(fd: i32) -> bool {
    (0..=2).contains(&fd) && !in_forked_child()
}

unsafe extern "C" fn close(fd: i32) -> i32 {
    if kept(fd) {
        // Succeeds for the program, as natively, and leaves the descriptor
        // open for every other string: gnulib's close_stdout/close_stdin
        // (coreutils, gzip) close them at exit and fail the program if
        // that fails.
        return 0;
    }
    // Closing any descriptor of a file drops the program's record locks.
    crate::locks::on_close(fd);
    // SAFETY: the caller's own argument.
    unsafe { libc::close(fd) }
}

unsafe extern "C" fn dup2(old: i32, new: i32) -> i32 {
    if kept(new) && old != new {
        refuse(&format!("dup2({old}, {new})"), libc::EPERM, SHARED);
        return -1;
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::dup2(old, new) }
}

unsafe extern "C" fn dup3(old: i32, new: i32, flags: i32) -> i32 {
    if kept(new) && old != new {
        refuse(&format!("dup3({old}, {new})"), libc::EPERM, SHARED);
        return -1;
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::dup3(old, new, flags) }
}

unsafe extern "C" fn close_range(first: u32, last: u32, flags: i32) -> i32 {
    if !in_forked_child() && flags & libc::CLOSE_RANGE_CLOEXEC as i32 == 0 {
        refuse(
            &format!("close_range({first}, {last})"),
            libc::EPERM,
            "it would close the runtime's and every other bead's descriptors",
        );
        return -1;
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::close_range(first, last, flags) }
}

unsafe extern "C" fn weaves_closefrom(low: i32) {
    if !in_forked_child() {
        // closefrom returns nothing: the line is all the caller gets.
        refuse(
            &format!("closefrom({low})"),
            libc::EPERM,
            "it would close the runtime's and every other bead's descriptors",
        );
        return;
    }
    // SAFETY: the caller's own argument, in an ordinary process.
    unsafe { closefrom(low) }
}

/// Whether `fp` is one of the standard streams.
pub(super) fn standard(fp: *mut libc::FILE) -> bool {
    // SAFETY: reading the C library's stream pointers.
    unsafe { fp == stdin || fp == stdout || fp == stderr }
}

unsafe extern "C" fn fclose(fp: *mut libc::FILE) -> i32 {
    if standard(fp) && !in_forked_child() {
        // SAFETY: a standard stream, flushed and left open.
        return unsafe { libc::fflush(fp) };
    }
    // SAFETY: the caller's own argument.
    unsafe { libc::fclose(fp) }
}

unsafe extern "C" fn freopen(
    path: *const libc::c_char,
    mode: *const libc::c_char,
    fp: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: the caller's own arguments, passed on.
    reopen(path, mode, fp, |p, m, f| unsafe { libc::freopen(p, m, f) })
}

unsafe extern "C" fn weaves_freopen64(
    path: *const libc::c_char,
    mode: *const libc::c_char,
    fp: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: the caller's own arguments, passed on.
    reopen(path, mode, fp, |p, m, f| unsafe { freopen64(p, m, f) })
}

type Reopen = fn(*const libc::c_char, *const libc::c_char, *mut libc::FILE) -> *mut libc::FILE;

/// `freopen` of a standard stream, which every string shares, cannot
/// reopen it. For a program with its own copy of the variable (a PIE's
/// COPY of `stdin`, `stdout` or `stderr`, as `uniq FILE` reopens stdin)
/// the file is opened as a new stream and the program's variable is
/// pointed at it: the program's reads and writes through the variable go
/// to the file, everyone else's stay on the terminal. `freopen(NULL, …)`
/// (a mode change, which Linux streams do not need) returns the stream.
/// Anything else is refused (one line, `EPERM`).
fn reopen(
    path: *const libc::c_char,
    mode: *const libc::c_char,
    fp: *mut libc::FILE,
    system: Reopen,
) -> *mut libc::FILE {
    if !standard(fp) || in_forked_child() {
        return system(path, mode, fp);
    }
    if path.is_null() {
        return fp;
    }
    if let Some(variable) = programs_own_variable(fp) {
        // SAFETY: `path` and `mode` are the caller's C strings.
        let file = unsafe { libc::fopen(path, mode) };
        if !file.is_null() {
            // SAFETY: `variable` is the program's own `FILE *` variable
            // (checked to hold `fp`), in its writable data.
            unsafe { variable.write(file) };
        }
        return file;
    }
    refuse(
        &format!("freopen(\"{}\", a standard stream)", super::c_text(path)),
        libc::EPERM,
        "stdin, stdout and stderr are shared by every string of the tapestry",
    );
    std::ptr::null_mut()
}

/// The calling program's own variable that holds the standard stream `fp`
/// (its COPY of the C library's `stdin`, `stdout` or `stderr`), if it has
/// one and it still holds `fp`.
fn programs_own_variable(fp: *mut libc::FILE) -> Option<*mut *mut libc::FILE> {
    // The bead whose code runs, read before the runtime section (inside
    // it the acting bead is the runtime's).
    let owner = weaves_strings::acting_bead();
    let _rt = weaves_strings::RuntimeSection::enter();
    // SAFETY: reading the C library's stream pointers.
    let name = unsafe {
        if fp == stdin {
            "stdin"
        } else if fp == stdout {
            "stdout"
        } else {
            "stderr"
        }
    };
    let variable = crate::phdr::own_copy_of(owner, name)? as *mut *mut libc::FILE;
    // SAFETY: the address of the bead's own COPY of a `FILE *` variable,
    // inside its mapped data.
    (unsafe { variable.read() } == fp).then_some(variable)
}

/// Flushes C's stdout and says whether anything written to it was lost
/// (a write failed: a full disk, a closed pipe, a descriptor gone), and
/// why. Call once, after the last string ended.
pub fn standard_output_lost() -> Option<String> {
    // SAFETY: flushing the C library's stdout, which nothing else uses any
    // more.
    let flushed = unsafe { libc::fflush(stdout) };
    let why = std::io::Error::last_os_error();
    // SAFETY: as above.
    let failed = unsafe { libc::ferror(stdout) } != 0;
    if flushed == 0 && !failed {
        return None;
    }
    // SAFETY: as above; exit's own flush must not fail the same way again.
    unsafe { libc::clearerr(stdout) };
    Some(if flushed != 0 {
        why.to_string()
    } else {
        "a write failed while the strings ran".to_owned()
    })
}
