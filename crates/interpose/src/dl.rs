//! Dynamic loading from bead code: `dlopen`, `dlmopen`, `dlsym`, `dlvsym`,
//! `dlclose` and `dlerror` that load into the caller's weave.
//!
//! The system loader knows nothing of beads: a plugin it loads cannot call
//! back into the program that opened it, and every opening program would
//! share the plugin's globals. So bead calls come here:
//!
//! * **Which library.** The name is resolved as the system loader would: a
//!   name with a `/` is that file; otherwise the calling bead's
//!   `DT_RPATH`/`DT_RUNPATH` (with `$ORIGIN`), then `LD_LIBRARY_PATH`. A file
//!   found that way, not loaded by the process already and not inside a
//!   system library directory ([`SYSTEM_DIRS`]) — unless the caller is
//!   itself a system library declared as a module, an interpreter loading
//!   its extension modules — is a *private* library:
//!   the running tapestry loads it as a new bead (and beads of its own
//!   private `DT_NEEDED` libraries) through its live-extension path, bound
//!   against the calling string's weave first, so it can call back into
//!   its host. Anything else (a bare name found only in the system
//!   directories or the `ldconfig` cache, libc, libm, …) goes to the real
//!   `dlopen` and is shared by every bead, as binding shares it.
//! * **Who owns it.** A private library is private to the opening
//!   *program*: the calling string's home bead, in the calling string's
//!   weave. The same program opening the same file again gets the same
//!   handle (a reference count); another program gets beads of its own.
//! * **Handles** are the addresses of records kept here; anything else is
//!   the real loader's handle and goes to the real functions.
//! * **Unloading.** `dlclose` of a private library's last handle asks the
//!   running tapestry to unload its beads (finalisers run, memory goes
//!   back), unless it was opened `RTLD_NODELETE` or another bead binds to
//!   it: then it stays, and is tried again after the next library of that
//!   weave is unloaded (as the system loader drops a library once the last
//!   one that bound to it goes). Opening it afterwards loads it afresh.
//!
//! Who may touch what: the registry is behind one mutex, never held while
//! the tapestry makes the change (the calling string parks meanwhile).

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use weaves_arena::OwnerId;
use weaves_strings::{current, RuntimeSection};

use crate::phdr::{bead_module, versioned_symbol_in};

/// Directories whose libraries are system libraries: opened by the real
/// `dlopen` and shared, never loaded as beads.
pub const SYSTEM_DIRS: &[&str] = &["/lib", "/lib64", "/usr/lib", "/usr/lib64"];

/// What the running tapestry is asked to load for a `dlopen`.
pub struct OpenRequest {
    /// The calling string's weave.
    pub weave: String,
    /// The opening program: the calling string's home bead.
    pub home: OwnerId,
    /// The library file (canonical path).
    pub path: PathBuf,
    /// Beads searched after the weave's own (earlier `RTLD_GLOBAL` opens).
    pub globals: Vec<OwnerId>,
}

type OpenHook = Arc<dyn Fn(OpenRequest) -> Result<Vec<OwnerId>, String> + Send + Sync>;

static OPEN: RwLock<Option<OpenHook>> = RwLock::new(None);

type CloseHook = Arc<dyn Fn(Vec<OwnerId>) -> Result<bool, String> + Send + Sync>;

static CLOSE: RwLock<Option<CloseHook>> = RwLock::new(None);

/// Installs (or, with `None`, removes) what `dlclose` of a private
/// library's last handle calls: given its beads (the library's first), the
/// running tapestry unloads them and says whether it did (false: something
/// still binds to them).
pub fn set_dlclose_hook(hook: Option<CloseHook>) {
    *CLOSE.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// Installs (or, with `None`, removes) what `dlopen` of a private library
/// calls: the running tapestry's way to load it. It returns the new beads,
/// the library's first, then its private dependencies in lookup order.
pub fn set_dlopen_hook(hook: Option<OpenHook>) {
    *OPEN.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// One handle `dlopen` gave bead code.
enum Handle {
    /// A private library: its beads, the library's first.
    Library {
        /// The name as first opened (what errors name, as the system
        /// loader's do).
        name: String,
        beads: Vec<OwnerId>,
        refs: usize,
        /// Who opened which file: its entry in `by_key`.
        key: Key,
        /// Opened `RTLD_NODELETE` at least once: never unloaded.
        nodelete: bool,
    },
    /// A library unloaded by `dlclose`. The record stays so that a stale
    /// handle is refused rather than taken for the real loader's.
    Closed,
    /// `dlopen(NULL)`: the calling string's weave.
    Weave(String),
}

/// The opening program's weave, the program (its home bead), the file.
type Key = (String, OwnerId, PathBuf);

#[derive(Default)]
struct Registry {
    handles: HashMap<usize, Box<Handle>>,
    by_key: HashMap<Key, usize>,
    /// Per weave: beads opened with `RTLD_GLOBAL`, in opening order.
    globals: HashMap<String, Vec<OwnerId>>,
    /// Per string (its context's address): the pending `dlerror` text and
    /// the one last returned (valid until the next call).
    errors: HashMap<usize, (Option<CString>, Option<CString>)>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(r.get_or_insert_with(Registry::default))
}

/// [`with_registry`] in a runtime section of its own, for callers that park
/// between uses.
fn in_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let _rt = RuntimeSection::enter();
    with_registry(f)
}

/// The calling string's `dlerror` slot.
fn string_key() -> usize {
    current().map_or(0, |c| c as *const _ as usize)
}

fn set_error(message: String) {
    let key = string_key();
    let text = CString::new(message).unwrap_or_default();
    with_registry(|r| r.errors.entry(key).or_default().0 = Some(text));
}

/// Moves the real loader's pending error (if any) into the string's slot:
/// a string may move to another worker before it calls `dlerror`.
fn take_real_error() {
    // SAFETY: dlerror returns NULL or a C string valid until the next call.
    let e = unsafe { libc::dlerror() };
    if !e.is_null() {
        // SAFETY: checked not NULL above.
        set_error(unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned());
    }
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "dlopen" => weaves_dlopen as *const () as usize,
        "dlmopen" => weaves_dlmopen as *const () as usize,
        "dlsym" => weaves_dlsym as *const () as usize,
        "dlvsym" => weaves_dlvsym as *const () as usize,
        "dlclose" => dlclose as *const () as usize,
        "dlerror" => dlerror as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}

// The entry points pass the caller's return address on as one more
// argument: `dlopen` resolves names against the caller's run path, and
// `RTLD_NEXT` starts after the caller.
std::arch::global_asm!(
    ".globl weaves_dlopen",
    ".hidden weaves_dlopen",
    "weaves_dlopen:",
    "mov rdx, qword ptr [rsp]",
    "jmp {open}",
    ".globl weaves_dlmopen",
    ".hidden weaves_dlmopen",
    "weaves_dlmopen:",
    "mov rcx, qword ptr [rsp]",
    "jmp {mopen}",
    ".globl weaves_dlsym",
    ".hidden weaves_dlsym",
    "weaves_dlsym:",
    "mov rdx, qword ptr [rsp]",
    "jmp {sym}",
    ".globl weaves_dlvsym",
    ".hidden weaves_dlvsym",
    "weaves_dlvsym:",
    "mov rcx, qword ptr [rsp]",
    "jmp {vsym}",
    open = sym dlopen_from,
    mopen = sym dlmopen_from,
    sym = sym dlsym_from,
    vsym = sym dlvsym_from,
);

extern "C" {
    /// `void *dlopen(const char *file, int flags)`.
    fn weaves_dlopen();
    /// `void *dlmopen(Lmid_t lmid, const char *file, int flags)`.
    fn weaves_dlmopen();
    /// `void *dlsym(void *handle, const char *name)`.
    fn weaves_dlsym();
    /// `void *dlvsym(void *handle, const char *name, const char *version)`.
    fn weaves_dlvsym();
}

unsafe extern "C" fn dlopen_from(
    file: *const libc::c_char,
    flags: i32,
    ret: u64,
) -> *mut libc::c_void {
    weaves_strings::blocking::preempt_point();
    let Some(ctx) = current() else {
        // SAFETY: not in a string: the real loader, as for any program.
        return unsafe { libc::dlopen(file, flags) };
    };
    let (weave, home) = (ctx.info.weave.clone(), ctx.info.home);
    let rt = RuntimeSection::enter();
    if file.is_null() {
        let h = with_registry(|r| {
            let h = Box::new(Handle::Weave(weave));
            let key = &*h as *const Handle as usize;
            r.handles.insert(key, h);
            key
        });
        return h as *mut libc::c_void;
    }
    // SAFETY: C passes a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(file) }
        .to_string_lossy()
        .into_owned();
    let caller = weaves_arena::owner_of(ret as usize);
    let Some(path) = private_library(&name, caller) else {
        drop(rt);
        // SAFETY: a system library (or a file the real loader reports on).
        let h = unsafe { libc::dlopen(file, flags) };
        if h.is_null() {
            let _rt = RuntimeSection::enter();
            take_real_error();
        }
        return h;
    };
    let key = (weave.clone(), home, path.clone());
    let global = flags & libc::RTLD_GLOBAL != 0;
    let known = with_registry(|r| {
        let h = *r.by_key.get(&key)?;
        let Some(Handle::Library {
            beads,
            refs,
            nodelete,
            ..
        }) = r.handles.get_mut(&h).map(|b| &mut **b)
        else {
            return None;
        };
        *refs += 1;
        *nodelete |= flags & libc::RTLD_NODELETE != 0;
        let first = beads[0];
        if global {
            let g = r.globals.entry(weave.clone()).or_default();
            if !g.contains(&first) {
                g.extend(beads.iter().copied());
            }
        }
        Some(h)
    });
    if let Some(h) = known {
        return h as *mut libc::c_void;
    }
    if flags & libc::RTLD_NOLOAD != 0 {
        return std::ptr::null_mut();
    }
    if ctx.info.id == 0 {
        set_error(format!(
            "{name}: cannot load a private library while beads are initialised (dlopen it once strings run)"
        ));
        return std::ptr::null_mut();
    }
    let globals = with_registry(|r| r.globals.get(&weave).cloned().unwrap_or_default());
    // Not held while the hook waits: the string parks meanwhile.
    let hook = OPEN.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(hook) = hook else {
        set_error(format!("{name}: no running tapestry to load it into"));
        return std::ptr::null_mut();
    };
    drop(rt);
    let canonical = path.display().to_string();
    let answer = hook(OpenRequest {
        weave: weave.clone(),
        home,
        path,
        globals,
    });
    let _rt = RuntimeSection::enter();
    match answer {
        Ok(beads) if !beads.is_empty() => with_registry(|r| {
            if global {
                r.globals
                    .entry(weave)
                    .or_default()
                    .extend(beads.iter().copied());
            }
            let h = Box::new(Handle::Library {
                name: shown(&name, &canonical),
                beads,
                refs: 1,
                key: key.clone(),
                nodelete: flags & libc::RTLD_NODELETE != 0,
            });
            let addr = &*h as *const Handle as usize;
            r.handles.insert(addr, h);
            r.by_key.insert(key, addr);
            addr as *mut libc::c_void
        }),
        Ok(_) => {
            set_error(format!("{name}: nothing was loaded"));
            std::ptr::null_mut()
        }
        Err(why) => {
            // The loader names the file as it was given.
            let why = match why.strip_prefix(&canonical) {
                Some(rest) => format!("{}{rest}", shown(&name, &canonical)),
                None => why,
            };
            set_error(why);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn dlmopen_from(
    lmid: libc::c_long,
    file: *const libc::c_char,
    flags: i32,
    ret: u64,
) -> *mut libc::c_void {
    if lmid == 0 {
        // SAFETY: LM_ID_BASE is the ordinary namespace: as dlopen.
        return unsafe { dlopen_from(file, flags, ret) };
    }
    let _rt = RuntimeSection::enter();
    set_error("dlmopen: link-map namespaces other than LM_ID_BASE are not supported inside a tapestry (a weave is the namespace)".into());
    std::ptr::null_mut()
}

unsafe extern "C" fn dlsym_from(
    handle: *mut libc::c_void,
    name: *const libc::c_char,
    ret: u64,
) -> *mut libc::c_void {
    // SAFETY: as dlsym's caller promises.
    unsafe { find_symbol(handle, name, None, ret) }
}

unsafe extern "C" fn dlvsym_from(
    handle: *mut libc::c_void,
    name: *const libc::c_char,
    version: *const libc::c_char,
    ret: u64,
) -> *mut libc::c_void {
    // SAFETY: as dlvsym's caller promises.
    unsafe { find_symbol(handle, name, Some(version), ret) }
}

/// Where a lookup searches.
enum Scope {
    /// The real loader's handle.
    System,
    /// These beads, in order, and nothing else (`path` names them in
    /// errors).
    Beads(Vec<OwnerId>, String),
    /// A weave's order from the start, or after bead `after`, then the
    /// runtime and the system libraries.
    Weave(Vec<OwnerId>, Option<OwnerId>),
}

/// # Safety
/// `name` and (if given and not NULL) `version` are C strings.
unsafe fn find_symbol(
    handle: *mut libc::c_void,
    name: *const libc::c_char,
    version: Option<*const libc::c_char>,
    ret: u64,
) -> *mut libc::c_void {
    let real = |h: *mut libc::c_void| -> *mut libc::c_void {
        // SAFETY: the caller's arguments, passed on.
        let p = unsafe {
            match version {
                Some(v) => libc::dlvsym(h, name, v),
                None => libc::dlsym(h, name),
            }
        };
        if p.is_null() {
            let _rt = RuntimeSection::enter();
            take_real_error();
        }
        p
    };
    let Some(ctx) = current() else {
        return real(handle);
    };
    if name.is_null() {
        return real(handle);
    }
    let rt = RuntimeSection::enter();
    let weave_order = || -> Vec<OwnerId> {
        let mut order: Vec<OwnerId> = ctx.weave_beads().map(|b| b.to_vec()).unwrap_or_default();
        with_registry(|r| order.extend(r.globals.get(&ctx.info.weave).into_iter().flatten()));
        order
    };
    let scope = if handle == libc::RTLD_DEFAULT {
        Scope::Weave(weave_order(), None)
    } else if handle == libc::RTLD_NEXT {
        let caller = weaves_arena::owner_of(ret as usize);
        let mut order = weave_order();
        // A private library opened locally looks on through its own handle.
        if let Some(c) = caller.filter(|c| !order.contains(c)) {
            with_registry(|r| {
                for h in r.handles.values() {
                    if let Handle::Library { beads, .. } = &**h {
                        if beads.contains(&c) {
                            order.extend(beads.iter().copied());
                            break;
                        }
                    }
                }
            });
        }
        Scope::Weave(order, caller)
    } else {
        let scope = with_registry(|r| match r.handles.get(&(handle as usize)).map(|b| &**b) {
            Some(Handle::Library { beads, name, .. }) => Scope::Beads(beads.clone(), name.clone()),
            // The weave's order is read once the registry's lock is let go.
            Some(Handle::Weave(w)) if *w == ctx.info.weave => Scope::Weave(Vec::new(), None),
            Some(Handle::Weave(w)) => Scope::Beads(Vec::new(), format!("weave {w}")),
            Some(Handle::Closed) => Scope::Beads(Vec::new(), "shared object not open".into()),
            None => Scope::System,
        });
        match scope {
            Scope::Weave(..) => Scope::Weave(weave_order(), None),
            other => other,
        }
    };
    // SAFETY: C passes NUL-terminated strings.
    let n = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    let v = version
        .filter(|v| !v.is_null())
        // SAFETY: as above.
        .map(|v| unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned());
    let in_beads = |beads: &[OwnerId]| {
        beads
            .iter()
            .find_map(|&b| versioned_symbol_in(b, &n, v.as_deref()))
    };
    match scope {
        Scope::System => {
            drop(rt);
            real(handle)
        }
        Scope::Beads(beads, path) => match in_beads(&beads) {
            Some(a) => a as *mut libc::c_void,
            None => {
                set_error(format!("{path}: undefined symbol: {n}"));
                std::ptr::null_mut()
            }
        },
        Scope::Weave(order, after) => {
            let start = after
                .and_then(|c| order.iter().position(|&b| b == c))
                .map_or(0, |p| p + 1);
            if let Some(a) = in_beads(&order[start..]) {
                return a as *mut libc::c_void;
            }
            if let Some(a) = crate::table::lookup(&n) {
                return a as *mut libc::c_void;
            }
            drop(rt);
            let p = real(libc::RTLD_DEFAULT);
            if p.is_null() {
                let _rt = RuntimeSection::enter();
                let what = if after.is_some() {
                    "RTLD_NEXT"
                } else {
                    "RTLD_DEFAULT"
                };
                set_error(format!("{what}: undefined symbol: {n}"));
            }
            p
        }
    }
}

/// `int dlclose(void *handle)`. The last close of a private library
/// unloads it (see the module docs).
unsafe extern "C" fn dlclose(handle: *mut libc::c_void) -> i32 {
    let Some(ctx) = current() else {
        // SAFETY: not in a string: the real loader's handle.
        return unsafe { libc::dlclose(handle) };
    };
    let _rt = RuntimeSection::enter();
    enum Found {
        Ours,
        Last,
        Stale,
        Real,
    }
    let h = handle as usize;
    let found = with_registry(|r| match r.handles.get_mut(&h).map(|b| &mut **b) {
        Some(Handle::Library {
            refs,
            nodelete,
            key,
            ..
        }) => {
            if *refs == 0 {
                return Found::Stale;
            }
            *refs -= 1;
            if *refs > 0 || *nodelete {
                return Found::Ours;
            }
            // From now on an opening loads the file afresh.
            let key = key.clone();
            r.by_key.remove(&key);
            Found::Last
        }
        Some(Handle::Weave(_)) => Found::Ours,
        Some(Handle::Closed) => Found::Stale,
        None => Found::Real,
    });
    match found {
        Found::Ours => 0,
        Found::Last => {
            drop(_rt);
            // Finalisers and initialisers (string id 0) run on the thread
            // that makes changes: it cannot be asked to make one. The
            // library stays, and goes with the tapestry.
            if ctx.info.id == 0 {
                // It stays: an opening finds it again.
                in_registry(|r| {
                    if let Some(Handle::Library { key, .. }) = r.handles.get(&h).map(|b| &**b) {
                        let key = key.clone();
                        r.by_key.entry(key).or_insert(h);
                    }
                });
            } else if unload(h) {
                unload_released(&ctx.info.weave);
            }
            0
        }
        Found::Stale => {
            set_error("shared object not open".into());
            -1
        }
        Found::Real => {
            drop(_rt);
            // SAFETY: a handle of the real loader.
            let r = unsafe { libc::dlclose(handle) };
            if r != 0 {
                let _rt = RuntimeSection::enter();
                take_real_error();
            }
            r
        }
    }
}

/// Asks the running tapestry to unload the library of handle `h` (its last
/// handle closed): true once it is gone. If it stays, an opening finds it
/// again. Called outside runtime sections: the string parks meanwhile, and
/// may resume on another worker.
fn unload(h: usize) -> bool {
    let beads = in_registry(|r| match r.handles.get(&h).map(|b| &**b) {
        Some(Handle::Library { beads, refs: 0, .. }) => Some(beads.clone()),
        _ => None,
    });
    let Some(beads) = beads else {
        return false;
    };
    let hook = CLOSE.read().unwrap_or_else(|e| e.into_inner()).clone();
    let unloaded = match hook {
        Some(hook) => hook(beads.clone()).unwrap_or(false),
        None => false,
    };
    in_registry(|r| {
        if unloaded {
            for g in r.globals.values_mut() {
                g.retain(|b| !beads.contains(b));
            }
            if let Some(rec) = r.handles.get_mut(&h) {
                **rec = Handle::Closed;
            }
        } else if let Some(Handle::Library { key, .. }) = r.handles.get(&h).map(|b| &**b) {
            let key = key.clone();
            r.by_key.entry(key).or_insert(h);
        }
    });
    unloaded
}

/// After an unload: tries again the libraries of `weave` whose last handle
/// was closed but that stayed because something bound to them.
fn unload_released(weave: &str) {
    loop {
        let waiting: Vec<usize> = in_registry(|r| {
            r.handles
                .iter()
                .filter_map(|(&h, rec)| match &**rec {
                    Handle::Library {
                        refs: 0,
                        nodelete: false,
                        key,
                        ..
                    } if key.0 == weave => Some(h),
                    _ => None,
                })
                .collect()
        });
        let mut any = false;
        for h in waiting {
            in_registry(|r| {
                if let Some(Handle::Library { key, .. }) = r.handles.get(&h).map(|b| &**b) {
                    let key = key.clone();
                    if r.by_key.get(&key) == Some(&h) {
                        r.by_key.remove(&key);
                    }
                }
            });
            any |= unload(h);
        }
        if !any {
            return;
        }
    }
}

/// `char *dlerror(void)`: the calling string's last error, once.
unsafe extern "C" fn dlerror() -> *mut libc::c_char {
    if current().is_none() {
        // SAFETY: not in a string: the real loader's error.
        return unsafe { libc::dlerror() };
    }
    let _rt = RuntimeSection::enter();
    // A failure inside a real call made by the string lands in its slot
    // already; this catches one the real loader still holds on this thread.
    take_real_error();
    let key = string_key();
    with_registry(|r| {
        let slot = r.errors.entry(key).or_default();
        slot.1 = slot.0.take();
        match &slot.1 {
            Some(c) => c.as_ptr() as *mut libc::c_char,
            None => {
                r.errors.remove(&key);
                std::ptr::null_mut()
            }
        }
    })
}

/// Whether `path` lies in a system library directory.
fn in_system_dir(path: &Path) -> bool {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    SYSTEM_DIRS.iter().any(|d| canonical.starts_with(d))
}

/// How errors name a library opened as `name` and found at `canonical`: as
/// given when it has a `/`, else the file found.
fn shown(name: &str, canonical: &str) -> String {
    if name.contains('/') {
        name.to_owned()
    } else {
        canonical.to_owned()
    }
}

/// The file `name` names if it is a private library for bead `caller`
/// (see the module docs); `None` for a system library or a missing file
/// (which the real loader then reports on).
fn private_library(name: &str, caller: Option<OwnerId>) -> Option<PathBuf> {
    let module = caller.and_then(bead_module);
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        let runpath = module
            .as_ref()
            .map(|m| m.runpath().to_vec())
            .unwrap_or_default();
        let env = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        runpath
            .iter()
            .map(String::as_str)
            .chain(env.split(':').filter(|d| !d.is_empty()))
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    }?;
    let path = found.canonicalize().ok()?;
    // A system library declared as a module (an interpreter, one per
    // program) loads its extension modules from system directories too
    // (`/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so`): they need its
    // symbols, so they become beads bound to it.
    let system_caller = module.is_some_and(|m| in_system_dir(m.path()));
    if in_system_dir(&path) && !system_caller {
        return None;
    }
    // A library the process has loaded already is shared.
    let c = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only asks whether it is loaded; a handle found is
    // given back at once.
    let loaded = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if !loaded.is_null() {
        // SAFETY: the handle RTLD_NOLOAD returned, with its count raised.
        unsafe { libc::dlclose(loaded) };
        return None;
    }
    Some(path)
}
