//! Fortran's command-line intrinsics, per string.
//!
//! A gfortran main program hands `argc/argv` to libgfortran
//! (`_gfortran_set_args`), which keeps them in process-wide variables that
//! `GET_COMMAND_ARGUMENT`, `GETARG`, `IARGC` and `GET_COMMAND` read. With
//! several Fortran strings in one process those variables would hold
//! whichever string started last, so bead code is bound to these versions,
//! which answer from the calling string's own command line.

use weaves_strings::current;

const GFC_GC_FAILURE: i64 = 42;

fn args() -> Vec<Vec<u8>> {
    current()
        .map(|c| c.args().iter().map(|a| a.as_bytes().to_vec()).collect())
        .unwrap_or_default()
}

/// Blank-fills `dst` (Fortran `CHARACTER(len)`) and copies `src` into it;
/// returns whether `src` had to be truncated.
fn fill(dst: *mut u8, len: usize, src: &[u8]) -> bool {
    if dst.is_null() {
        return false;
    }
    // SAFETY: gfortran passes a character buffer of `len` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(dst, len) };
    out.fill(b' ');
    let n = src.len().min(len);
    out[..n].copy_from_slice(&src[..n]);
    src.len() > len
}

pub(crate) extern "C" fn set_args(_argc: i32, _argv: *const *const u8) {}

pub(crate) extern "C" fn iargc() -> i32 {
    args().len().saturating_sub(1) as i32
}

fn get_command_argument(number: i64, value: *mut u8, value_len: usize) -> (i64, i64) {
    let a = args();
    if number < 0 || number as usize >= a.len() {
        fill(value, value_len, b"");
        return (0, GFC_GC_FAILURE);
    }
    let arg = &a[number as usize];
    let truncated = fill(value, value_len, arg);
    (
        arg.len() as i64,
        if truncated && !value.is_null() { -1 } else { 0 },
    )
}

pub(crate) unsafe extern "C" fn get_command_argument_i4(
    number: *const i32,
    value: *mut u8,
    length: *mut i32,
    status: *mut i32,
    value_len: usize,
) {
    // SAFETY: gfortran passes a valid NUMBER; LENGTH and STATUS are optional
    // (null when absent).
    unsafe {
        let (len, stat) = get_command_argument(i64::from(*number), value, value_len);
        if !length.is_null() {
            *length = len as i32;
        }
        if !status.is_null() {
            *status = stat as i32;
        }
    }
}

pub(crate) unsafe extern "C" fn get_command_argument_i8(
    number: *const i64,
    value: *mut u8,
    length: *mut i64,
    status: *mut i64,
    value_len: usize,
) {
    // SAFETY: as for the _i4 variant.
    unsafe {
        let (len, stat) = get_command_argument(*number, value, value_len);
        if !length.is_null() {
            *length = len;
        }
        if !status.is_null() {
            *status = stat;
        }
    }
}

pub(crate) unsafe extern "C" fn getarg_i4(pos: *const i32, value: *mut u8, value_len: usize) {
    // SAFETY: gfortran passes a valid POS.
    get_command_argument(i64::from(unsafe { *pos }), value, value_len);
}

pub(crate) unsafe extern "C" fn getarg_i8(pos: *const i64, value: *mut u8, value_len: usize) {
    // SAFETY: gfortran passes a valid POS.
    get_command_argument(unsafe { *pos }, value, value_len);
}

fn get_command(command: *mut u8, command_len: usize) -> (i64, i64) {
    let line = args().join(&b' ');
    let truncated = fill(command, command_len, &line);
    (
        line.len() as i64,
        if truncated && !command.is_null() {
            -1
        } else {
            0
        },
    )
}

pub(crate) unsafe extern "C" fn get_command_i4(
    command: *mut u8,
    length: *mut i32,
    status: *mut i32,
    command_len: usize,
) {
    let (len, stat) = get_command(command, command_len);
    // SAFETY: LENGTH and STATUS are optional: null when absent.
    unsafe {
        if !length.is_null() {
            *length = len as i32;
        }
        if !status.is_null() {
            *status = stat as i32;
        }
    }
}

pub(crate) unsafe extern "C" fn get_command_i8(
    command: *mut u8,
    length: *mut i64,
    status: *mut i64,
    command_len: usize,
) {
    let (len, stat) = get_command(command, command_len);
    // SAFETY: as above.
    unsafe {
        if !length.is_null() {
            *length = len;
        }
        if !status.is_null() {
            *status = stat;
        }
    }
}
