//! `getopt` for PIE executables.
//!
//! A PIE executable reaches `optind`, `optarg`, `opterr` and `optopt` in its
//! own data: the linker gave it copies (COPY relocations) that the system
//! loader would make *the* variables for libc too. A bead's copies cannot be
//! libc's — libc is shared by every bead — so bead calls to `getopt`,
//! `getopt_long` and `getopt_long_only` go through these wrappers, which
//! load the calling bead's copies into libc's variables, call libc, and
//! store the results back, under one lock (libc's getopt state is
//! process-wide). Beads that are shared objects reach libc's variables
//! through their GOT and need nothing.

use std::collections::HashMap;
use std::ffi::CStr;
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

static COPIES: Mutex<Option<HashMap<OwnerId, Copies>>> = Mutex::new(None);

/// The getopt variables of libc (the real ones).
struct Libc {
    optind: *mut i32,
    optarg: *mut *mut libc::c_char,
    opterr: *mut i32,
    optopt: *mut i32,
    getopt: usize,
    getopt_long: usize,
    getopt_long_only: usize,
}
// SAFETY: addresses of libc globals and functions, valid for the process.
unsafe impl Send for Libc {}
// SAFETY: as above; access to the variables is serialised by `COPIES`' lock.
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
            getopt: find(c"getopt"),
            getopt_long: find(c"getopt_long"),
            getopt_long_only: find(c"getopt_long_only"),
        }
    })
}

/// Records that bead `owner` holds its own copy of libc variable `name` at
/// `addr` (a COPY relocation of a PIE executable).
pub fn register_copied_variable(owner: OwnerId, name: &str, addr: u64) {
    let _rt = RuntimeSection::enter();
    let mut g = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    let c = g.get_or_insert_with(HashMap::new).entry(owner).or_default();
    match name {
        "optind" => c.optind = addr,
        "optarg" => c.optarg = addr,
        "opterr" => c.opterr = addr,
        "optopt" => c.optopt = addr,
        _ => {}
    }
}

/// Runs `call` (one of libc's getopt functions) with the calling bead's
/// copies swapped in.
fn with_copies(ret: usize, call: impl FnOnce(&Libc) -> i32) -> i32 {
    let l = libc_side();
    let guard = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    let copies = owner_of(ret).and_then(|o| guard.as_ref()?.get(&o).copied());
    // SAFETY: the copies are the bead's own variables of the same C types
    // (ints and a char pointer), and libc's are its globals; the lock keeps
    // other strings' getopt calls out meanwhile.
    unsafe {
        if let Some(c) = copies {
            if c.optind != 0 {
                *l.optind = *(c.optind as *const i32);
            }
            if c.opterr != 0 {
                *l.opterr = *(c.opterr as *const i32);
            }
        }
        let r = call(l);
        if let Some(c) = copies {
            if c.optind != 0 {
                *(c.optind as *mut i32) = *l.optind;
            }
            if c.optarg != 0 {
                *(c.optarg as *mut *mut libc::c_char) = *l.optarg;
            }
            if c.optopt != 0 {
                *(c.optopt as *mut i32) = *l.optopt;
            }
        }
        drop(guard);
        r
    }
}

type Getopt = unsafe extern "C" fn(i32, *const *mut libc::c_char, *const libc::c_char) -> i32;
type GetoptLong = unsafe extern "C" fn(
    i32,
    *const *mut libc::c_char,
    *const libc::c_char,
    *const libc::c_void,
    *mut i32,
) -> i32;

extern "C" fn getopt_from(
    argc: i32,
    argv: *const *mut libc::c_char,
    opts: *const libc::c_char,
    ret: usize,
) -> i32 {
    with_copies(ret, |l| {
        // SAFETY: libc's getopt, called with the caller's own arguments.
        unsafe { std::mem::transmute::<usize, Getopt>(l.getopt)(argc, argv, opts) }
    })
}

/// `getopt_long` and `getopt_long_only` take the same arguments; `pick`
/// chooses which of libc's to call.
fn getopt_long_with(
    pick: fn(&Libc) -> usize,
    argc: i32,
    argv: *const *mut libc::c_char,
    opts: *const libc::c_char,
    long: *const libc::c_void,
    index: *mut i32,
    ret: usize,
) -> i32 {
    with_copies(ret, |l| {
        // SAFETY: libc's getopt_long(_only), with the caller's own arguments.
        unsafe { std::mem::transmute::<usize, GetoptLong>(pick(l))(argc, argv, opts, long, index) }
    })
}

extern "C" fn getopt_long_from(
    argc: i32,
    argv: *const *mut libc::c_char,
    opts: *const libc::c_char,
    long: *const libc::c_void,
    index: *mut i32,
    ret: usize,
) -> i32 {
    getopt_long_with(|l| l.getopt_long, argc, argv, opts, long, index, ret)
}

extern "C" fn getopt_long_only_from(
    argc: i32,
    argv: *const *mut libc::c_char,
    opts: *const libc::c_char,
    long: *const libc::c_void,
    index: *mut i32,
    ret: usize,
) -> i32 {
    getopt_long_with(|l| l.getopt_long_only, argc, argv, opts, long, index, ret)
}

// Shims that pass the caller's return address along (it names the bead).
std::arch::global_asm!(
    ".globl weaves_getopt",
    ".hidden weaves_getopt",
    "weaves_getopt:",
    "mov rcx, qword ptr [rsp]",
    "jmp {getopt}",
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
    getopt_long = sym getopt_long_from,
    getopt_long_only = sym getopt_long_only_from,
);

extern "C" {
    pub(crate) fn weaves_getopt();
    pub(crate) fn weaves_getopt_long();
    pub(crate) fn weaves_getopt_long_only();
}
