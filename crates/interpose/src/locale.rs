//! The C library's locale per program: `setlocale`, `uselocale` and
//! `localeconv` for bead code.
//!
//! glibc keeps one global locale per process, which every thread follows
//! unless it chose its own with `uselocale`. Natively each program is a
//! process, so one program's `setlocale(LC_ALL, "C.UTF-8")` never changes
//! how another formats numbers or counts multibyte characters. Here:
//!
//! * **`setlocale`** changes the locale of the calling *program* (the
//!   string's home bead, whose threads share it, as a process's do): a
//!   `locale_t` made with `newlocale` from the program's previous one. A
//!   query names the program's locale (glibc's composite
//!   `LC_CTYPE=…;LC_NUMERIC=…` form when categories differ).
//! * **`uselocale`** sets the calling *string*'s own locale, as it sets a
//!   thread's; `LC_GLOBAL_LOCALE` returns it to its program's.
//! * A string runs with its own locale, else its program's, else the
//!   process's global one: the scheduler's switch hook installs it with
//!   the real `uselocale` each time the string starts or resumes on a
//!   worker, and puts the worker back on the global locale when it leaves.
//!   Until bead code first calls one of these, the hook does nothing.
//! * **`localeconv`**'s result is copied into a buffer of the program's.
//!
//! A program's other strings take its new locale when they next resume
//! (natively at once). `setlocale(cat, "")` reads `LC_ALL`/`LC_*`/`LANG`
//! from the process's environment, not a string's own `env` table. The
//! program's locale objects are freed with its bead.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use weaves_arena::OwnerId;
use weaves_strings::{current, ExecCtx, RuntimeSection};

extern "C" {
    fn newlocale(mask: i32, name: *const libc::c_char, base: usize) -> usize;
    fn duplocale(loc: usize) -> usize;
    fn freelocale(loc: usize);
    #[link_name = "uselocale"]
    fn real_uselocale(loc: usize) -> usize;
    #[link_name = "setlocale"]
    fn real_setlocale(category: i32, name: *const libc::c_char) -> *mut libc::c_char;
    #[link_name = "localeconv"]
    fn real_localeconv() -> *mut libc::lconv;
    fn nl_langinfo_l(item: i32, loc: usize) -> *const libc::c_char;
}

/// glibc's `LC_GLOBAL_LOCALE`: `(locale_t) -1`.
const GLOBAL: usize = usize::MAX;

/// glibc's categories by number, with the names its composite locale
/// names use (`LC_ALL`, 6, is none of them).
const CATEGORIES: [(i32, &str); 12] = [
    (0, "LC_CTYPE"),
    (1, "LC_NUMERIC"),
    (2, "LC_TIME"),
    (3, "LC_COLLATE"),
    (4, "LC_MONETARY"),
    (5, "LC_MESSAGES"),
    (7, "LC_PAPER"),
    (8, "LC_NAME"),
    (9, "LC_ADDRESS"),
    (10, "LC_TELEPHONE"),
    (11, "LC_MEASUREMENT"),
    (12, "LC_IDENTIFICATION"),
];

/// One program's locale.
struct Program {
    /// The `locale_t` its strings follow.
    current: usize,
    /// Every object it was given (strings may still run with an earlier
    /// one until they next resume): freed with the bead.
    made: Vec<usize>,
    /// What `setlocale` last returned (valid until its next call).
    name: CString,
    /// What `localeconv` last returned.
    lconv: Box<libc::lconv>,
}

impl Program {
    /// A program that has not set a locale: it follows the global one.
    fn following_global() -> Program {
        Program {
            current: GLOBAL,
            made: Vec::new(),
            name: CString::default(),
            // SAFETY: a plain C record; zeroes are valid (NULL pointers, 0s).
            lconv: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}

// SAFETY: the locale objects are the C library's, usable from any thread;
// the lconv's pointers point into them; all access is under `PROGRAMS`'
// lock.
unsafe impl Send for Program {}

static PROGRAMS: Mutex<Option<HashMap<OwnerId, Program>>> = Mutex::new(None);

/// Set once bead code first touches the locale: until then the switch hook
/// does nothing.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

fn activate() {
    HOOK.call_once(|| weaves_strings::set_switch_hook(on_switch));
    ACTIVE.store(true, Ordering::Release);
}

/// The locale string `ctx` runs with.
fn effective(ctx: &ExecCtx) -> usize {
    let own = ctx.locale.load(Ordering::Acquire);
    if own != 0 {
        return own;
    }
    let _rt = RuntimeSection::enter();
    PROGRAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&ctx.info.home))
        .map_or(GLOBAL, |p| p.current)
}

/// The scheduler's switch hook: the string's locale on the worker while it
/// runs there, the global one otherwise.
fn on_switch(ctx: &ExecCtx, entering: bool) {
    if !ACTIVE.load(Ordering::Acquire) {
        return;
    }
    let loc = if entering { effective(ctx) } else { GLOBAL };
    // SAFETY: a locale object of the program's or the string's (alive
    // while either is), or LC_GLOBAL_LOCALE; errno is left as it was.
    unsafe {
        let saved = *libc::__errno_location();
        real_uselocale(loc);
        *libc::__errno_location() = saved;
    }
}

/// Drops bead `owner`'s locale (it is being removed: none of its strings
/// runs, and workers leave a string's locale when it stops).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    let gone = PROGRAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .and_then(|m| m.remove(&owner));
    for loc in gone.into_iter().flat_map(|p| p.made) {
        // SAFETY: made by newlocale for this program, used by no string now.
        unsafe { freelocale(loc) };
    }
}

/// The name of category `cat` (or, for `LC_ALL`, of all) of `loc`, as
/// glibc's `setlocale` gives it.
fn name_of(loc: usize, cat: i32) -> String {
    let one = |c: i32| -> String {
        // SAFETY: `_NL_LOCALE_NAME(c)` of a valid locale object is a C
        // string that lives as long as the object.
        unsafe { CStr::from_ptr(nl_langinfo_l((c << 16) | 0xffff, loc)) }
            .to_string_lossy()
            .into_owned()
    };
    if cat != libc::LC_ALL {
        return one(cat);
    }
    let names: Vec<String> = CATEGORIES.iter().map(|&(c, _)| one(c)).collect();
    if names.iter().all(|n| *n == names[0]) {
        return names[0].clone();
    }
    CATEGORIES
        .iter()
        .zip(&names)
        .map(|((_, label), n)| format!("{label}={n}"))
        .collect::<Vec<_>>()
        .join(";")
}

unsafe extern "C" fn setlocale(category: i32, name: *const libc::c_char) -> *mut libc::c_char {
    let Some(ctx) = current() else {
        // SAFETY: not in a string: the process's own locale.
        return unsafe { real_setlocale(category, name) };
    };
    if !(0..=12).contains(&category) {
        // SAFETY: glibc answers an unknown category itself (EINVAL).
        return unsafe { real_setlocale(category, name) };
    }
    let _rt = RuntimeSection::enter();
    activate();
    let home = ctx.info.home;
    let mut guard = PROGRAMS.lock().unwrap_or_else(|e| e.into_inner());
    let programs = guard.get_or_insert_with(HashMap::new);
    let base = programs.get(&home).map_or(GLOBAL, |p| p.current);
    let new = if name.is_null() {
        None
    } else {
        // A copy of the program's locale, changed in `category`: the old
        // object stays valid for strings still running with it.
        let mask = if category == libc::LC_ALL {
            libc::LC_ALL_MASK
        } else {
            1 << category
        };
        // SAFETY: `base` is a live locale object or LC_GLOBAL_LOCALE;
        // `name` is a C string (setlocale's contract). On failure
        // newlocale leaves the copy to us.
        let made = unsafe {
            let copy = duplocale(base);
            if copy == 0 {
                return std::ptr::null_mut();
            }
            let made = newlocale(mask, name, copy);
            if made == 0 {
                let saved = *libc::__errno_location();
                freelocale(copy);
                *libc::__errno_location() = saved;
                return std::ptr::null_mut();
            }
            made
        };
        Some(made)
    };
    let text = match new.unwrap_or(base) {
        // SAFETY: a query of the global locale (category checked above).
        GLOBAL => unsafe { CStr::from_ptr(real_setlocale(category, std::ptr::null())) }.to_owned(),
        loc => CString::new(name_of(loc, category)).unwrap_or_default(),
    };
    let p = programs
        .entry(home)
        .or_insert_with(Program::following_global);
    if let Some(made) = new {
        p.current = made;
        p.made.push(made);
    }
    p.name = text;
    let answer = p.name.as_ptr() as *mut libc::c_char;
    drop(guard);
    if new.is_some() {
        on_switch(ctx, true);
    }
    answer
}

unsafe extern "C" fn uselocale(loc: usize) -> usize {
    let Some(ctx) = current() else {
        // SAFETY: not in a string: the thread's own locale.
        return unsafe { real_uselocale(loc) };
    };
    let _rt = RuntimeSection::enter();
    activate();
    let old = match ctx.locale.load(Ordering::Acquire) {
        0 => GLOBAL,
        l => l,
    };
    if loc != 0 {
        let own = if loc == GLOBAL { 0 } else { loc };
        ctx.locale.store(own, Ordering::Release);
        on_switch(ctx, true);
    }
    old
}

unsafe extern "C" fn localeconv() -> *mut libc::lconv {
    let Some(ctx) = current() else {
        // SAFETY: not in a string: the process's own buffer.
        return unsafe { real_localeconv() };
    };
    let _rt = RuntimeSection::enter();
    let mut programs = PROGRAMS.lock().unwrap_or_else(|e| e.into_inner());
    let p = programs
        .get_or_insert_with(HashMap::new)
        .entry(ctx.info.home)
        .or_insert_with(Program::following_global);
    // SAFETY: glibc fills its buffer from this thread's locale (the
    // string's, installed by the switch hook); copied while the lock keeps
    // other strings' calls out.
    *p.lconv = unsafe { *real_localeconv() };
    &mut *p.lconv
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "setlocale" => setlocale as *const () as usize,
        "uselocale" | "__uselocale" => uselocale as *const () as usize,
        "localeconv" => localeconv as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
