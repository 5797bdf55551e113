//! C library functions that keep their state or their result in one static
//! buffer per process, given one per bead: `strtok`'s position, the
//! results of `localtime`, `gmtime`, `ctime`, `asctime`, `tmpnam(NULL)`,
//! `ttyname`, `getlogin` and `getmntent`.
//!
//! Natively each program is a process with buffers of its own. Beads share
//! one process, so one bead's `strtok` would go on through another bead's
//! string, and one bead's `localtime` result would change under it when
//! another bead called `localtime` on another worker. Here each bead (the
//! bead whose code called, as for `rand`) has its own, filled by the C
//! library's reentrant functions; a pointer returned stays valid until that
//! bead's next call of the same kind, as natively. glibc's relation that
//! `ctime(t)` is `asctime(localtime(t))` (it overwrites both buffers) is
//! kept, and so is `localtime` reading `TZ` afresh (`tzset`).
//!
//! The entry points are assembly shims that pass the caller's return
//! address along (it names the bead). A removed bead's buffers go with it
//! ([`forget_bead`]).

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::RuntimeSection;

/// glibc's `L_tmpnam`.
const L_TMPNAM: usize = 20;
/// Longest terminal device path kept (glibc's `ttyname` buffer grows; 4096
/// is `PATH_MAX`).
const TTY_NAME: usize = 4096;
/// glibc's `LOGIN_NAME_MAX` is 256.
const LOGIN_NAME: usize = 256;
/// Room for one `/etc/mtab` line's strings.
const MNT_LINE: usize = 4096;
/// `asctime`'s text: glibc's static buffer is sized for any `int` year.
const ASCTIME: usize = 114;

extern "C" {
    fn strtok_r(
        s: *mut libc::c_char,
        delim: *const libc::c_char,
        save: *mut *mut libc::c_char,
    ) -> *mut libc::c_char;
    fn tzset();
    fn localtime_r(t: *const libc::time_t, tm: *mut libc::tm) -> *mut libc::tm;
    fn gmtime_r(t: *const libc::time_t, tm: *mut libc::tm) -> *mut libc::tm;
    fn tmpnam(s: *mut libc::c_char) -> *mut libc::c_char;
    fn ttyname_r(fd: i32, buf: *mut libc::c_char, len: usize) -> i32;
    fn getlogin_r(buf: *mut libc::c_char, len: usize) -> i32;
    fn getmntent_r(
        fp: *mut libc::FILE,
        mnt: *mut libc::mntent,
        buf: *mut libc::c_char,
        len: i32,
    ) -> *mut libc::mntent;
}

/// One bead's buffers. Boxed: pointers into it are handed to the bead.
struct Buffers {
    strtok_save: *mut libc::c_char,
    /// `localtime`'s and `gmtime`'s result (glibc: one `struct tm`).
    tm: libc::tm,
    /// `asctime`'s and `ctime`'s text.
    text: [u8; ASCTIME],
    tmpnam: [libc::c_char; L_TMPNAM],
    ttyname: [libc::c_char; TTY_NAME],
    login: [libc::c_char; LOGIN_NAME],
    mnt: libc::mntent,
    mnt_line: [libc::c_char; MNT_LINE],
}

// SAFETY: `strtok_save` and `mnt`'s pointers point into the bead's own
// string or into this box; every access is under `BUFFERS`' lock.
unsafe impl Send for Buffers {}

impl Buffers {
    fn new() -> Box<Buffers> {
        // SAFETY: every field is plain data (integers, arrays, raw
        // pointers) for which all-zero bytes are a valid value.
        Box::new(unsafe { std::mem::zeroed() })
    }
}

static BUFFERS: Mutex<Option<HashMap<OwnerId, Box<Buffers>>>> = Mutex::new(None);

/// Runs `f` on the buffers of the bead whose code is at `ret`.
fn with_bead<R>(ret: usize, f: impl FnOnce(&mut Buffers) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let owner = owner_of(ret).unwrap_or_else(weaves_strings::acting_bead);
    let mut g = BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    let b = g
        .get_or_insert_with(HashMap::new)
        .entry(owner)
        .or_insert_with(Buffers::new);
    f(b)
}

/// Drops bead `owner`'s buffers (it is being removed).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
}

extern "C" fn strtok_from(
    s: *mut libc::c_char,
    delim: *const libc::c_char,
    ret: usize,
) -> *mut libc::c_char {
    // SAFETY: `s` (or, when NULL, the bead's saved position in its earlier
    // string) and `delim` are C strings, as strtok's caller promises.
    with_bead(ret, |b| unsafe { strtok_r(s, delim, &mut b.strtok_save) })
}

extern "C" fn localtime_from(t: *const libc::time_t, ret: usize) -> *mut libc::tm {
    with_bead(ret, |b| {
        // SAFETY: `t` points to a time_t (C's contract); glibc's localtime
        // reads TZ afresh each call, localtime_r need not.
        unsafe {
            tzset();
            localtime_r(t, &mut b.tm)
        }
    })
}

extern "C" fn gmtime_from(t: *const libc::time_t, ret: usize) -> *mut libc::tm {
    // SAFETY: as for localtime.
    with_bead(ret, |b| unsafe { gmtime_r(t, &mut b.tm) })
}

/// glibc's `asctime` format: `"%.3s %.3s%3d %.2d:%.2d:%.2d %d\n"`, with
/// `???` for a day or month out of range and `EOVERFLOW` for a year that
/// does not fit.
fn asctime_into(tm: &libc::tm, out: &mut [u8; ASCTIME]) -> *mut libc::c_char {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(year) = tm.tm_year.checked_add(1900) else {
        // SAFETY: errno is this thread's (the calling string's, now).
        unsafe { *libc::__errno_location() = libc::EOVERFLOW };
        return std::ptr::null_mut();
    };
    let day = usize::try_from(tm.tm_wday)
        .ok()
        .and_then(|d| DAYS.get(d))
        .unwrap_or(&"???");
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .unwrap_or(&"???");
    // C's `%.2d`: at least two digits, after the sign.
    let two = |v: i32| {
        let sign = if v < 0 { "-" } else { "" };
        format!("{sign}{:02}", v.unsigned_abs())
    };
    let text = format!(
        "{day} {month}{:3} {}:{}:{} {year}\n",
        tm.tm_mday,
        two(tm.tm_hour),
        two(tm.tm_min),
        two(tm.tm_sec)
    );
    let n = text.len().min(ASCTIME - 1);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out[n] = 0;
    out.as_mut_ptr().cast()
}

extern "C" fn asctime_from(tm: *const libc::tm, ret: usize) -> *mut libc::c_char {
    if tm.is_null() {
        // SAFETY: errno is the calling string's.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return std::ptr::null_mut();
    }
    // SAFETY: a non-NULL `tm` points to a struct tm (C's contract); copied
    // before the bead's buffer is written, as it may be that buffer.
    let tm = unsafe { *tm };
    with_bead(ret, |b| asctime_into(&tm, &mut b.text))
}

extern "C" fn ctime_from(t: *const libc::time_t, ret: usize) -> *mut libc::c_char {
    with_bead(ret, |b| {
        // SAFETY: as for localtime.
        let tm = unsafe {
            tzset();
            localtime_r(t, &mut b.tm)
        };
        if tm.is_null() {
            return std::ptr::null_mut();
        }
        let tm = b.tm;
        asctime_into(&tm, &mut b.text)
    })
}

extern "C" fn tmpnam_from(s: *mut libc::c_char, ret: usize) -> *mut libc::c_char {
    if !s.is_null() {
        // SAFETY: the program's buffer of L_tmpnam bytes (C's contract):
        // no static state is used.
        return unsafe { tmpnam(s) };
    }
    with_bead(ret, |b| {
        // SAFETY: the bead's own L_tmpnam-byte buffer.
        unsafe { tmpnam(b.tmpnam.as_mut_ptr()) }
    })
}

extern "C" fn ttyname_from(fd: i32, ret: usize) -> *mut libc::c_char {
    with_bead(ret, |b| {
        // SAFETY: the bead's own buffer and its length.
        let e = unsafe { ttyname_r(fd, b.ttyname.as_mut_ptr(), TTY_NAME) };
        if e != 0 {
            // SAFETY: errno is the calling string's.
            unsafe { *libc::__errno_location() = e };
            return std::ptr::null_mut();
        }
        b.ttyname.as_mut_ptr()
    })
}

extern "C" fn getlogin_from(ret: usize) -> *mut libc::c_char {
    with_bead(ret, |b| {
        // SAFETY: the bead's own buffer and its length.
        let e = unsafe { getlogin_r(b.login.as_mut_ptr(), LOGIN_NAME) };
        if e != 0 {
            // SAFETY: errno is the calling string's.
            unsafe { *libc::__errno_location() = e };
            return std::ptr::null_mut();
        }
        b.login.as_mut_ptr()
    })
}

extern "C" fn getmntent_from(fp: *mut libc::FILE, ret: usize) -> *mut libc::mntent {
    with_bead(ret, |b| {
        // SAFETY: `fp` is a stream from setmntent (C's contract); the
        // result's strings go into the bead's own line buffer.
        unsafe { getmntent_r(fp, &mut b.mnt, b.mnt_line.as_mut_ptr(), MNT_LINE as i32) }
    })
}

/// Shims: move the return address into the register after the last
/// argument, then jump to the Rust implementation.
macro_rules! shims {
    ($( $name:literal, $reg:literal => $target:ident; )*) => {
        std::arch::global_asm!(
            $(
                concat!(".globl ", $name),
                concat!(".hidden ", $name),
                concat!($name, ":"),
                concat!("mov ", $reg, ", qword ptr [rsp]"),
                concat!("jmp {", stringify!($target), "}"),
            )*
            $( $target = sym $target, )*
        );
    };
}

shims! {
    "weaves_strtok", "rdx" => strtok_from;
    "weaves_localtime", "rsi" => localtime_from;
    "weaves_gmtime", "rsi" => gmtime_from;
    "weaves_asctime", "rsi" => asctime_from;
    "weaves_ctime", "rsi" => ctime_from;
    "weaves_tmpnam", "rsi" => tmpnam_from;
    "weaves_ttyname", "rsi" => ttyname_from;
    "weaves_getlogin", "rdi" => getlogin_from;
    "weaves_getmntent", "rsi" => getmntent_from;
}

extern "C" {
    fn weaves_strtok();
    fn weaves_localtime();
    fn weaves_gmtime();
    fn weaves_asctime();
    fn weaves_ctime();
    fn weaves_tmpnam();
    fn weaves_ttyname();
    fn weaves_getlogin();
    fn weaves_getmntent();
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f: unsafe extern "C" fn() = match name {
        "strtok" => weaves_strtok,
        "localtime" => weaves_localtime,
        "gmtime" => weaves_gmtime,
        "asctime" => weaves_asctime,
        "ctime" => weaves_ctime,
        "tmpnam" => weaves_tmpnam,
        "ttyname" => weaves_ttyname,
        "getlogin" => weaves_getlogin,
        "getmntent" => weaves_getmntent,
        _ => return None,
    };
    Some(f as usize as u64)
}
