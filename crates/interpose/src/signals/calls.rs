//! The interposed signal calls: timers, sending, masks and waits. Each acts
//! for the calling string (its home bead for bead-wide state); outside
//! strings, and in the child of a `fork` made by bead code (a process of
//! its own), the C library's call runs instead.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weaves_arena::OwnerId;
use weaves_strings::{current, ExecCtx};

use super::timers::{self, ITIMER_REAL_ID};
use super::{bit, deliver_pending, is_async, send_to_bead, send_to_string, set_errno, take, valid};
use super::{wait, Woke, SI_USER};

/// The calling string, when the runtime keeps its signal state.
fn string() -> Option<&'static ExecCtx> {
    if weaves_strings::forked::in_forked_child() {
        return None;
    }
    current().filter(|c| c.info.id != 0 && weaves_strings::blocking::current_task().is_some())
}

fn home() -> Option<OwnerId> {
    string().map(|c| c.info.home)
}

fn to_duration(tv: libc::timeval) -> Option<Duration> {
    (tv.tv_sec >= 0 && (0..1_000_000).contains(&tv.tv_usec))
        .then(|| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

fn to_timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d
            .subsec_micros()
            .max(u32::from(d.subsec_nanos() > 0 && d.as_secs() == 0))
            as libc::suseconds_t,
    }
}

fn ts_duration(ts: libc::timespec) -> Option<Duration> {
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn to_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

// ---- timers ----------------------------------------------------------------

extern "C" fn alarm(seconds: u32) -> u32 {
    let Some(bead) = home() else {
        // SAFETY: no preconditions.
        return unsafe { libc::alarm(seconds) };
    };
    let (old, _) = timers::arm(
        bead,
        ITIMER_REAL_ID,
        Duration::from_secs(u64::from(seconds)),
        Duration::ZERO,
    )
    .unwrap_or_default();
    // As glibc: rounded to the nearest second, and never 0 while armed.
    let mut left = old.as_secs() as u32;
    if old.subsec_micros() >= 500_000 || (left == 0 && !old.is_zero()) {
        left += 1;
    }
    left
}

unsafe extern "C" fn setitimer(
    which: i32,
    new: *const libc::itimerval,
    old: *mut libc::itimerval,
) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::setitimer(which, new, old) };
    };
    if which != libc::ITIMER_REAL || new.is_null() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: C passes a valid itimerval.
    let new = unsafe { *new };
    let (Some(value), Some(interval)) = (to_duration(new.it_value), to_duration(new.it_interval))
    else {
        return set_errno(libc::EINVAL);
    };
    let (v, i) = timers::arm(bead, ITIMER_REAL_ID, value, interval).unwrap_or_default();
    if !old.is_null() {
        // SAFETY: C passes a writable itimerval.
        unsafe {
            *old = libc::itimerval {
                it_interval: to_timeval(i),
                it_value: to_timeval(v),
            }
        };
    }
    0
}

unsafe extern "C" fn getitimer(which: i32, cur: *mut libc::itimerval) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::getitimer(which, cur) };
    };
    if which != libc::ITIMER_REAL || cur.is_null() {
        return set_errno(libc::EINVAL);
    }
    let (v, i) = timers::get(bead, ITIMER_REAL_ID).unwrap_or_default();
    // SAFETY: C passes a writable itimerval.
    unsafe {
        *cur = libc::itimerval {
            it_interval: to_timeval(i),
            it_value: to_timeval(v),
        }
    };
    0
}

unsafe extern "C" fn timer_create(
    clock: libc::clockid_t,
    sevp: *const libc::sigevent,
    out: *mut usize,
) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::timer_create(clock, sevp.cast_mut(), out.cast()) };
    };
    if clock != libc::CLOCK_REALTIME
        && clock != libc::CLOCK_MONOTONIC
        && clock != libc::CLOCK_BOOTTIME
    {
        return set_errno(libc::EINVAL);
    }
    let (sig, value) = if sevp.is_null() {
        (libc::SIGALRM, None)
    } else {
        // SAFETY: C passes a valid sigevent.
        let ev = unsafe { &*sevp };
        match ev.sigev_notify {
            libc::SIGEV_SIGNAL if valid(ev.sigev_signo) => {
                (ev.sigev_signo, Some(ev.sigev_value.sival_ptr as u64))
            }
            libc::SIGEV_NONE => (0, None),
            // SIGEV_THREAD would need a thread per expiry: not supported.
            _ => return set_errno(libc::EINVAL),
        }
    };
    let id = timers::create(bead, clock, sig, value);
    // SAFETY: C passes a writable timer_t.
    unsafe { *out = id as usize };
    0
}

unsafe extern "C" fn timer_settime(
    id: usize,
    flags: i32,
    new: *const libc::itimerspec,
    old: *mut libc::itimerspec,
) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::timer_settime(id as libc::timer_t, flags, new, old) };
    };
    if new.is_null() || id == 0 {
        return set_errno(libc::EINVAL);
    }
    let Some(clock) = timers::clock_of(bead, id as u32) else {
        return set_errno(libc::EINVAL);
    };
    // SAFETY: C passes a valid itimerspec.
    let new = unsafe { *new };
    let (Some(mut value), Some(interval)) =
        (ts_duration(new.it_value), ts_duration(new.it_interval))
    else {
        return set_errno(libc::EINVAL);
    };
    if flags & libc::TIMER_ABSTIME != 0 && !value.is_zero() {
        let mut now = to_timespec(Duration::ZERO);
        // SAFETY: reading the timer's clock into a local.
        unsafe { libc::clock_gettime(clock, &mut now) };
        let now = ts_duration(now).unwrap_or_default();
        // Already passed: fires at once.
        value = value.saturating_sub(now).max(Duration::from_nanos(1));
    }
    let Some((v, i)) = timers::arm(bead, id as u32, value, interval) else {
        return set_errno(libc::EINVAL);
    };
    if !old.is_null() {
        // SAFETY: C passes a writable itimerspec.
        unsafe {
            *old = libc::itimerspec {
                it_interval: to_timespec(i),
                it_value: to_timespec(v),
            }
        };
    }
    0
}

unsafe extern "C" fn timer_gettime(id: usize, cur: *mut libc::itimerspec) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::timer_gettime(id as libc::timer_t, cur) };
    };
    let Some((v, i)) = timers::get(bead, id as u32).filter(|_| id != 0 && !cur.is_null()) else {
        return set_errno(libc::EINVAL);
    };
    // SAFETY: C passes a writable itimerspec.
    unsafe {
        *cur = libc::itimerspec {
            it_interval: to_timespec(i),
            it_value: to_timespec(v),
        }
    };
    0
}

unsafe extern "C" fn timer_delete(id: usize) -> i32 {
    let Some(bead) = home() else {
        // SAFETY: the caller's argument, passed on.
        return unsafe { libc::timer_delete(id as libc::timer_t) };
    };
    if id == 0 || !timers::delete(bead, id as u32) {
        return set_errno(libc::EINVAL);
    }
    0
}

extern "C" fn timer_getoverrun(_id: usize) -> i32 {
    0
}

// ---- sending ---------------------------------------------------------------

extern "C" fn kill(pid: libc::pid_t, sig: i32) -> i32 {
    // SAFETY: no preconditions.
    let me = unsafe { libc::getpid() };
    // SAFETY: no preconditions.
    let group = unsafe { libc::getpgrp() };
    // The program's own process group (`kill(0, sig)`) holds the tapestry
    // itself: that signal is the program's alone too.
    let own = pid == me || pid == 0 || pid == -group;
    match home() {
        Some(bead) if own && is_async(sig) => {
            send_to_bead(bead, sig, SI_USER, 0);
            deliver_pending();
            0
        }
        Some(_) if own && sig == 0 => 0,
        // SAFETY: the caller's arguments, passed on.
        _ => unsafe { libc::kill(pid, sig) },
    }
}

extern "C" fn raise(sig: i32) -> i32 {
    match (string(), weaves_strings::blocking::current_task()) {
        (Some(_), Some(task)) if is_async(sig) => {
            send_to_string(&task, sig);
            drop(task);
            deliver_pending();
            0
        }
        // SAFETY: the caller's argument, passed on.
        _ => unsafe { libc::raise(sig) },
    }
}

extern "C" fn pthread_kill(thread: u64, sig: i32) -> i32 {
    if string().is_none() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::pthread_kill(thread as libc::pthread_t, sig) };
    }
    if sig != 0 && !valid(sig) {
        return libc::EINVAL;
    }
    let Some(task) = crate::pthread::task_of(thread) else {
        return libc::ESRCH;
    };
    if task.outcome().is_some() {
        return libc::ESRCH;
    }
    if sig == 0 {
        return 0;
    }
    if !is_async(sig) {
        // A synchronous-fault signal sent on purpose: the process's.
        // SAFETY: raising on the calling thread.
        return unsafe { libc::raise(sig) };
    }
    send_to_string(&task, sig);
    drop(task);
    deliver_pending();
    0
}

// ---- masks -----------------------------------------------------------------

/// Bits that can never be blocked.
fn unblockable() -> u64 {
    bit(libc::SIGKILL) | bit(libc::SIGSTOP)
}

fn set_bits(set: *const libc::sigset_t) -> u64 {
    // SAFETY: the first word of a valid sigset_t holds signals 1..=64.
    unsafe { *(set as *const u64) }
}

fn write_bits(set: *mut libc::sigset_t, bits: u64) {
    // SAFETY: C passes a writable sigset_t; emptied, then its first word.
    unsafe {
        libc::sigemptyset(set);
        *(set as *mut u64) = bits;
    }
}

/// The string's mask change; an error number on failure.
fn mask(
    ctx: &ExecCtx,
    how: i32,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> Result<(), i32> {
    let before = ctx.sig_mask.load(Ordering::Relaxed);
    if !set.is_null() {
        let bits = set_bits(set);
        let after = match how {
            libc::SIG_BLOCK => before | bits,
            libc::SIG_UNBLOCK => before & !bits,
            libc::SIG_SETMASK => bits,
            _ => return Err(libc::EINVAL),
        };
        ctx.sig_mask
            .store(after & !unblockable(), Ordering::Relaxed);
    }
    if !old.is_null() {
        write_bits(old, before);
    }
    // Unblocked now: delivered before the call returns.
    deliver_pending();
    Ok(())
}

unsafe extern "C" fn sigprocmask(
    how: i32,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> i32 {
    let Some(ctx) = string() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::sigprocmask(how, set, old) };
    };
    match mask(ctx, how, set, old) {
        Ok(()) => 0,
        Err(e) => set_errno(e),
    }
}

unsafe extern "C" fn pthread_sigmask(
    how: i32,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> i32 {
    let Some(ctx) = string() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::pthread_sigmask(how, set, old) };
    };
    match mask(ctx, how, set, old) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

unsafe extern "C" fn sigpending(set: *mut libc::sigset_t) -> i32 {
    let Some(ctx) = string() else {
        // SAFETY: the caller's argument, passed on.
        return unsafe { libc::sigpending(set) };
    };
    let mut bits = ctx.sig_pending.load(Ordering::Acquire);
    for sig in 1..super::NSIG as i32 {
        if bits & bit(sig) == 0 && super::has_pending(ctx, bit(sig)) {
            bits |= bit(sig);
        }
    }
    write_bits(set, bits);
    0
}

// ---- waits -----------------------------------------------------------------

extern "C" fn pause() -> i32 {
    if string().is_none() {
        // SAFETY: no preconditions.
        return unsafe { libc::pause() };
    }
    loop {
        if wait(None, 0, |_| false) == Some(Woke::Signal) {
            return set_errno(libc::EINTR);
        }
    }
}

unsafe extern "C" fn sigsuspend(set: *const libc::sigset_t) -> i32 {
    let Some(ctx) = string() else {
        // SAFETY: the caller's argument, passed on.
        return unsafe { libc::sigsuspend(set) };
    };
    let saved = ctx.sig_mask.load(Ordering::Relaxed);
    ctx.sig_mask
        .store(set_bits(set) & !unblockable(), Ordering::Relaxed);
    loop {
        if wait(None, 0, |_| false) == Some(Woke::Signal) {
            break;
        }
    }
    ctx.sig_mask.store(saved, Ordering::Relaxed);
    deliver_pending();
    set_errno(libc::EINTR)
}

/// Takes a pending signal of `set` (blocked or not), waiting until
/// `deadline`. `Err(EINTR)` if a handler ran first, `Err(EAGAIN)` on
/// timeout.
fn wait_for_signal(set: u64, deadline: Option<Instant>) -> Result<i32, i32> {
    let mut got = 0;
    let woke = wait(deadline, set, |ctx| {
        got = take(ctx, set).map_or(0, |(sig, _, _)| sig);
        got != 0
    });
    match woke {
        Some(Woke::Ready) => Ok(got),
        Some(Woke::Signal) => Err(libc::EINTR),
        Some(Woke::Deadline) => Err(libc::EAGAIN),
        None => Err(libc::EINVAL),
    }
}

unsafe extern "C" fn sigwait(set: *const libc::sigset_t, sig: *mut i32) -> i32 {
    if string().is_none() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::sigwait(set, sig) };
    }
    loop {
        match wait_for_signal(set_bits(set), None) {
            Ok(s) => {
                // SAFETY: C passes a writable int.
                unsafe { *sig = s };
                return 0;
            }
            // sigwait is not interrupted by handlers.
            Err(libc::EINTR) => continue,
            Err(e) => return e,
        }
    }
}

/// Fills what a `sigwaitinfo` caller reads: signo and code.
fn fill_info(info: *mut libc::siginfo_t, sig: i32) {
    if !info.is_null() {
        let words = info as *mut i32;
        // SAFETY: C passes a writable siginfo_t (128 bytes).
        unsafe {
            std::ptr::write_bytes(info.cast::<u8>(), 0, std::mem::size_of::<libc::siginfo_t>());
            *words = sig;
        }
    }
}

unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> i32 {
    if string().is_none() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::sigwaitinfo(set, info) };
    }
    match wait_for_signal(set_bits(set), None) {
        Ok(s) => {
            fill_info(info, s);
            s
        }
        Err(e) => set_errno(e),
    }
}

unsafe extern "C" fn sigtimedwait(
    set: *const libc::sigset_t,
    info: *mut libc::siginfo_t,
    timeout: *const libc::timespec,
) -> i32 {
    if string().is_none() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { libc::sigtimedwait(set, info, timeout) };
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: C passes a valid timespec.
        match ts_duration(unsafe { *timeout }) {
            Some(d) => Some(Instant::now() + d),
            None => return set_errno(libc::EINVAL),
        }
    };
    match wait_for_signal(set_bits(set), deadline) {
        Ok(s) => {
            fill_info(info, s);
            s
        }
        Err(e) => set_errno(e),
    }
}

/// Sleeps until `deadline` unless a signal's handler runs first: `None`
/// when the whole time passed, else the time left. Only for strings of a
/// tapestry whose beads use signals (see `super::in_use`).
pub(crate) fn sleep_interruptibly(deadline: Instant) -> Option<Option<Duration>> {
    if !super::in_use() || string().is_none() {
        return None;
    }
    match wait(Some(deadline), 0, |_| false)? {
        Woke::Signal => Some(Some(deadline.saturating_duration_since(Instant::now()))),
        _ => Some(None),
    }
}

// ---- leaving a handler by a jump ----------------------------------------------

extern "C" {
    #[link_name = "siglongjmp"]
    fn libc_siglongjmp(env: *mut libc::c_void, val: i32) -> !;
    #[link_name = "longjmp"]
    fn libc_longjmp(env: *mut libc::c_void, val: i32) -> !;
    #[link_name = "__longjmp_chk"]
    fn libc_longjmp_chk(env: *mut libc::c_void, val: i32) -> !;
}

fn leaving() {
    if let Some(ctx) = string() {
        super::leave_handlers(ctx);
    }
}

unsafe extern "C" fn siglongjmp(env: *mut libc::c_void, val: i32) -> ! {
    leaving();
    // SAFETY: the caller's jump buffer and value, passed on.
    unsafe { libc_siglongjmp(env, val) }
}

unsafe extern "C" fn longjmp(env: *mut libc::c_void, val: i32) -> ! {
    leaving();
    // SAFETY: as for siglongjmp.
    unsafe { libc_longjmp(env, val) }
}

unsafe extern "C" fn longjmp_chk(env: *mut libc::c_void, val: i32) -> ! {
    leaving();
    // SAFETY: as for siglongjmp.
    unsafe { libc_longjmp_chk(env, val) }
}

/// The interposed signal calls, for the binder.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let a = match name {
        "alarm" => alarm as *const () as usize,
        "setitimer" => setitimer as *const () as usize,
        "getitimer" => getitimer as *const () as usize,
        "timer_create" => timer_create as *const () as usize,
        "timer_settime" => timer_settime as *const () as usize,
        "timer_gettime" => timer_gettime as *const () as usize,
        "timer_delete" => timer_delete as *const () as usize,
        "timer_getoverrun" => timer_getoverrun as *const () as usize,
        "kill" => kill as *const () as usize,
        "raise" | "gsignal" => raise as *const () as usize,
        "pthread_kill" => pthread_kill as *const () as usize,
        "sigprocmask" => sigprocmask as *const () as usize,
        "pthread_sigmask" => pthread_sigmask as *const () as usize,
        "sigpending" => sigpending as *const () as usize,
        "pause" => pause as *const () as usize,
        "sigsuspend" | "__sigsuspend" => sigsuspend as *const () as usize,
        "sigwait" => sigwait as *const () as usize,
        "sigwaitinfo" => sigwaitinfo as *const () as usize,
        "sigtimedwait" => sigtimedwait as *const () as usize,
        "siglongjmp" => siglongjmp as *const () as usize,
        "longjmp" | "_longjmp" => longjmp as *const () as usize,
        "__longjmp_chk" => longjmp_chk as *const () as usize,
        _ => return None,
    };
    Some(a as u64)
}
