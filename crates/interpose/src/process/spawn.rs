//! Starting other programs from bead code: `posix_spawn`, `posix_spawnp`,
//! `system` and `daemon` (`popen` is in `popen`).
//!
//! * `posix_spawn(p)` is the C library's (a `clone` that execs at once, so
//!   it never copies the tapestry); the child is recorded as the calling
//!   bead's (see `wait`).
//! * `system` (and `popen`) run `/bin/sh -c COMMAND` through
//!   `posix_spawn`, with the string's own environment, and wait for it
//!   with the parking `waitpid`: the C library's versions wait inside the
//!   library, blocking their worker (and every string on it) until the
//!   command ends. Unlike the C library's `system`, ours does not ignore
//!   `SIGINT`/`SIGQUIT` in the caller while the command runs: signal
//!   dispositions belong to the whole tapestry, and changing them for one
//!   string would change them for all.
//! * Programs started from bead code get `SIGPIPE` at its default action,
//!   as children of a C program do: the runtime itself ignores it (Rust
//!   programs do), and an ignored signal stays ignored across `exec`.
//! * `daemon` would fork and end the *calling* process — the tapestry — in
//!   the parent: it is refused (`ENOTSUP`, one line).
//!
//! In a forked child all of these are the C library's.

use weaves_strings::current;
use weaves_strings::forked::in_forked_child;

use super::{home_bead, refuse};

extern "C" {
    fn daemon(nochdir: i32, noclose: i32) -> i32;
    static environ: *const *mut libc::c_char;
}

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "posix_spawn" => spawn as *const () as usize,
        "posix_spawnp" => spawnp as *const () as usize,
        "system" => system as *const () as usize,
        "daemon" => weaves_daemon as *const () as usize,
        _ => return None,
    };
    Some(f)
}

type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const libc::c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    *const *mut libc::c_char,
    *const *mut libc::c_char,
) -> i32;

unsafe extern "C" fn spawn(
    pid: *mut libc::pid_t,
    path: *const libc::c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut libc::c_char,
    envp: *const *mut libc::c_char,
) -> i32 {
    // SAFETY: the caller's own arguments.
    unsafe { spawn_with(libc::posix_spawn, pid, path, actions, attr, argv, envp) }
}

unsafe extern "C" fn spawnp(
    pid: *mut libc::pid_t,
    file: *const libc::c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut libc::c_char,
    envp: *const *mut libc::c_char,
) -> i32 {
    // SAFETY: the caller's own arguments.
    unsafe { spawn_with(libc::posix_spawnp, pid, file, actions, attr, argv, envp) }
}

/// `posix_spawn(p)` through `real`, with `SIGPIPE` defaulted in the child,
/// recording the child as the calling bead's.
///
/// # Safety
/// As for `posix_spawn`.
unsafe fn spawn_with(
    real: SpawnFn,
    pid: *mut libc::pid_t,
    path: *const libc::c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut libc::c_char,
    envp: *const *mut libc::c_char,
) -> i32 {
    if in_forked_child() {
        // SAFETY: the caller's own arguments.
        return unsafe { real(pid, path, actions, attr, argv, envp) };
    }
    // SAFETY: `attr` is the caller's attribute object or NULL.
    let attr = unsafe { Attr::from_callers(attr) };
    let mut child = 0;
    // SAFETY: the caller's arguments, with our copy of its attributes.
    let r = unsafe { real(&mut child, path, actions, attr.as_ptr(), argv, envp) };
    if r == 0 {
        super::wait::adopt(child, home_bead());
        if !pid.is_null() {
            // SAFETY: the caller passes a writable pid_t (or NULL, checked).
            unsafe { *pid = child };
        }
    }
    r
}

/// Spawn attributes: the caller's (or fresh ones), with `SIGPIPE` reset to
/// its default action in the child when the runtime ignores it.
struct Attr {
    attr: libc::posix_spawnattr_t,
    /// Initialised here (destroyed on drop), not copied from the caller's.
    fresh: bool,
}

impl Attr {
    /// # Safety
    /// `callers` is NULL or an initialised attribute object.
    unsafe fn from_callers(callers: *const libc::posix_spawnattr_t) -> Attr {
        // SAFETY: all-zero is a valid value of this plain C struct, which
        // the init call (or the copy) then fills.
        let mut attr: libc::posix_spawnattr_t = unsafe { std::mem::zeroed() };
        let fresh = callers.is_null();
        if fresh {
            // SAFETY: initialising our own attribute object.
            unsafe { libc::posix_spawnattr_init(&mut attr) };
        } else {
            // SAFETY: glibc's posix_spawnattr_t is plain data (flags,
            // process group, signal sets, scheduling): a byte copy of the
            // caller's initialised object is an independent, initialised
            // object.
            attr = unsafe { std::ptr::read(callers) };
        }
        let mut a = Attr { attr, fresh };
        a.default_sigpipe();
        a
    }

    /// Adds `SIGPIPE` to the signals the child resets to their default.
    fn default_sigpipe(&mut self) {
        if !sigpipe_ignored() {
            return;
        }
        // SAFETY: reading and updating our own initialised attribute object
        // and a local signal set.
        unsafe {
            let mut flags: libc::c_short = 0;
            libc::posix_spawnattr_getflags(&self.attr, &mut flags);
            let mut set: libc::sigset_t = std::mem::zeroed();
            if flags & libc::POSIX_SPAWN_SETSIGDEF as libc::c_short != 0 {
                libc::posix_spawnattr_getsigdefault(&self.attr, &mut set);
            } else {
                libc::sigemptyset(&mut set);
            }
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::posix_spawnattr_setsigdefault(&mut self.attr, &set);
            libc::posix_spawnattr_setflags(
                &mut self.attr,
                flags | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short,
            );
        }
    }

    fn as_ptr(&self) -> *const libc::posix_spawnattr_t {
        &self.attr
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        if self.fresh {
            // SAFETY: the object `from_callers` initialised.
            unsafe { libc::posix_spawnattr_destroy(&mut self.attr) };
        }
    }
}

/// Whether `SIGPIPE` is ignored in this process (by the runtime).
fn sigpipe_ignored() -> bool {
    // SAFETY: querying a disposition into a local.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// In a forked child: `SIGPIPE` back to its default action, as a C
/// program's child has it.
pub(super) fn default_sigpipe_here() {
    if sigpipe_ignored() {
        // SAFETY: setting a disposition in the child, which has one thread.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

/// Starts `/bin/sh -c command` with the string's environment and the
/// given file actions; its pid, or the error number.
pub(super) fn spawn_shell(
    command: *const libc::c_char,
    actions: *const libc::posix_spawn_file_actions_t,
) -> Result<libc::pid_t, i32> {
    let env = current().and_then(|c| c.environ_block());
    let envp = match &env {
        Some((_, ptrs)) => ptrs.as_ptr() as *const *mut libc::c_char,
        // SAFETY: reading the C library's environ pointer.
        None => unsafe { environ },
    };
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), command, std::ptr::null()];
    // SAFETY: a null attribute pointer asks for fresh attributes.
    let attr = unsafe { Attr::from_callers(std::ptr::null()) };
    let mut pid = 0;
    // SAFETY: valid NUL-terminated arguments and environment, kept alive
    // across the call.
    let r = unsafe {
        libc::posix_spawn(
            &mut pid,
            c"/bin/sh".as_ptr(),
            actions,
            attr.as_ptr(),
            argv.as_ptr() as *const *mut libc::c_char,
            envp,
        )
    };
    if r == 0 {
        Ok(pid)
    } else {
        Err(r)
    }
}

/// Waits (parking) for `pid`, retrying interrupted waits; its status.
pub(super) fn wait_status(pid: libc::pid_t) -> Option<i32> {
    let mut st = 0;
    loop {
        let r = super::wait::waitpid_parked(pid, &mut st);
        if r == pid {
            return Some(st);
        }
        if super::errno() != libc::EINTR {
            return None;
        }
    }
}

unsafe extern "C" fn system(command: *const libc::c_char) -> i32 {
    if in_forked_child() {
        // SAFETY: the caller's own argument.
        return unsafe { libc::system(command) };
    }
    weaves_strings::blocking::preempt_point();
    if command.is_null() {
        // "Is a shell available?"
        // SAFETY: access on a constant path.
        return i32::from(unsafe { libc::access(c"/bin/sh".as_ptr(), libc::X_OK) } == 0);
    }
    match spawn_shell(command, std::ptr::null()) {
        // As glibc: a shell that could not be started reads as one that
        // exited with 127.
        Err(_) => 127 << 8,
        Ok(pid) => wait_status(pid).unwrap_or(-1),
    }
}

unsafe extern "C" fn weaves_daemon(nochdir: i32, noclose: i32) -> i32 {
    if in_forked_child() {
        // SAFETY: the caller's own arguments, in an ordinary process.
        return unsafe { daemon(nochdir, noclose) };
    }
    refuse(
        "daemon()",
        libc::ENOTSUP,
        "daemon() ends the calling process in the parent, and that process is the whole tapestry",
    );
    -1
}
