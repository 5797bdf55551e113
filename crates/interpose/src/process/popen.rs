//! `popen` and `pclose` from bead code.
//!
//! `popen` runs `/bin/sh -c COMMAND` (see `spawn`) on a pipe and hands back
//! a stream on the caller's end; `pclose` closes it and waits for the
//! command with the parking `waitpid`, where the C library's would block the
//! worker. The caller's descriptor is always close-on-exec (the `e` mode
//! flag is implied), so commands that other strings start never hold it
//! open. In a forked child both are the C library's (a stream the parent
//! opened is closed by `pclose` there, which fails with `ECHILD`: the
//! command is not the child's).

use std::ffi::CStr;
use std::sync::Mutex;

use weaves_strings::forked::in_forked_child;
use weaves_strings::RuntimeSection;

use super::set_errno;
use super::spawn::{spawn_shell, wait_status};

extern "C" {
    fn popen(command: *const libc::c_char, mode: *const libc::c_char) -> *mut libc::FILE;
}

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "popen" => weaves_popen as *const () as usize,
        "pclose" => pclose as *const () as usize,
        _ => return None,
    };
    Some(f)
}

/// Streams `popen` made: (FILE address, the command's pid).
static OPEN: Mutex<Vec<(usize, libc::pid_t)>> = Mutex::new(Vec::new());

/// What a `popen` mode asks for.
struct Mode {
    /// The caller reads the command's stdout (`"r"`), or writes its stdin.
    read: bool,
}

fn parse_mode(mode: *const libc::c_char) -> Option<Mode> {
    if mode.is_null() {
        return None;
    }
    // SAFETY: C passes a NUL-terminated mode.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    let read = match m.first() {
        Some(b'r') => true,
        Some(b'w') => false,
        _ => return None,
    };
    // Only the close-on-exec flag may follow, which we always set.
    m[1..].iter().all(|&c| c == b'e').then_some(Mode { read })
}

unsafe extern "C" fn weaves_popen(
    command: *const libc::c_char,
    mode: *const libc::c_char,
) -> *mut libc::FILE {
    if in_forked_child() {
        // SAFETY: the caller's own arguments.
        return unsafe { popen(command, mode) };
    }
    weaves_strings::blocking::preempt_point();
    let Some(m) = parse_mode(mode) else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    match popen_shell(command, &m) {
        Ok(fp) => fp,
        Err(e) => {
            set_errno(e);
            std::ptr::null_mut()
        }
    }
}

/// `popen`: a pipe, the command with one end as its stdin or stdout, and a
/// stream on the other end.
fn popen_shell(command: *const libc::c_char, m: &Mode) -> Result<*mut libc::FILE, i32> {
    let mut fds = [0; 2];
    // SAFETY: a new pipe into a local array; close-on-exec on both ends, so
    // only the descriptor dup'ed into the command survives its exec.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(super::errno());
    }
    let (mine, theirs, target) = if m.read {
        (fds[0], fds[1], 1)
    } else {
        (fds[1], fds[0], 0)
    };
    let spawned = with_dup2(theirs, target, |actions| spawn_shell(command, actions));
    // SAFETY: closing the command's end, which is ours to close.
    unsafe { libc::close(theirs) };
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            // SAFETY: our end of a pipe nobody else uses.
            unsafe { libc::close(mine) };
            return Err(e);
        }
    };
    let mode = if m.read { c"r" } else { c"w" };
    // SAFETY: a stream on our own descriptor; glibc allocates the FILE for
    // the calling bead (its home heap).
    let fp = unsafe { libc::fdopen(mine, mode.as_ptr()) };
    if fp.is_null() {
        let e = super::errno();
        // SAFETY: as above; the command sees end of file and ends.
        unsafe { libc::close(mine) };
        let _ = wait_status(pid);
        return Err(e);
    }
    let _rt = RuntimeSection::enter();
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((fp as usize, pid));
    Ok(fp)
}

/// Runs `f` with file actions that dup `fd` onto `target` in the child.
fn with_dup2<T>(
    fd: i32,
    target: i32,
    f: impl FnOnce(*const libc::posix_spawn_file_actions_t) -> T,
) -> T {
    // SAFETY: file actions initialised here, used by `f`, destroyed after.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawn_file_actions_adddup2(&mut actions, fd, target);
        let r = f(&actions);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        r
    }
}

unsafe extern "C" fn pclose(fp: *mut libc::FILE) -> i32 {
    let pid = {
        let _rt = RuntimeSection::enter();
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        let at = open.iter().position(|&(f, _)| f == fp as usize);
        at.map(|i| open.swap_remove(i).1)
    };
    let Some(pid) = pid else {
        // SAFETY: not a stream of ours: the C library's (its own popen in a
        // forked child, or a caller's mistake it reports).
        return unsafe { libc::pclose(fp) };
    };
    // SAFETY: the stream popen made; closing it gives the command EOF (or
    // tells it its output is no longer read).
    unsafe { libc::fclose(fp) };
    if in_forked_child() {
        // The command is the parent's child, not ours.
        set_errno(libc::ECHILD);
        return -1;
    }
    weaves_strings::blocking::preempt_point();
    wait_status(pid).unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popen_modes_are_read_or_write_with_an_optional_e() {
        assert!(parse_mode(c"r".as_ptr()).is_some_and(|m| m.read));
        assert!(parse_mode(c"we".as_ptr()).is_some_and(|m| !m.read));
        assert!(parse_mode(c"re".as_ptr()).is_some_and(|m| m.read));
        assert!(parse_mode(c"rw".as_ptr()).is_none());
        assert!(parse_mode(c"x".as_ptr()).is_none());
        assert!(parse_mode(c"".as_ptr()).is_none());
        assert!(parse_mode(std::ptr::null()).is_none());
    }
}
