//! The `wait` family for bead code: waiting for a child parks the string,
//! and "any child" means the calling program's own.
//!
//! * **Parking.** A wait that would block polls with `WNOHANG` and, while
//!   the child runs, parks the string: on a pidfd of that child in the I/O
//!   reactor (readable when it exits) when one specific child is awaited for
//!   its exit, otherwise on short timer sleeps (1 ms, doubling to 16 ms).
//!   Other strings on the same worker run meanwhile.
//! * **Whose children.** In a native run, `wait(&st)` reaps one of the
//!   program's own children. In a tapestry every bead's children are the
//!   process's, and a plain `waitpid(-1)` from one bead could reap another
//!   bead's child (whose own `waitpid(pid)` would then fail with
//!   `ECHILD`). So children made by bead code (`fork`, `posix_spawn`) are
//!   recorded with the home bead of the string that made them, and a wait
//!   for "any child" (`pid` -1, 0 or below -1; `P_ALL`, `P_PGID`) considers
//!   only the calling bead's. The commands that `system` and `popen` run
//!   are not recorded: their callers wait for them by pid.
//!
//! Outside strings and in a forked child, these are the C library's.

use std::sync::Mutex;
use std::time::Duration;

use weaves_arena::OwnerId;
use weaves_strings::blocking::{preempt_point, sleep_for};
use weaves_strings::forked::in_forked_child;
use weaves_strings::reactor::{self, Interest};
use weaves_strings::{current, RuntimeSection};

use super::{errno, home_bead, set_errno};

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "wait" => wait as *const () as usize,
        "waitpid" | "__waitpid" => waitpid as *const () as usize,
        "wait3" => wait3 as *const () as usize,
        "wait4" => wait4 as *const () as usize,
        "waitid" => waitid as *const () as usize,
        _ => return None,
    };
    Some(f)
}

/// Children made by bead code, with the home bead of the string that made
/// each.
static CHILDREN: Mutex<Vec<(libc::pid_t, OwnerId)>> = Mutex::new(Vec::new());

/// Records `pid` as a child of bead `bead`.
pub(super) fn adopt(pid: libc::pid_t, bead: OwnerId) {
    crate::signals::watch_child(pid, bead);
    let _rt = RuntimeSection::enter();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, bead));
}

/// Forgets `pid` (reaped).
fn forget(pid: libc::pid_t) {
    let _rt = RuntimeSection::enter();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&(p, _)| p != pid);
}

/// The recorded children of `bead`.
fn children_of(bead: OwnerId) -> Vec<libc::pid_t> {
    let _rt = RuntimeSection::enter();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|&&(_, b)| b == bead)
        .map(|&(p, _)| p)
        .collect()
}

/// Whether waits from this call parks the string (a string of the tapestry
/// process) rather than being the C library's.
fn interposed() -> bool {
    !in_forked_child() && current().is_some()
}

unsafe extern "C" fn wait(status: *mut i32) -> libc::pid_t {
    // SAFETY: the caller's own arguments.
    unsafe { wait4(-1, status, 0, std::ptr::null_mut()) }
}

unsafe extern "C" fn waitpid(pid: libc::pid_t, status: *mut i32, options: i32) -> libc::pid_t {
    // SAFETY: as above.
    unsafe { wait4(pid, status, options, std::ptr::null_mut()) }
}

unsafe extern "C" fn wait3(
    status: *mut i32,
    options: i32,
    usage: *mut libc::rusage,
) -> libc::pid_t {
    // SAFETY: as above.
    unsafe { wait4(-1, status, options, usage) }
}

unsafe extern "C" fn wait4(
    pid: libc::pid_t,
    status: *mut i32,
    options: i32,
    usage: *mut libc::rusage,
) -> libc::pid_t {
    if !interposed() {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::wait4(pid, status, options, usage) };
    }
    preempt_point();
    let mut st = 0;
    let r = if pid > 0 {
        wait_pid(pid, &mut st, options, usage)
    } else {
        wait_any(pid, &mut st, options, usage)
    };
    if r > 0 && !status.is_null() {
        // SAFETY: the caller passes a writable int (or NULL, checked).
        unsafe { *status = st };
    }
    r
}

/// `waitpid(pid, st, 0)` for the runtime's own children (`system`,
/// `popen`): parks a string, blocks anything else.
pub(super) fn waitpid_parked(pid: libc::pid_t, st: &mut i32) -> libc::pid_t {
    if interposed() {
        wait_pid(pid, st, 0, std::ptr::null_mut())
    } else {
        // SAFETY: waiting for one child into a local.
        unsafe { libc::waitpid(pid, st, 0) }
    }
}

/// Whether a wait status reports the child's end (it is reaped).
fn ended(status: i32) -> bool {
    libc::WIFEXITED(status) || libc::WIFSIGNALED(status)
}

/// `wait4` for one child, parking while it runs.
fn wait_pid(pid: libc::pid_t, st: &mut i32, options: i32, usage: *mut libc::rusage) -> libc::pid_t {
    let mut pause = Pause::new(pid, options);
    loop {
        // SAFETY: a poll of one child into locals and the caller's rusage.
        let r = unsafe { libc::wait4(pid, st, options | libc::WNOHANG, usage) };
        if r != 0 || options & libc::WNOHANG != 0 {
            if r == pid && ended(*st) {
                forget(pid);
            }
            return r;
        }
        pause.wait();
    }
}

/// `wait4` for any child of the calling bead (`pid` -1), of its process
/// group (0), or of process group `-pid`.
fn wait_any(pid: libc::pid_t, st: &mut i32, options: i32, usage: *mut libc::rusage) -> libc::pid_t {
    let bead = home_bead();
    let mut pause = Pause::new(0, options);
    loop {
        let mut any = false;
        for child in children_of(bead) {
            if !in_group(child, pid) {
                continue;
            }
            // SAFETY: a poll of one child into locals and the caller's rusage.
            let r = unsafe { libc::wait4(child, st, options | libc::WNOHANG, usage) };
            match r {
                0 => any = true,
                r if r == child => {
                    if ended(*st) {
                        forget(child);
                    }
                    return r;
                }
                _ if errno() == libc::ECHILD => forget(child),
                _ => return -1,
            }
        }
        if !any {
            set_errno(libc::ECHILD);
            return -1;
        }
        if options & libc::WNOHANG != 0 {
            return 0;
        }
        pause.wait();
    }
}

/// Whether `child` is what a wait for `pid` (0 or below) means.
fn in_group(child: libc::pid_t, pid: libc::pid_t) -> bool {
    match pid {
        -1 => true,
        // SAFETY: getpgid/getpgrp only read.
        0 => unsafe { libc::getpgid(child) == libc::getpgrp() },
        // SAFETY: as above.
        g => unsafe { libc::getpgid(child) == -g },
    }
}

unsafe extern "C" fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: i32,
) -> i32 {
    if !interposed() || info.is_null() {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::waitid(idtype, id, info, options) };
    }
    preempt_point();
    let ids: Vec<libc::id_t> = match idtype {
        libc::P_PID | libc::P_PIDFD => vec![id],
        libc::P_ALL => children_of(home_bead()).iter().map(|&p| p as _).collect(),
        libc::P_PGID => children_of(home_bead())
            .into_iter()
            .filter(|&c| in_group(c, -(id as libc::pid_t)))
            .map(|p| p as _)
            .collect(),
        // SAFETY: an id type we do not know: the C library says what it
        // means.
        _ => return unsafe { libc::waitid(idtype, id, info, options) },
    };
    let one = if idtype == libc::P_PIDFD {
        libc::P_PIDFD
    } else {
        libc::P_PID
    };
    let watched = if idtype == libc::P_PID {
        id as libc::pid_t
    } else {
        0
    };
    let mut pause = Pause::new(watched, options);
    loop {
        let mut any = false;
        for &child in &ids {
            // SAFETY: `info` is the caller's writable siginfo_t; zeroed so
            // that "no child changed state" reads as si_pid 0.
            let r = unsafe {
                std::ptr::write_bytes(info, 0, 1);
                libc::waitid(one, child, info, options | libc::WNOHANG)
            };
            if r != 0 {
                if errno() == libc::ECHILD && idtype != libc::P_PID && idtype != libc::P_PIDFD {
                    forget(child as libc::pid_t);
                    continue;
                }
                return r;
            }
            // SAFETY: filled by waitid (or zeroed above).
            let who = unsafe { (*info).si_pid() };
            if who != 0 {
                if options & libc::WNOWAIT == 0 && info_ended(info) {
                    forget(who);
                }
                return 0;
            }
            any = true;
        }
        if !any {
            set_errno(libc::ECHILD);
            return -1;
        }
        if options & libc::WNOHANG != 0 {
            return 0;
        }
        pause.wait();
    }
}

/// Whether a `waitid` result reports the child's end.
fn info_ended(info: *const libc::siginfo_t) -> bool {
    // SAFETY: filled by waitid.
    let code = unsafe { (*info).si_code };
    matches!(code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED)
}

/// How a waiting string passes the time until its next poll.
struct Pause {
    /// A pidfd of the one child awaited for its exit, if there is one.
    pidfd: Option<i32>,
    /// The next timer sleep.
    sleep: Duration,
}

impl Pause {
    const FIRST: Duration = Duration::from_millis(1);
    const LONGEST: Duration = Duration::from_millis(16);

    /// For waits on child `pid` (0: several children) with `options`. A
    /// pidfd only reports exits, so waits that also report stops and
    /// continues sleep on timers.
    fn new(pid: libc::pid_t, options: i32) -> Pause {
        let exits_only = options & (libc::WUNTRACED | libc::WCONTINUED) == 0;
        let pidfd = (pid > 0 && exits_only)
            .then(|| {
                // SAFETY: pidfd_open with no flags; the result is a new
                // descriptor we own (closed on drop) or -1.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
                // pidfds are close-on-exec: no other string's child
                // inherits it.
                (fd >= 0).then_some(fd)
            })
            .flatten();
        Pause {
            pidfd,
            sleep: Pause::FIRST,
        }
    }

    /// Parks until the awaited child may have changed state.
    fn wait(&mut self) {
        if let Some(fd) = self.pidfd {
            if reactor::wait(fd, Interest::Read) {
                return;
            }
            // No reactor (a thread-mode string): the timer sleeps below.
        }
        let errno = errno();
        sleep_for(self.sleep);
        set_errno(errno);
        self.sleep = (self.sleep * 2).min(Pause::LONGEST);
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd {
            // SAFETY: the pidfd this Pause opened.
            unsafe { libc::close(fd) };
        }
    }
}
