//! `include/weaves.h` for weave-aware modules, and per-string environment.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::Mutex;

use weaves_strings::{current, RuntimeSection};

use crate::real::real;

/// `int wv_string_id(void)`: the running string's id (0 outside strings).
pub(crate) extern "C" fn wv_string_id() -> i32 {
    current().map_or(0, |c| c.info.id as i32)
}

static NAMES: Mutex<Option<HashMap<String, CString>>> = Mutex::new(None);

pub(crate) fn interned(s: &str) -> *const libc::c_char {
    let _rt = RuntimeSection::enter();
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let map = names.get_or_insert_with(HashMap::new);
    // CStrings are never removed, so the pointer stays valid for the process.
    map.entry(s.to_owned())
        .or_insert_with(|| CString::new(s.replace('\0', "")).unwrap_or_default())
        .as_ptr()
}

/// `const char *wv_weave_name(void)`: the running string's weave.
pub(crate) extern "C" fn wv_weave_name() -> *const libc::c_char {
    match current() {
        Some(c) => interned(&c.info.weave),
        None => std::ptr::null(),
    }
}

std::arch::global_asm!(
    ".globl weaves_wv_bead_name",
    ".hidden weaves_wv_bead_name",
    "weaves_wv_bead_name:",
    "mov rdi, qword ptr [rsp]",
    "jmp {imp}",
    imp = sym bead_name_from,
);

extern "C" {
    /// `const char *wv_bead_name(void)`: the bead whose code called it.
    pub(crate) fn weaves_wv_bead_name() -> *const libc::c_char;
}

extern "C" fn bead_name_from(ret: u64) -> *const libc::c_char {
    let _rt = RuntimeSection::enter();
    crate::phdr::bead_name_at(ret).unwrap_or(std::ptr::null())
}

/// `void *wv_lookup(const char *name)`: the address of the exported symbol
/// `name` in the running string's home bead (the bead of its entry), or
/// NULL. Lets a shared bead find a rank's own copy of a variable (an MPI
/// library finds the Fortran program's `MPI_IN_PLACE` this way).
pub(crate) unsafe extern "C" fn wv_lookup(name: *const libc::c_char) -> *mut libc::c_void {
    let Some(ctx) = current() else {
        return std::ptr::null_mut();
    };
    if name.is_null() {
        return std::ptr::null_mut();
    }
    let _rt = RuntimeSection::enter();
    // SAFETY: C passes a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
    crate::phdr::symbol_in(ctx.info.home, &name).map_or(std::ptr::null_mut(), |a| a as *mut _)
}

/// `int wv_others_ready(void)`: 1 if the caller's worker has another
/// string ready to run, so a poll loop knows whether to yield or spin.
pub(crate) extern "C" fn wv_others_ready() -> i32 {
    i32::from(weaves_strings::others_ready())
}

/// `void wv_yield(void)`: lets other strings run.
pub(crate) extern "C" fn wv_yield() {
    // A reconfiguration point (see `weaves_strings::stop_point`).
    weaves_strings::stop_point();
    weaves_strings::blocking::yield_now();
}

pub(crate) unsafe extern "C" fn getenv(name: *const libc::c_char) -> *const libc::c_char {
    weaves_strings::blocking::preempt_point();
    if let Some(c) = current() {
        if !name.is_null() {
            // SAFETY: C passes a NUL-terminated name.
            if let Some(v) = c.getenv(unsafe { CStr::from_ptr(name) }) {
                return v;
            }
        }
    }
    // SAFETY: no private environment: the process's.
    unsafe { (real().getenv)(name) }
}

pub(crate) unsafe extern "C" fn setenv(
    name: *const libc::c_char,
    value: *const libc::c_char,
    overwrite: i32,
) -> i32 {
    let Some(c) = current() else {
        // SAFETY: outside strings, the process environment.
        return unsafe { libc::setenv(name, value, overwrite) };
    };
    // SAFETY: C passes NUL-terminated strings.
    let (n, v) = unsafe { (CStr::from_ptr(name), CStr::from_ptr(value)) };
    if n.is_empty() || n.to_bytes().contains(&b'=') {
        // SAFETY: errno is thread-local.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    }
    let _rt = RuntimeSection::enter();
    if c.setenv(n, Some(v), overwrite != 0) {
        return 0;
    }
    drop(_rt);
    // SAFETY: no private environment: the process's.
    unsafe { libc::setenv(name, value, overwrite) }
}

pub(crate) unsafe extern "C" fn unsetenv(name: *const libc::c_char) -> i32 {
    let Some(c) = current() else {
        // SAFETY: outside strings, the process environment.
        return unsafe { libc::unsetenv(name) };
    };
    // SAFETY: C passes a NUL-terminated string.
    let n = unsafe { CStr::from_ptr(name) };
    let _rt = RuntimeSection::enter();
    if c.setenv(n, None, true) {
        return 0;
    }
    drop(_rt);
    // SAFETY: no private environment: the process's.
    unsafe { libc::unsetenv(name) }
}

/// What `wv_spawn` asks of the running tapestry: a new string in `weave`
/// running `entry` (`symbol` or `bead:symbol`) with `args`.
pub struct SpawnRequest {
    pub weave: String,
    pub entry: String,
    pub args: Vec<String>,
}

type SpawnHook = std::sync::Arc<dyn Fn(SpawnRequest) -> Result<u32, String> + Send + Sync>;

static SPAWN: std::sync::RwLock<Option<SpawnHook>> = std::sync::RwLock::new(None);

/// Installs (or, with `None`, removes) what `wv_spawn` calls: the running
/// tapestry's way to start a string. It returns the new string's id.
pub fn set_spawn_hook(hook: Option<SpawnHook>) {
    *SPAWN.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// `int wv_spawn(const char *weave, const char *entry, char *const argv[])`:
/// starts a string in `weave` running `entry` with `argv` (NULL-terminated;
/// NULL means just the entry's name). Returns its id, or -1 with errno:
/// EINVAL (bad arguments), ENOENT (no such weave or entry: the reason goes
/// to stderr), ENOTSUP (no tapestry is running).
pub(crate) unsafe extern "C" fn wv_spawn(
    weave: *const libc::c_char,
    entry: *const libc::c_char,
    argv: *const *const libc::c_char,
) -> i32 {
    weaves_strings::blocking::preempt_point();
    let set_errno = |e: i32| {
        // SAFETY: errno is thread-local and always writable.
        unsafe { *libc::__errno_location() = e };
        -1
    };
    if weave.is_null() || entry.is_null() {
        return set_errno(libc::EINVAL);
    }
    let request = {
        let _rt = RuntimeSection::enter();
        // SAFETY: C passes NUL-terminated strings.
        let text =
            |p: *const libc::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        let mut args = Vec::new();
        if !argv.is_null() {
            let mut p = argv;
            // SAFETY: a NULL-terminated array of C strings, as for execv.
            unsafe {
                while !(*p).is_null() {
                    args.push(text(*p));
                    p = p.add(1);
                }
            }
        }
        let entry = text(entry);
        if args.is_empty() {
            args.push(entry.rsplit(':').next().unwrap_or(&entry).to_owned());
        }
        SpawnRequest {
            weave: text(weave),
            entry,
            args,
        }
    };
    // Not held while the hook waits: the string parks meanwhile, and a lock
    // held across a park would block any string of its worker that takes it.
    let hook = SPAWN.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(hook) = hook else {
        return set_errno(libc::ENOTSUP);
    };
    match hook(request) {
        Ok(id) => id as i32,
        Err(why) => {
            let _rt = RuntimeSection::enter();
            eprintln!("weaves: wv_spawn: {why}");
            set_errno(libc::ENOENT)
        }
    }
}
