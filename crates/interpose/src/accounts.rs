//! The user, group and host database iterators, per bead: `setpwent`,
//! `getpwent`, `endpwent`, `setgrent`, `getgrent`, `endgrent` and
//! `sethostent`, `gethostent`, `endhostent`.
//!
//! The C library keeps one position in each database per process, so two
//! beads walking `/etc/passwd` would each see only part of it. Here each
//! bead (the bead whose code called) keeps its own position and result
//! buffer; a `getpwent` rewinds the C library's iterator and walks it to
//! the bead's position with the reentrant `getpwent_r`, all under one lock,
//! so the databases the system's NSS configuration names are read exactly
//! as a process would read them. A walk costs the square of the entries it
//! passes (databases are small), and the C library's own iterator ends each
//! call closed (`endpwent`): code that calls the system's iterator directly
//! (a system library acting for a bead) starts from the beginning.
//!
//! The entry points are assembly shims that pass the caller's return
//! address along. A removed bead's position goes with it ([`forget_bead`]).

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::RuntimeSection;

extern "C" {
    fn setpwent();
    fn endpwent();
    fn getpwent_r(
        pw: *mut libc::passwd,
        buf: *mut libc::c_char,
        len: usize,
        result: *mut *mut libc::passwd,
    ) -> i32;
    fn setgrent();
    fn endgrent();
    fn getgrent_r(
        gr: *mut libc::group,
        buf: *mut libc::c_char,
        len: usize,
        result: *mut *mut libc::group,
    ) -> i32;
}

extern "C" {
    fn sethostent(stay_open: i32);
    fn endhostent();
    fn gethostent_r(
        host: *mut libc::hostent,
        buf: *mut libc::c_char,
        len: usize,
        result: *mut *mut libc::hostent,
        h_errnop: *mut i32,
    ) -> i32;
    fn __h_errno_location() -> *mut i32;
}

/// Where the first try of a record's strings goes; doubled on `ERANGE`.
const FIRST_BUFFER: usize = 1024;

/// One bead's walks. Boxed: the records returned point into it.
struct Walks {
    pw_next: usize,
    pw: libc::passwd,
    pw_buf: Vec<libc::c_char>,
    gr_next: usize,
    gr: libc::group,
    gr_buf: Vec<libc::c_char>,
    host_next: usize,
    host: libc::hostent,
    host_buf: Vec<libc::c_char>,
}

// SAFETY: the records' pointers point into the same box's buffers; every
// access is under `WALKS`' lock.
unsafe impl Send for Walks {}

impl Walks {
    fn new() -> Box<Walks> {
        Box::new(Walks {
            pw_next: 0,
            // SAFETY: plain C records (pointers and integers): all-zero
            // bytes are valid.
            pw: unsafe { std::mem::zeroed() },
            pw_buf: vec![0; FIRST_BUFFER],
            gr_next: 0,
            // SAFETY: as above.
            gr: unsafe { std::mem::zeroed() },
            gr_buf: vec![0; FIRST_BUFFER],
            host_next: 0,
            // SAFETY: as above.
            host: unsafe { std::mem::zeroed() },
            host_buf: vec![0; FIRST_BUFFER],
        })
    }
}

/// Also serialises every use of the C library's iterators made here.
static WALKS: Mutex<Option<HashMap<OwnerId, Box<Walks>>>> = Mutex::new(None);

fn with_bead<R>(ret: usize, f: impl FnOnce(&mut Walks) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let owner = owner_of(ret).unwrap_or_else(weaves_strings::acting_bead);
    let mut g = WALKS.lock().unwrap_or_else(|e| e.into_inner());
    let w = g
        .get_or_insert_with(HashMap::new)
        .entry(owner)
        .or_insert_with(Walks::new);
    f(w)
}

/// Drops bead `owner`'s walks (it is being removed).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = WALKS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
}

fn errno() -> &'static mut i32 {
    // SAFETY: errno is this thread's, which is the calling string's now.
    unsafe { &mut *libc::__errno_location() }
}

/// Entry `next` of a database: rewinds with `set`, reads entries with
/// `get` (which fills `record` and its strings in `buf`) until the one
/// wanted, closes with `end`. NULL at the end, with the errno the C
/// library's last read left.
fn nth<T>(
    next: &mut usize,
    record: &mut T,
    buf: &mut Vec<libc::c_char>,
    set: &dyn Fn(),
    end: unsafe extern "C" fn(),
    get: &dyn Fn(*mut T, *mut libc::c_char, usize, *mut *mut T) -> i32,
) -> *mut T {
    'rewind: loop {
        set();
        for k in 0..=*next {
            let mut result: *mut T = std::ptr::null_mut();
            // `record` and `buf` are this bead's, `buf.len()` long.
            let e = get(record, buf.as_mut_ptr(), buf.len(), &mut result);
            if e == libc::ERANGE {
                let grown = buf.len() * 2;
                buf.resize(grown, 0);
                continue 'rewind;
            }
            if e != 0 || result.is_null() {
                let saved = *errno();
                // SAFETY: as above.
                unsafe { end() };
                *errno() = saved;
                return std::ptr::null_mut();
            }
            if k == *next {
                *next += 1;
                let saved = *errno();
                // SAFETY: as above.
                unsafe { end() };
                *errno() = saved;
                return result;
            }
        }
    }
}

extern "C" fn getpwent_from(ret: usize) -> *mut libc::passwd {
    with_bead(ret, |w| {
        nth(
            &mut w.pw_next,
            &mut w.pw,
            &mut w.pw_buf,
            // SAFETY: the C library's own iterator, used under WALKS' lock.
            &|| unsafe { setpwent() },
            endpwent,
            // SAFETY: a record and a buffer of that length (see `nth`).
            &|r, b, n, out| unsafe { getpwent_r(r, b, n, out) },
        )
    })
}

extern "C" fn setpwent_from(ret: usize) {
    with_bead(ret, |w| w.pw_next = 0);
}

extern "C" fn getgrent_from(ret: usize) -> *mut libc::group {
    with_bead(ret, |w| {
        nth(
            &mut w.gr_next,
            &mut w.gr,
            &mut w.gr_buf,
            // SAFETY: as for getpwent.
            &|| unsafe { setgrent() },
            endgrent,
            // SAFETY: as for getpwent.
            &|r, b, n, out| unsafe { getgrent_r(r, b, n, out) },
        )
    })
}

extern "C" fn setgrent_from(ret: usize) {
    with_bead(ret, |w| w.gr_next = 0);
}

extern "C" fn gethostent_from(ret: usize) -> *mut libc::hostent {
    with_bead(ret, |w| {
        let h_errno = std::cell::Cell::new(0);
        let found = nth(
            &mut w.host_next,
            &mut w.host,
            &mut w.host_buf,
            // SAFETY: as for getpwent.
            &|| unsafe { sethostent(0) },
            endhostent,
            // SAFETY: as for getpwent; `h_errno` outlives the walk.
            &|r, b, n, out| unsafe { gethostent_r(r, b, n, out, h_errno.as_ptr()) },
        );
        if found.is_null() {
            // SAFETY: h_errno is this thread's (the calling string's).
            unsafe { *__h_errno_location() = h_errno.get() };
        }
        found
    })
}

extern "C" fn sethostent_from(_stay_open: i32, ret: usize) {
    with_bead(ret, |w| w.host_next = 0);
}

extern "C" fn endhostent_from(ret: usize) {
    with_bead(ret, |w| w.host_next = 0);
}

std::arch::global_asm!(
    ".globl weaves_getpwent",
    ".hidden weaves_getpwent",
    "weaves_getpwent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {getpw}",
    ".globl weaves_setpwent",
    ".hidden weaves_setpwent",
    "weaves_setpwent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {setpw}",
    ".globl weaves_getgrent",
    ".hidden weaves_getgrent",
    "weaves_getgrent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {getgr}",
    ".globl weaves_setgrent",
    ".hidden weaves_setgrent",
    "weaves_setgrent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {setgr}",
    ".globl weaves_gethostent",
    ".hidden weaves_gethostent",
    "weaves_gethostent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {gethost}",
    ".globl weaves_sethostent",
    ".hidden weaves_sethostent",
    "weaves_sethostent:",
    "mov rsi, qword ptr [rsp]",
    "jmp {sethost}",
    ".globl weaves_endhostent",
    ".hidden weaves_endhostent",
    "weaves_endhostent:",
    "mov rdi, qword ptr [rsp]",
    "jmp {endhost}",
    getpw = sym getpwent_from,
    gethost = sym gethostent_from,
    sethost = sym sethostent_from,
    endhost = sym endhostent_from,
    setpw = sym setpwent_from,
    getgr = sym getgrent_from,
    setgr = sym setgrent_from,
);

extern "C" {
    fn weaves_getpwent();
    fn weaves_setpwent();
    fn weaves_getgrent();
    fn weaves_setgrent();
    fn weaves_gethostent();
    fn weaves_sethostent();
    fn weaves_endhostent();
}

/// The runtime's definition of `name`, if it is one of these. Ending a
/// walk is starting one over (`endpwent` rewinds, as `setpwent` does).
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f: unsafe extern "C" fn() = match name {
        "getpwent" => weaves_getpwent,
        "setpwent" | "endpwent" => weaves_setpwent,
        "getgrent" => weaves_getgrent,
        "setgrent" | "endgrent" => weaves_setgrent,
        "gethostent" => weaves_gethostent,
        "sethostent" => weaves_sethostent,
        "endhostent" => weaves_endhostent,
        _ => return None,
    };
    Some(f as usize as u64)
}
