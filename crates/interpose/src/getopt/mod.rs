//! `getopt`, `__posix_getopt`, `getopt_long` and `getopt_long_only`, with
//! all of getopt's state per bead.
//!
//! glibc keeps getopt's state in libc — `optind`, `optarg`, `opterr`,
//! `optopt`, and a static position inside a cluster such as `-abc` — and
//! libc is shared by every bead. So bead calls come here: the parser
//! ([`parse`], glibc's algorithm) runs over the calling bead's own
//! [`parse::State`], and the results are published the way each kind of
//! bead reads them:
//!
//! * a PIE executable reaches `optind` & co. in its own data (COPY
//!   relocations): its copies are read before the call (a program may set
//!   `optind` to rescan) and written after;
//! * a shared object reaches libc's variables through its GOT: they are
//!   written after each call. A value found there that no getopt call
//!   wrote was set by the program, and is taken as the caller's.
//!
//! Calls are serialised by one lock (they are short). A removed bead's
//! state goes with it ([`forget_bead`]).

mod parse;

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::{Mutex, OnceLock};

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::RuntimeSection;

/// Addresses of one bead's copies of libc's getopt variables.
#[derive(Clone, Copy, Default)]
struct Copies {
    optind: u64,
    optarg: u64,
    opterr: u64,
    optopt: u64,
}

/// What the parser keeps per bead, with what it last published.
#[derive(Clone, Copy, Default)]
struct Bead {
    copies: Copies,
    state: parse::State,
    /// `optind` as the last call left the bead's copy (a different value
    /// there was set by the program).
    published: i32,
    started: bool,
}

/// Every bead's getopt state, and `optind` as the last call (of any bead)
/// left libc's variable.
#[derive(Default)]
struct Registry {
    beads: HashMap<OwnerId, Bead>,
    libc_published: Option<i32>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// The getopt variables of libc (the real ones).
struct Libc {
    optind: *mut i32,
    optarg: *mut *mut libc::c_char,
    opterr: *mut i32,
    optopt: *mut i32,
    stderr: *mut *mut libc::FILE,
}
// SAFETY: addresses of libc globals and functions, valid for the process.
unsafe impl Send for Libc {}
// SAFETY: as above; access to the variables is serialised by `REGISTRY`'s lock.
unsafe impl Sync for Libc {}

fn libc_side() -> &'static Libc {
    static LIBC: OnceLock<Libc> = OnceLock::new();
    LIBC.get_or_init(|| {
        let find = |n: &CStr| {
            // SAFETY: dlsym with a valid C string only looks a symbol up.
            unsafe { libc::dlsym(libc::RTLD_DEFAULT, n.as_ptr()) as usize }
        };
        Libc {
            optind: find(c"optind") as *mut i32,
            optarg: find(c"optarg") as *mut *mut libc::c_char,
            opterr: find(c"opterr") as *mut i32,
            optopt: find(c"optopt") as *mut i32,
            stderr: find(c"stderr") as *mut *mut libc::FILE,
        }
    })
}

/// Records that bead `owner` holds its own copy of libc variable `name` at
/// `addr` (a COPY relocation of a PIE executable).
pub fn register_copied_variable(owner: OwnerId, name: &str, addr: u64) {
    let _rt = RuntimeSection::enter();
    let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let b = g
        .get_or_insert_with(Registry::default)
        .beads
        .entry(owner)
        .or_default();
    let c = &mut b.copies;
    match name {
        "optind" => c.optind = addr,
        "optarg" => c.optarg = addr,
        "opterr" => c.opterr = addr,
        "optopt" => c.optopt = addr,
        _ => {}
    }
}

/// Drops bead `owner`'s getopt state (it is being removed).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(r) = REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        r.beads.remove(&owner);
    }
}

/// Messages go to C's `stderr`, as glibc writes them.
struct CStderr(*mut libc::FILE);

impl parse::Errors for CStderr {
    fn line(&mut self, text: &str) {
        let Ok(line) = CString::new(format!("{text}\n")) else {
            return;
        };
        // SAFETY: `self.0` is libc's `stderr` stream; fputs takes a
        // NUL-terminated string.
        unsafe { libc::fputs(line.as_ptr(), self.0) };
    }
}

fn posixly_correct_env() -> bool {
    // SAFETY: the string's own getenv, with a NUL-terminated name.
    !unsafe { crate::api::getenv(c"POSIXLY_CORRECT".as_ptr()) }.is_null()
}

/// Which getopt a bead called.
#[derive(Clone, Copy)]
enum Flavour {
    Getopt,
    Posix,
    Long,
    LongOnly,
}

/// One getopt call from the bead whose code is at `ret`.
fn call(
    flavour: Flavour,
    argc: i32,
    argv: *mut *mut libc::c_char,
    optstring: *const libc::c_char,
    longopts: *const parse::LongOption,
    longind: *mut i32,
    ret: usize,
) -> i32 {
    let _rt = RuntimeSection::enter();
    let l = libc_side();
    let owner = owner_of(ret).unwrap_or_else(weaves_strings::acting_bead);
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let registry = guard.get_or_insert_with(Registry::default);
    let libc_published = registry.libc_published;
    let bead = registry.beads.entry(owner).or_default();
    let c = bead.copies;
    // SAFETY: the copies are the bead's own variables of the C types
    // getopt declares (ints and a char pointer), libc's are its globals,
    // and the lock keeps other getopt calls out; `optstring` is a C string
    // (C's contract for getopt).
    unsafe {
        if !bead.started {
            bead.started = true;
            bead.published = 1;
        }
        let set_by_program = if c.optind != 0 {
            let v = *(c.optind as *const i32);
            (v != bead.published).then_some(v)
        } else {
            let v = *l.optind;
            (Some(v) != libc_published && !(libc_published.is_none() && v == 1)).then_some(v)
        };
        if let Some(v) = set_by_program {
            bead.state.optind = v;
        }
        let opterr = if c.opterr != 0 {
            *(c.opterr as *const i32)
        } else {
            *l.opterr
        };
        let mut args = parse::Call {
            argc,
            argv,
            optstring: CStr::from_ptr(optstring).to_bytes(),
            longopts,
            longind,
            long_only: matches!(flavour, Flavour::LongOnly),
            posixly_correct: matches!(flavour, Flavour::Posix) || posixly_correct_env(),
            print_errors: opterr != 0,
        };
        let r = parse::next(&mut args, &mut bead.state, &mut CStderr(*l.stderr));
        let d = bead.state;
        let optarg = d.optarg as *mut libc::c_char;
        *l.optind = d.optind;
        *l.optarg = optarg;
        *l.optopt = d.optopt;
        if c.optind != 0 {
            *(c.optind as *mut i32) = d.optind;
        }
        if c.optarg != 0 {
            *(c.optarg as *mut *mut libc::c_char) = optarg;
        }
        if c.optopt != 0 {
            *(c.optopt as *mut i32) = d.optopt;
        }
        bead.published = d.optind;
        registry.libc_published = Some(d.optind);
        r
    }
}

extern "C" fn getopt_from(
    argc: i32,
    argv: *mut *mut libc::c_char,
    opts: *const libc::c_char,
    ret: usize,
) -> i32 {
    call(
        Flavour::Getopt,
        argc,
        argv,
        opts,
        std::ptr::null(),
        std::ptr::null_mut(),
        ret,
    )
}

extern "C" fn posix_getopt_from(
    argc: i32,
    argv: *mut *mut libc::c_char,
    opts: *const libc::c_char,
    ret: usize,
) -> i32 {
    call(
        Flavour::Posix,
        argc,
        argv,
        opts,
        std::ptr::null(),
        std::ptr::null_mut(),
        ret,
    )
}

extern "C" fn getopt_long_from(
    argc: i32,
    argv: *mut *mut libc::c_char,
    opts: *const libc::c_char,
    long: *const parse::LongOption,
    index: *mut i32,
    ret: usize,
) -> i32 {
    call(Flavour::Long, argc, argv, opts, long, index, ret)
}

extern "C" fn getopt_long_only_from(
    argc: i32,
    argv: *mut *mut libc::c_char,
    opts: *const libc::c_char,
    long: *const parse::LongOption,
    index: *mut i32,
    ret: usize,
) -> i32 {
    call(Flavour::LongOnly, argc, argv, opts, long, index, ret)
}

// Shims that pass the caller's return address along (it names the bead).
std::arch::global_asm!(
    ".globl weaves_getopt",
    ".hidden weaves_getopt",
    "weaves_getopt:",
    "mov rcx, qword ptr [rsp]",
    "jmp {getopt}",
    ".globl weaves_posix_getopt",
    ".hidden weaves_posix_getopt",
    "weaves_posix_getopt:",
    "mov rcx, qword ptr [rsp]",
    "jmp {posix_getopt}",
    ".globl weaves_getopt_long",
    ".hidden weaves_getopt_long",
    "weaves_getopt_long:",
    "mov r9, qword ptr [rsp]",
    "jmp {getopt_long}",
    ".globl weaves_getopt_long_only",
    ".hidden weaves_getopt_long_only",
    "weaves_getopt_long_only:",
    "mov r9, qword ptr [rsp]",
    "jmp {getopt_long_only}",
    getopt = sym getopt_from,
    posix_getopt = sym posix_getopt_from,
    getopt_long = sym getopt_long_from,
    getopt_long_only = sym getopt_long_only_from,
);

extern "C" {
    pub(crate) fn weaves_getopt();
    pub(crate) fn weaves_posix_getopt();
    pub(crate) fn weaves_getopt_long();
    pub(crate) fn weaves_getopt_long_only();
}
