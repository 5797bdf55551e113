//! `error`, `error_at_line`, `err`, `errx`, `warn`, `warnx` and their
//! `v` forms for bead code (the C half is `c/diagnostics.c`: they take
//! variable arguments).
//!
//! glibc's own print the process's program name — the runtime's path — and
//! `error(status ≠ 0, …)`/`err` call glibc's `exit`, which ended the whole
//! tapestry and lost the other strings' output. Here they print the calling
//! string's `argv[0]` and end only that string, with that status.

use std::ffi::{c_char, c_int};

extern "C" {
    fn weaves_error();
    fn weaves_error_at_line();
    fn weaves_err();
    fn weaves_errx();
    fn weaves_verr();
    fn weaves_verrx();
    fn weaves_warn();
    fn weaves_warnx();
    fn weaves_vwarn();
    fn weaves_vwarnx();
    static program_invocation_name: *const c_char;
    static program_invocation_short_name: *const c_char;
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f: unsafe extern "C" fn() = match name {
        "error" => weaves_error,
        "error_at_line" => weaves_error_at_line,
        "err" => weaves_err,
        "errx" => weaves_errx,
        "verr" => weaves_verr,
        "verrx" => weaves_verrx,
        "warn" => weaves_warn,
        "warnx" => weaves_warnx,
        "vwarn" => weaves_vwarn,
        "vwarnx" => weaves_vwarnx,
        _ => return None,
    };
    Some(f as usize as u64)
}

/// The calling string's `argv[0]` (its last component if `short_name`),
/// or the process's name on a thread that is not a string's.
#[no_mangle]
extern "C" fn weaves_program_name(short_name: c_int) -> *const c_char {
    if let Some(argv0) = weaves_strings::current().and_then(|ctx| ctx.args().first()) {
        let bytes = argv0.as_bytes();
        let start = if short_name != 0 {
            bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)
        } else {
            0
        };
        // The string's arguments live as long as the string, and the
        // pointer is used before the call that asked returns.
        return argv0.as_ptr().wrapping_add(start);
    }
    // SAFETY: reading glibc's pointers to the process's name.
    unsafe {
        if short_name != 0 {
            program_invocation_short_name
        } else {
            program_invocation_name
        }
    }
}

/// Ends the calling string with `status`, as `exit` from bead code does.
#[no_mangle]
unsafe extern "C" fn weaves_string_exit(status: c_int) -> ! {
    // SAFETY: called from the C functions above on behalf of bead code,
    // which is what the runtime's `exit` serves.
    unsafe { crate::exit::exit(status) }
}
