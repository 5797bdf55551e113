//! Asynchronous signals per bead and per string.
//!
//! A program run as a bead expects the signal model of a process of its
//! own: its `SIGALRM` handler runs for its own `alarm`, its `raise` reaches
//! its own handler. Passed on to the C library, two beads would share one
//! process-wide disposition and one alarm clock. So for every signal that
//! is not a synchronous fault (those are `fault::own`'s), the runtime keeps
//! the state itself and never involves the kernel:
//!
//! ```text
//!   per bead (its record in fault::own)     per string (ExecCtx)
//!   ├─ dispositions: sigaction per signal   ├─ sig_mask    (sigprocmask)
//!   ├─ pending: sent to the bead,           └─ sig_pending (raise,
//!   │  not yet taken by a string                pthread_kill)
//!   └─ timers: alarm/setitimer, timer_create  (see `timers`)
//! ```
//!
//! **Sending.** `kill(getpid(), sig)` from bead code and the bead's timers
//! make `sig` pending on the bead (the string's home bead for `kill`);
//! `raise` and `pthread_kill` make it pending on one string.
//!
//! **Delivery at safe points.** A string takes a signal it does not block —
//! its own pending ones first, then those of its beads — when it passes an
//! interposed call (`preempt_point` asks [`deliver_pending`] when anything
//! is pending), and at once when it waits in an interruptible call (sleeps,
//! `pause`, `sigsuspend`, `sigwait`, and I/O parked in the reactor through
//! [`around_park`]): senders wake the strings waiting there, the handler
//! runs on the string, and the call returns `EINTR` (reactor calls go on
//! waiting under `SA_RESTART`). The handler runs with the string's mask
//! plus its `sa_mask` (and the signal itself, unless `SA_NODEFER`); a
//! handler left by `siglongjmp` restores the mask from before it.
//!
//! **Default actions.** Signals whose default is to be ignored (`SIGCHLD`,
//! `SIGURG`, `SIGWINCH`, `SIGCONT`, and the stop signals, which strings do
//! not support) are dropped; any other unhandled signal ends the string
//! that took it with status 128 + signal and one line on stderr, and its
//! program's other threads — never the tapestry. `SIG_IGN` drops the
//! signal. `SIGCHLD` comes to a bead that handles it when one of its
//! children exits ([`watch_child`]).
//!
//! Calls from outside strings (initialisers, finalisers, host threads) go
//! to the C library as before.

mod calls;
mod timers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use weaves_arena::OwnerId;
use weaves_strings::blocking::{self, current_task, BEAD_SIGNALS};
use weaves_strings::{current, ExecCtx, RuntimeSection, Task};

pub(crate) use calls::{lookup, sleep_interruptibly};

/// Signal numbers are 1..NSIG.
const NSIG: usize = 65;

/// Set once any bead uses asynchronous signals: until then sleeps take the
/// scheduler's fast path and never look for signals.
static IN_USE: AtomicBool = AtomicBool::new(false);

pub(crate) fn in_use() -> bool {
    IN_USE.load(Ordering::Relaxed)
}

fn mark_in_use() {
    if !IN_USE.swap(true, Ordering::Relaxed) {
        blocking::set_signal_hook(hook);
    }
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

fn valid(sig: i32) -> bool {
    (1..NSIG as i32).contains(&sig)
}

/// Whether `sig` is kept per bead here (every signal but the six
/// synchronous faults, which `fault::own` keeps).
pub(crate) fn is_async(sig: i32) -> bool {
    valid(sig) && !crate::fault::own_signals().contains(&sig)
}

/// What a `SA_SIGINFO` handler is told about a signal.
#[derive(Clone, Copy, Default)]
struct Info {
    code: i32,
    value: u64,
}

/// `si_code` values (from the kernel's headers).
const SI_USER: i32 = 0;
const SI_TIMER: i32 = -2;
const SI_TKILL: i32 = -6;

/// A bead's asynchronous-signal state; lives in its record (`fault::own`)
/// and is only touched under that record's lock.
pub(crate) struct BeadAsync {
    actions: [libc::sigaction; NSIG],
    /// Sent to the bead, not yet taken by a string (each counted in
    /// `BEAD_SIGNALS`).
    pending: u64,
    info: [Info; NSIG],
    timers: timers::BeadTimers,
}

impl Default for BeadAsync {
    fn default() -> Self {
        BeadAsync {
            // SAFETY: all-zero sigactions are SIG_DFL with no flags.
            actions: unsafe { std::mem::zeroed() },
            pending: 0,
            info: [Info::default(); NSIG],
            timers: timers::BeadTimers::default(),
        }
    }
}

impl BeadAsync {
    /// The bead goes away: its pending signals no longer count.
    pub(crate) fn forget(&self) {
        BEAD_SIGNALS.fetch_sub(self.pending.count_ones() as usize, Ordering::Relaxed);
    }
}

/// `sigaction` for bead `owner` and asynchronous signal `sig`.
///
/// # Safety
/// `act` and `old` as C's `sigaction` requires: null or valid.
pub(crate) unsafe fn sigaction_for(
    owner: OwnerId,
    sig: i32,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> i32 {
    // SAFETY: the caller's contract.
    let act = unsafe { act.as_ref() };
    match swap(owner, sig, act) {
        Ok(previous) => {
            if !old.is_null() {
                // SAFETY: `old` is writable by the contract.
                unsafe { old.write(previous) };
            }
            0
        }
        Err(e) => set_errno(e),
    }
}

/// Sets bead `owner`'s action for `sig` (if `act`), returning the previous.
fn swap(owner: OwnerId, sig: i32, act: Option<&libc::sigaction>) -> Result<libc::sigaction, i32> {
    if act.is_some() && (sig == libc::SIGKILL || sig == libc::SIGSTOP) {
        return Err(libc::EINVAL);
    }
    if act.is_some() {
        mark_in_use();
    }
    let previous = crate::fault::with_async(owner, act.is_some(), |a| {
        let previous = a.actions[sig as usize];
        if let Some(act) = act {
            a.actions[sig as usize] = *act;
        }
        previous
    });
    // SAFETY: all-zero is SIG_DFL (a bead that set nothing).
    Ok(previous.unwrap_or_else(|| unsafe { std::mem::zeroed() }))
}

/// `signal`/`sysv_signal` for bead `owner`, as `sigaction` with `flags`.
pub(crate) fn signal_for(
    owner: OwnerId,
    sig: i32,
    handler: libc::sighandler_t,
    flags: i32,
) -> libc::sighandler_t {
    // SAFETY: plain data; all-zero is a valid empty action.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_flags = flags;
    if flags & libc::SA_NODEFER == 0 {
        // SAFETY: adding a valid signal to a sigset we own.
        unsafe { libc::sigaddset(&mut act.sa_mask, sig) };
    }
    match swap(owner, sig, Some(&act)) {
        Ok(previous) => previous.sa_sigaction,
        Err(e) => {
            set_errno(e);
            libc::SIG_ERR
        }
    }
}

fn set_errno(e: i32) -> i32 {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = e };
    -1
}

/// The beads whose signals `ctx` may take: its home bead, then its weave's.
fn beads_of(ctx: &ExecCtx) -> impl Iterator<Item = OwnerId> + '_ {
    let home = ctx.info.home;
    std::iter::once(home).chain(
        ctx.weave_beads()
            .into_iter()
            .flat_map(|b| b.iter().copied())
            .filter(move |&b| b != home),
    )
}

/// Takes one pending signal of `wanted` for `ctx`: its own first, then its
/// beads'. Returns the signal, the bead whose disposition applies, and its
/// information.
fn take(ctx: &ExecCtx, wanted: u64) -> Option<(i32, OwnerId, Info)> {
    loop {
        let own = ctx.sig_pending.load(Ordering::Acquire) & wanted;
        if own == 0 {
            break;
        }
        let sig = own.trailing_zeros() as i32 + 1;
        if ctx.sig_pending.fetch_and(!bit(sig), Ordering::AcqRel) & bit(sig) != 0 {
            let info = Info {
                code: SI_TKILL,
                value: 0,
            };
            return Some((sig, ctx.info.home, info));
        }
    }
    if BEAD_SIGNALS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    beads_of(ctx).find_map(|bead| {
        crate::fault::with_async(bead, false, |a| {
            let p = a.pending & wanted;
            if p == 0 {
                return None;
            }
            let sig = p.trailing_zeros() as i32 + 1;
            a.pending &= !bit(sig);
            BEAD_SIGNALS.fetch_sub(1, Ordering::Relaxed);
            Some((sig, bead, a.info[sig as usize]))
        })
        .flatten()
    })
}

/// Whether `ctx` has a pending signal among `wanted` (no side effects).
fn has_pending(ctx: &ExecCtx, wanted: u64) -> bool {
    if ctx.sig_pending.load(Ordering::Acquire) & wanted != 0 {
        return true;
    }
    BEAD_SIGNALS.load(Ordering::Relaxed) != 0
        && beads_of(ctx).any(|bead| {
            crate::fault::with_async(bead, false, |a| a.pending & wanted != 0).unwrap_or(false)
        })
}

/// The safe-point hook (see `weaves_strings::blocking::preempt_point`).
fn hook() {
    deliver_pending();
}

/// A handler leaves by `siglongjmp`/`longjmp` (see `calls`): it never
/// comes back to restore the string's mask, so the jump restores the mask
/// from before the outermost handler (what `sigsetjmp(env, 1)` saved, in
/// the usual case of a jump to a point set before the signal).
pub(crate) fn leave_handlers(ctx: &ExecCtx) {
    let mut h = ctx.sig_handler.lock().unwrap_or_else(|e| e.into_inner());
    if h.0 != 0 {
        ctx.sig_mask.store(h.1, Ordering::Relaxed);
        *h = (0, 0);
    }
}

/// Delivers every signal the current string does not block. Returns
/// whether a handler ran (an interrupted call then fails with `EINTR`).
pub(crate) fn deliver_pending() -> bool {
    deliver().is_some()
}

/// [`deliver_pending`], saying whether every handler that ran asked for
/// interrupted calls to restart (`SA_RESTART`): `None` if none ran.
fn deliver() -> Option<bool> {
    let ctx = current()?;
    if ctx.info.id == 0 {
        return None;
    }
    let mut ran: Option<bool> = None;
    loop {
        let mask = ctx.sig_mask.load(Ordering::Relaxed);
        let Some((sig, bead, info)) = take(ctx, !mask) else {
            return ran;
        };
        if let Some(restart) = act(ctx, sig, bead, info) {
            ran = Some(ran.unwrap_or(true) && restart);
        }
    }
}

/// Runs `park` (which parks the string until something it waits for, or a
/// wake) so that a signal sent meanwhile wakes the string too; then
/// delivers. Returns what `park` returned and, if a handler ran, whether
/// the interrupted call restarts (`SA_RESTART`). For calls that park in the
/// reactor or on timers; only once a bead uses signals.
pub(crate) fn around_park<R>(park: impl FnOnce() -> R) -> (R, Option<bool>) {
    let task = match current_task() {
        Some(t) if in_use() && t.ctx.info.id != 0 => t,
        _ => return (park(), None),
    };
    {
        let _rt = RuntimeSection::enter();
        WAITING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task.clone());
    }
    // A signal sent from here on wakes the string: if before it parks,
    // the park returns at once (the wake is remembered).
    let r = park();
    {
        let _rt = RuntimeSection::enter();
        let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = waiting.iter().position(|t| Arc::ptr_eq(t, &task)) {
            waiting.swap_remove(i);
        }
    }
    drop(task);
    (r, deliver())
}

/// Acts on `sig` taken by `ctx` as bead `bead` disposed. Returns, if a
/// handler ran, whether it has `SA_RESTART`.
fn act(ctx: &ExecCtx, sig: i32, bead: OwnerId, info: Info) -> Option<bool> {
    let action = crate::fault::with_async(bead, false, |a| {
        let action = a.actions[sig as usize];
        let h = action.sa_sigaction;
        if action.sa_flags & libc::SA_RESETHAND != 0 && h != libc::SIG_DFL && h != libc::SIG_IGN {
            a.actions[sig as usize].sa_sigaction = libc::SIG_DFL;
        }
        action
    });
    // SAFETY: all-zero is SIG_DFL.
    let action = action.unwrap_or_else(|| unsafe { std::mem::zeroed() });
    match action.sa_sigaction {
        libc::SIG_IGN => None,
        libc::SIG_DFL if ignored_by_default(sig) => None,
        libc::SIG_DFL => {
            terminate(ctx, sig);
            None
        }
        handler => {
            let saved = ctx.sig_mask.load(Ordering::Relaxed);
            // The outermost handler notes the mask to restore should it
            // leave by a jump (see `leave_handlers`).
            let outermost = {
                let mut h = ctx.sig_handler.lock().unwrap_or_else(|e| e.into_inner());
                let outermost = h.0 == 0;
                if outermost {
                    *h = (1, saved);
                }
                outermost
            };
            // SAFETY: the first word of a sigset_t holds signals 1..=64.
            let mut mask = saved | unsafe { *(&action.sa_mask as *const _ as *const u64) };
            if action.sa_flags & libc::SA_NODEFER == 0 {
                mask |= bit(sig);
            }
            ctx.sig_mask.store(mask, Ordering::Relaxed);
            call(handler, sig, info, action.sa_flags & libc::SA_SIGINFO != 0);
            ctx.sig_mask.store(saved, Ordering::Relaxed);
            if outermost {
                *ctx.sig_handler.lock().unwrap_or_else(|e| e.into_inner()) = (0, 0);
            }
            Some(action.sa_flags & libc::SA_RESTART != 0)
        }
    }
}

/// Runs a bead's handler for `sig` on the current string.
fn call(handler: usize, sig: i32, info: Info, siginfo: bool) {
    if siginfo {
        // The kernel's siginfo layout: signo, errno, code, then the union:
        // for SI_USER/SI_TKILL pid and uid; for SI_TIMER the timer id,
        // overrun and value at offset 24.
        let mut si = [0u64; 16];
        let words = si.as_mut_ptr() as *mut i32;
        // SAFETY: writes inside the 128-byte local `si`; `handler` is the
        // bead's `void (*)(int, siginfo_t *, void *)` (SA_SIGINFO).
        unsafe {
            *words = sig;
            *words.add(2) = info.code;
            if info.code == SI_TIMER {
                si[3] = info.value;
            } else {
                *words.add(4) = libc::getpid();
                *words.add(5) = libc::getuid() as i32;
            }
            let f: extern "C" fn(i32, *mut u64, *mut libc::c_void) = std::mem::transmute(handler);
            f(sig, si.as_mut_ptr(), std::ptr::null_mut());
        }
    } else {
        // SAFETY: the bead set `handler` as a `void (*)(int)`.
        let f: extern "C" fn(i32) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

fn ignored_by_default(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGCHLD
            | libc::SIGURG
            | libc::SIGWINCH
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
    )
}

/// The default action of a terminating signal: the string ends with status
/// 128 + `sig` and one line, and its program's other threads end too.
fn terminate(ctx: &ExecCtx, sig: i32) {
    let line = {
        let _rt = RuntimeSection::enter();
        let bead =
            crate::phdr::bead_name(ctx.info.home).unwrap_or_else(|| format!("#{}", ctx.info.home));
        format!(
            "weaves: string `{}` (weave `{}`, bead `{bead}`) ended by {} (no handler)\n",
            ctx.info.name,
            ctx.info.weave,
            name(sig)
        )
    };
    // SAFETY: writing our own buffer to stderr.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    drop(line);
    // The signal ends the program, as it would end a process: its other
    // threads (strings of the same weave and home bead) end at their next
    // safe point.
    if let Some(me) = current_task() {
        if let Some(sched) = me.scheduler() {
            let _rt = RuntimeSection::enter();
            for t in sched.tasks() {
                if !Arc::ptr_eq(&t, &me)
                    && t.ctx.info.home == ctx.info.home
                    && t.ctx.info.weave == ctx.info.weave
                {
                    t.request_stop();
                }
            }
        }
    }
    weaves_strings::exit_current(128 + sig);
}

/// A signal's name, for messages.
pub(crate) fn name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(n) if !n.is_empty() => (*n).to_owned(),
        _ => format!("signal {sig}"),
    }
}

// ---- children ---------------------------------------------------------------

/// Whether bead `bead` has a handler (not `SIG_DFL`/`SIG_IGN`) for `sig`.
fn has_handler(bead: OwnerId, sig: i32) -> bool {
    crate::fault::with_async(bead, false, |a| {
        let h = a.actions[sig as usize].sa_sigaction;
        h != libc::SIG_DFL && h != libc::SIG_IGN
    })
    .unwrap_or(false)
}

/// Bead `bead` made child `pid`: if the bead handles `SIGCHLD`, a thread
/// waits on a pidfd of the child (without reaping it) and sends the bead
/// `SIGCHLD` when it exits. Stops and continues are not reported.
pub(crate) fn watch_child(pid: libc::pid_t, bead: OwnerId) {
    if !has_handler(bead, libc::SIGCHLD) {
        return;
    }
    // SAFETY: pidfd_open with no flags; the result is a new descriptor
    // (or -1) that the thread below owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return;
    }
    let _rt = RuntimeSection::enter();
    let spawned = std::thread::Builder::new()
        .name("weaves-sigchld".into())
        .spawn(move || {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; retried on EINTR.
            while unsafe { libc::poll(&mut p, 1, -1) } < 0 {}
            // SAFETY: the thread's own descriptor, closed once.
            unsafe { libc::close(fd) };
            send_to_bead(bead, libc::SIGCHLD, CLD_EXITED, 0);
        });
    if spawned.is_err() {
        // SAFETY: not handed to a thread: still ours to close.
        unsafe { libc::close(fd) };
    }
}

/// `si_code` of a child that exited.
const CLD_EXITED: i32 = 1;

// ---- sending and waiting ----------------------------------------------------

/// Strings waiting in interruptible calls: a signal sent to a bead wakes
/// those that may take it.
static WAITING: Mutex<Vec<Arc<Task>>> = Mutex::new(Vec::new());

/// Makes `sig` pending on bead `bead` and wakes its waiting strings.
pub(crate) fn send_to_bead(bead: OwnerId, sig: i32, code: i32, value: u64) {
    mark_in_use();
    crate::fault::with_async(bead, true, |a| {
        if a.pending & bit(sig) == 0 {
            a.pending |= bit(sig);
            BEAD_SIGNALS.fetch_add(1, Ordering::Relaxed);
        }
        a.info[sig as usize] = Info { code, value };
    });
    let _rt = RuntimeSection::enter();
    let waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
    for t in waiting.iter() {
        if beads_of(&t.ctx).any(|b| b == bead) {
            t.wake();
        }
    }
}

/// Makes `sig` pending on one string and wakes it if it waits.
pub(crate) fn send_to_string(task: &Arc<Task>, sig: i32) {
    mark_in_use();
    task.ctx.sig_pending.fetch_or(bit(sig), Ordering::AcqRel);
    task.wake();
}

/// How an interruptible wait ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Woke {
    Ready,
    Deadline,
    /// A handler ran.
    Signal,
}

/// Parks the current string until `ready()`, `deadline`, or a signal it
/// does not block (whose handler runs here). `None` outside strings.
/// `also`: signals that end the wait though blocked (`sigwait`'s set).
///
/// Holds no reference to the string's task while a handler runs or the
/// string stops: either may end the string here, abandoning this frame.
pub(crate) fn wait(
    deadline: Option<Instant>,
    also: u64,
    mut ready: impl FnMut(&ExecCtx) -> bool,
) -> Option<Woke> {
    let ctx = current()?;
    current_task()?;
    loop {
        if ctx.stop_requested.load(Ordering::Acquire) {
            weaves_strings::stop_point();
            return Some(Woke::Deadline);
        }
        if ready(ctx) {
            return Some(Woke::Ready);
        }
        if deliver_pending() {
            return Some(Woke::Signal);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Woke::Deadline);
        }
        let task = current_task()?;
        {
            let _rt = RuntimeSection::enter();
            WAITING
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task.clone());
        }
        // Sent between the checks above and registering: seen here.
        let mask = ctx.sig_mask.load(Ordering::Relaxed);
        if !has_pending(ctx, !mask | also) {
            match deadline {
                Some(d) => {
                    blocking::park_until(d);
                }
                None => blocking::park(),
            }
        }
        let _rt = RuntimeSection::enter();
        let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = waiting.iter().position(|t| Arc::ptr_eq(t, &task)) {
            waiting.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_fault_signals_are_not_async() {
        for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
            assert!(!is_async(sig), "{}", name(sig));
        }
        for sig in [libc::SIGALRM, libc::SIGUSR1, libc::SIGCHLD, libc::SIGTERM] {
            assert!(is_async(sig), "{}", name(sig));
        }
        assert!(!is_async(0) && !is_async(65));
    }

    #[test]
    fn names_and_bits() {
        assert_eq!(name(libc::SIGALRM), "SIGALRM");
        assert_eq!(name(40), "signal 40");
        assert_eq!(bit(1), 1);
        assert_eq!(bit(64), 1 << 63);
    }

    #[test]
    fn a_beads_disposition_is_its_own() {
        let (a, b): (OwnerId, OwnerId) = (5151, 5152);
        let handler = 0x1234usize;
        assert_eq!(
            signal_for(a, libc::SIGUSR1, handler, libc::SA_RESTART),
            libc::SIG_DFL
        );
        assert_eq!(
            signal_for(b, libc::SIGUSR1, libc::SIG_IGN, 0),
            libc::SIG_DFL
        );
        assert_eq!(signal_for(a, libc::SIGUSR1, libc::SIG_DFL, 0), handler);
        assert_eq!(
            signal_for(b, libc::SIGUSR1, libc::SIG_DFL, 0),
            libc::SIG_IGN
        );
        assert_eq!(signal_for(a, libc::SIGKILL, handler, 0), libc::SIG_ERR);
    }
}
