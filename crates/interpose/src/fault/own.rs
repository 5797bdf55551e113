//! A bead's own handlers for synchronous faults.
//!
//! A C program that calls `signal(SIGSEGV, h)` means "my faults go to `h`".
//! Passed on to the C library, the call would replace the runtime's handler
//! for the whole process: every other bead's faults would reach `h`, and
//! their diagnosis would be lost. So for the six synchronous-fault signals
//! (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT), bead code's
//! `signal`, `bsd_signal`, `sysv_signal` and `sigaction` only record the
//! handler **for the calling bead**; `sigaction` hands back the bead's own
//! previous action. The fault handler runs it for faults blamed on that bead
//! (see `deliver`). Asynchronous signals (every other one) from bead code
//! are kept per bead too, in the same record: see `crate::signals`. Calls
//! from outside beads go to the C library unchanged.
//!
//! `signal` is also exported from the `weaves` executable, because system
//! libraries install handlers for the bead they work for: libgfortran's
//! start-up calls `signal(SIGSEGV, …)` for its backtraces. A call from
//! outside bead code counts for the string's home bead, and outside strings
//! it goes to the C library.
//!
//! ## The record and who reads it
//!
//! One record per bead that installed a handler ([`BeadSignals`]), reached
//! through a table indexed by owner id (a zero-filled, never-unmapped
//! `MAP_NORESERVE` array, like the heap table). The fault handler reads a
//! record without locking: each signal's `armed` word packs the handler
//! address and the flags delivery needs. Writers (`sigaction`) serialise on
//! one lock. [`forget`] drops a bead's record when the bead is removed:
//! no code of it runs any more, so no fault can be blamed on it meanwhile.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::{acting_bead, RuntimeSection};

/// The signals whose handlers are kept per bead, in table order.
pub(crate) const SIGNALS: [i32; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGABRT,
];

/// Owner ids the table has room for (as many as heaps).
const MAX_OWNERS: usize = 1 << 20;

/// `armed`: bits 0..48 the handler's address (0: none, the runtime's
/// containment applies; `SIG_IGN` counts as none, as the kernel does not
/// let a process ignore a synchronous fault either), and these flags.
/// (`SA_SIGINFO` needs no bit: the handler is passed all three arguments.)
const ARMED_RESETHAND: u64 = 1 << 57;
/// Delivery reset the handler (`SA_RESETHAND`): `oldact` says `SIG_DFL`.
const RESET: u64 = 1 << 58;
const ADDRESS: u64 = (1 << 48) - 1;

/// What a bead set for the six signals.
struct BeadSignals {
    armed: [AtomicU64; 6],
    /// As the bead passed them, for `oldact`; only touched under [`SETTING`].
    actions: UnsafeCell<[libc::sigaction; 6]>,
    /// Its asynchronous signals: dispositions, pending set, timers (see
    /// `crate::signals`); only touched under [`SETTING`].
    asyncs: UnsafeCell<Option<Box<crate::signals::BeadAsync>>>,
}

static TABLE: AtomicPtr<AtomicPtr<BeadSignals>> = AtomicPtr::new(std::ptr::null_mut());
static SETTING: Mutex<()> = Mutex::new(());

fn index_of(sig: i32) -> Option<usize> {
    SIGNALS.iter().position(|&s| s == sig)
}

/// The table slot of `owner`; maps the table on first use unless `make` is
/// false (then `None` until someone made it).
fn slot(owner: OwnerId, make: bool) -> Option<&'static AtomicPtr<BeadSignals>> {
    let i = owner as usize;
    if i == 0 || i >= MAX_OWNERS {
        return None;
    }
    let mut table = TABLE.load(Ordering::Acquire);
    if table.is_null() {
        if !make {
            return None;
        }
        table = map_table()?;
    }
    // SAFETY: `i < MAX_OWNERS`; the table holds MAX_OWNERS zeroed
    // AtomicPtrs and is never unmapped.
    Some(unsafe { &*table.add(i) })
}

/// Maps the table (under SETTING, so once).
fn map_table() -> Option<*mut AtomicPtr<BeadSignals>> {
    let bytes = MAX_OWNERS * std::mem::size_of::<AtomicPtr<BeadSignals>>();
    // SAFETY: a fresh anonymous mapping; zero-filled memory is a valid
    // array of null AtomicPtrs.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    TABLE.store(p.cast(), Ordering::Release);
    Some(p.cast())
}

/// The address of the handler bead `owner` has for `sig`, for a fault
/// blamed on it now:
/// with `SA_RESETHAND`, the bead's action goes back to the default, as the
/// kernel does on delivery. Lock-free: called from the fault handler.
pub(crate) fn take_for_delivery(owner: OwnerId, sig: i32) -> Option<usize> {
    let i = index_of(sig)?;
    let record = slot(owner, false)?.load(Ordering::Acquire);
    if record.is_null() {
        return None;
    }
    // SAFETY: a published record lives until `forget`, which runs only
    // once no code of the bead runs (so no fault is blamed on it).
    let word = &unsafe { &*record }.armed[i];
    let armed = word.load(Ordering::Acquire);
    let handler = (armed & ADDRESS) as usize;
    if handler == 0 || armed & RESET != 0 {
        return None;
    }
    if armed & ARMED_RESETHAND != 0 {
        word.store(RESET, Ordering::Release);
    }
    Some(handler)
}

/// Whether bead `owner` has its own handler for `sig`.
pub(crate) fn has_handler(owner: OwnerId, sig: i32) -> bool {
    let Some(i) = index_of(sig) else { return false };
    let Some(record) = slot(owner, false).map(|s| s.load(Ordering::Acquire)) else {
        return false;
    };
    !record.is_null() && {
        // SAFETY: as in `take_for_delivery`.
        let armed = unsafe { &*record }.armed[i].load(Ordering::Acquire);
        armed & ADDRESS != 0 && armed & RESET == 0
    }
}

/// Drops bead `owner`'s handlers (the bead is being removed).
pub fn forget(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    let _g = SETTING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(slot) = slot(owner, false) {
        let record = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !record.is_null() {
            // SAFETY: the record was live until the swap above; its async
            // part is only touched under SETTING, which we hold.
            if let Some(a) = unsafe { (*(*record).asyncs.get()).as_ref() } {
                a.forget();
            }
            // SAFETY: made by `Box::into_raw` in `set`, unpublished above;
            // no fault handler reads it (see `take_for_delivery`).
            drop(unsafe { Box::from_raw(record) });
        }
    }
}

/// Runs `f` on bead `owner`'s asynchronous-signal state, under the record
/// lock; makes the record if `make` (else `None` when it has none).
pub(crate) fn with_async<R>(
    owner: OwnerId,
    make: bool,
    f: impl FnOnce(&mut crate::signals::BeadAsync) -> R,
) -> Option<R> {
    let _rt = RuntimeSection::enter();
    let _g = SETTING.lock().unwrap_or_else(|e| e.into_inner());
    let slot = slot(owner, make)?;
    let mut record = slot.load(Ordering::Acquire);
    if record.is_null() {
        if !make {
            return None;
        }
        record = Box::into_raw(Box::new(BeadSignals {
            armed: Default::default(),
            actions: UnsafeCell::new([default_action(); 6]),
            asyncs: UnsafeCell::new(None),
        }));
        slot.store(record, Ordering::Release);
    }
    // SAFETY: a live record (only `forget` frees it, under SETTING, which
    // we hold); `asyncs` is only touched under SETTING.
    let asyncs = unsafe { &mut *(*record).asyncs.get() };
    if asyncs.is_none() {
        if !make {
            return None;
        }
        *asyncs = Some(Box::default());
    }
    asyncs.as_deref_mut().map(f)
}

/// Sets bead `owner`'s action for signal index `i` (if `act` is given) and
/// returns the previous one.
fn set(owner: OwnerId, i: usize, act: Option<&libc::sigaction>) -> Option<libc::sigaction> {
    let _rt = RuntimeSection::enter();
    let _g = SETTING.lock().unwrap_or_else(|e| e.into_inner());
    let slot = slot(owner, act.is_some())?;
    let mut record = slot.load(Ordering::Acquire);
    if record.is_null() {
        if act.is_none() {
            return Some(default_action());
        }
        record = Box::into_raw(Box::new(BeadSignals {
            armed: Default::default(),
            actions: UnsafeCell::new([default_action(); 6]),
            asyncs: UnsafeCell::new(None),
        }));
        slot.store(record, Ordering::Release);
    }
    // SAFETY: a live record; `actions` is only touched under SETTING.
    let (armed, actions) = unsafe { (&(*record).armed[i], &mut *(*record).actions.get()) };
    let previous = if armed.load(Ordering::Acquire) & RESET != 0 {
        default_action()
    } else {
        actions[i]
    };
    if let Some(act) = act {
        actions[i] = *act;
        armed.store(pack(act), Ordering::Release);
    }
    Some(previous)
}

fn default_action() -> libc::sigaction {
    // SAFETY: sigaction is plain data; all-zero is SIG_DFL, no flags, an
    // empty mask.
    unsafe { std::mem::zeroed() }
}

fn pack(act: &libc::sigaction) -> u64 {
    let handler = act.sa_sigaction as u64;
    if handler == libc::SIG_DFL as u64 || handler == libc::SIG_IGN as u64 {
        return 0;
    }
    let mut armed = handler & ADDRESS;
    if act.sa_flags & libc::SA_RESETHAND != 0 {
        armed |= ARMED_RESETHAND;
    }
    armed
}

/// The bead a call returning to `ret` is for: the bead whose code made it,
/// else the bead the running string acts for (a system library called by
/// it), else none (0).
fn bead_for(ret: usize) -> OwnerId {
    owner_of(ret).unwrap_or_else(acting_bead)
}

// The entry points append their caller's return address (which bead is
// asking) and jump to the Rust implementation; see `alloc` for the same
// shape. Only `signal` is a global name (exported, see the module doc);
// the others are hidden, reached by bead code through the binder alone:
// they must not capture the runtime's own `sigaction` calls.
macro_rules! shim {
    ($name:literal, $reg:literal, $target:ident) => {
        std::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            concat!("mov ", $reg, ", qword ptr [rsp]"),
            "jmp {target}",
            concat!(".size ", $name, ", . - ", $name),
            target = sym $target,
        );
    };
}

shim!("signal", "rdx", signal_from);
shim!("weaves_sysv_signal", "rdx", sysv_signal_from);
shim!("weaves_sigaction", "rcx", sigaction_from);
std::arch::global_asm!(".hidden weaves_sysv_signal", ".hidden weaves_sigaction");

extern "C" {
    fn signal(sig: i32, handler: libc::sighandler_t) -> libc::sighandler_t;
    fn weaves_sysv_signal(sig: i32, handler: libc::sighandler_t) -> libc::sighandler_t;
    fn weaves_sigaction(sig: i32, act: *const libc::sigaction, old: *mut libc::sigaction) -> i32;
    #[link_name = "sysv_signal"]
    fn libc_sysv_signal(sig: i32, handler: libc::sighandler_t) -> libc::sighandler_t;
}

/// The C library's `signal` (ours is the executable's global one).
fn libc_signal() -> unsafe extern "C" fn(i32, libc::sighandler_t) -> libc::sighandler_t {
    static REAL: OnceLock<usize> = OnceLock::new();
    let address = *REAL.get_or_init(|| {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds the
        // definition after the executable's (the C library's).
        unsafe { libc::dlsym(libc::RTLD_NEXT, c"signal".as_ptr()) as usize }
    });
    assert!(address != 0, "the C library lacks `signal`");
    // SAFETY: the C library's `signal`, whose signature this is.
    unsafe { std::mem::transmute::<usize, _>(address) }
}

extern "C" fn sigaction_from(
    sig: i32,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
    ret: usize,
) -> i32 {
    let owner = bead_for(ret);
    if owner != 0 && crate::signals::is_async(sig) {
        // SAFETY: C's contract for sigaction's pointers, passed on.
        return unsafe { crate::signals::sigaction_for(owner, sig, act, old) };
    }
    let Some(i) = index_of(sig).filter(|_| owner != 0) else {
        // SAFETY: not a bead's synchronous-fault handler: the C library's
        // sigaction, with the caller's own arguments.
        return unsafe { libc::sigaction(sig, act, old) };
    };
    // SAFETY: C requires `act`, if not null, to point at a sigaction.
    let previous = set(owner, i, unsafe { act.as_ref() });
    let Some(previous) = previous else {
        // SAFETY: errno is thread-local and always writable.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return -1;
    };
    if !old.is_null() {
        // SAFETY: C requires `old`, if not null, to point at writable
        // storage for a sigaction.
        unsafe { old.write(previous) };
    }
    0
}

/// `signal`/`sysv_signal` for a bead, as `sigaction` with `flags`.
fn signal_for(
    owner: OwnerId,
    i: usize,
    handler: libc::sighandler_t,
    flags: i32,
) -> libc::sighandler_t {
    let mut act = default_action();
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    if flags & libc::SA_NODEFER == 0 {
        // SAFETY: adding a valid signal to a sigset we own.
        unsafe { libc::sigaddset(&mut act.sa_mask, SIGNALS[i]) };
    }
    match set(owner, i, Some(&act)) {
        Some(previous) => previous.sa_sigaction,
        None => libc::SIG_ERR,
    }
}

extern "C" fn signal_from(sig: i32, handler: libc::sighandler_t, ret: usize) -> libc::sighandler_t {
    let owner = bead_for(ret);
    if owner != 0 && crate::signals::is_async(sig) {
        return crate::signals::signal_for(owner, sig, handler, libc::SA_RESTART);
    }
    match index_of(sig).filter(|_| owner != 0) {
        // glibc's `signal` has BSD semantics: handlers stay, and restart
        // interrupted calls.
        Some(i) => signal_for(owner, i, handler, libc::SA_RESTART),
        // SAFETY: the C library's signal, with the caller's arguments.
        None => unsafe { libc_signal()(sig, handler) },
    }
}

extern "C" fn sysv_signal_from(
    sig: i32,
    handler: libc::sighandler_t,
    ret: usize,
) -> libc::sighandler_t {
    let owner = bead_for(ret);
    if owner != 0 && crate::signals::is_async(sig) {
        return crate::signals::signal_for(
            owner,
            sig,
            handler,
            libc::SA_RESETHAND | libc::SA_NODEFER,
        );
    }
    match index_of(sig).filter(|_| owner != 0) {
        // System V semantics: the handler is reset on delivery and the
        // signal is not blocked while it runs.
        Some(i) => signal_for(owner, i, handler, libc::SA_RESETHAND | libc::SA_NODEFER),
        // SAFETY: the C library's sysv_signal, with the caller's arguments.
        None => unsafe { libc_sysv_signal(sig, handler) },
    }
}

/// The interposed signal functions, for the binder.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let a = match name {
        "signal" | "bsd_signal" => signal as *const () as usize,
        "sysv_signal" | "__sysv_signal" => weaves_sysv_signal as *const () as usize,
        "sigaction" | "__sigaction" => weaves_sigaction as *const () as usize,
        _ => return None,
    };
    Some(a as u64)
}
