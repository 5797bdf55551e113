//! POSIX record locks (`fcntl` `F_SETLK`/`F_SETLKW`/`F_GETLK`, `lockf`)
//! with the bead as the process.
//!
//! The kernel keeps POSIX record locks per process, and every bead lives in
//! one: two beads would both get a write lock on one file, and private
//! copies of an embedded database writing one file lose rows. Here each
//! program — the home bead of the calling string, so a program's threads
//! and the library beads it calls share its locks, as a process's threads
//! do — gets an open file description of its own for each file it locks
//! (a reopen of `/proc/self/fd/N`), and its locks are open-file-description
//! locks (`F_OFD_*`) on it:
//!
//! * two programs conflict, a program never conflicts with itself, and
//!   locks of other processes (POSIX or OFD) conflict as usual;
//! * closing any descriptor of the file drops the program's locks on it
//!   (POSIX semantics), as does removing its bead;
//! * `F_SETLKW` parks the string until the lock is free (polling with a
//!   short back-off) instead of blocking its worker;
//! * `F_GETLK` reports a conflicting lock of another program with this
//!   process's id (the kernel gives no pid for OFD locks).
//!
//! Outside strings (and in a forked child, which is an ordinary process)
//! the C library's functions run unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use weaves_arena::OwnerId;
use weaves_strings::RuntimeSection;

/// (program, device, inode): whose description of which file.
type OfdKey = (OwnerId, u64, u64);

/// The programs' open file descriptions.
static OFDS: Mutex<Option<HashMap<OfdKey, i32>>> = Mutex::new(None);

/// The program locks are held for: the calling string's home bead (0:
/// not in a string, or in a forked child).
fn program() -> OwnerId {
    if weaves_strings::forked::in_forked_child() {
        return 0;
    }
    weaves_strings::acting_bead()
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn set_errno(e: i32) {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = e };
}

fn file_id(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes a stat the size of libc::stat.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev, st.st_ino))
    }
}

/// The program's own open file description for the file behind `fd`.
fn ofd_for(owner: OwnerId, fd: i32) -> Result<i32, i32> {
    let (dev, ino) = file_id(fd).ok_or_else(errno)?;
    let mut g = OFDS.lock().unwrap_or_else(|e| e.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if let Some(&ofd) = map.get(&(owner, dev, ino)) {
        return Ok(ofd);
    }
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| libc::EBADF)?;
    // SAFETY: the fd's access mode, and opens of a NUL-terminated path.
    let ofd = unsafe {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
        let rw = libc::open(path.as_ptr(), flags | libc::O_RDWR);
        if rw >= 0 {
            rw
        } else {
            let mode = libc::fcntl(fd, libc::F_GETFL) & libc::O_ACCMODE;
            libc::open(path.as_ptr(), flags | mode)
        }
    };
    if ofd < 0 {
        return Err(errno());
    }
    map.insert((owner, dev, ino), ofd);
    Ok(ofd)
}

/// `flock` with `SEEK_CUR` made absolute: the program's descriptor and our
/// description have different offsets.
fn absolute(fd: i32, lock: &libc::flock) -> Result<libc::flock, i32> {
    let mut l = *lock;
    if i32::from(l.l_whence) == libc::SEEK_CUR {
        // SAFETY: lseek on the caller's descriptor only reads its offset.
        let at = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
        if at < 0 {
            return Err(errno());
        }
        l.l_start = l.l_start.checked_add(at).ok_or(libc::EOVERFLOW)?;
        l.l_whence = libc::SEEK_SET as i16;
    }
    l.l_pid = 0;
    Ok(l)
}

fn ofd_fcntl(ofd: i32, cmd: i32, l: &mut libc::flock) -> Result<(), i32> {
    // SAFETY: an OFD lock command with a valid flock.
    if unsafe { libc::fcntl(ofd, cmd, l as *mut libc::flock) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `F_SETLK`/`F_SETLKW`/`F_GETLK` for `owner` on `fd`.
fn record_lock(owner: OwnerId, fd: i32, cmd: i32, lock: *mut libc::flock) -> Result<(), i32> {
    if lock.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: C's contract: the third argument points to a struct flock.
    let user = unsafe { &mut *lock };
    let ofd = ofd_for(owner, fd)?;
    let mut l = absolute(fd, user)?;
    match cmd {
        libc::F_GETLK => {
            ofd_fcntl(ofd, libc::F_OFD_GETLK, &mut l)?;
            user.l_type = l.l_type;
            if i32::from(l.l_type) != libc::F_UNLCK {
                user.l_whence = l.l_whence;
                user.l_start = l.l_start;
                user.l_len = l.l_len;
                // An OFD lock has no pid: another program of this process.
                user.l_pid = if l.l_pid <= 0 {
                    std::process::id() as libc::pid_t
                } else {
                    l.l_pid
                };
            }
            Ok(())
        }
        libc::F_SETLK => ofd_fcntl(ofd, libc::F_OFD_SETLK, &mut l),
        _ => wait_for_lock(ofd, &mut l),
    }
}

/// `F_SETLKW`: retries with a back-off that parks the string between tries.
fn wait_for_lock(ofd: i32, l: &mut libc::flock) -> Result<(), i32> {
    let mut pause = Duration::from_micros(100);
    loop {
        match ofd_fcntl(ofd, libc::F_OFD_SETLK, &mut l.clone()) {
            Err(libc::EAGAIN | libc::EACCES) => {
                weaves_strings::blocking::sleep_for(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Drops `owner`'s locks on the file behind `fd` (it is being closed).
pub(crate) fn on_close(fd: i32) {
    let owner = program();
    if owner == 0 {
        return;
    }
    let Some((dev, ino)) = file_id(fd) else {
        return;
    };
    let _rt = RuntimeSection::enter();
    let ofd = OFDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .and_then(|m| m.remove(&(owner, dev, ino)));
    if let Some(ofd) = ofd {
        // SAFETY: our own description; closing it drops its locks.
        unsafe { libc::close(ofd) };
    }
}

/// Drops every lock bead `owner` held (it is being removed).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    let mut g = OFDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = g.as_mut() {
        m.retain(|&(o, _, _), &mut ofd| {
            if o == owner {
                // SAFETY: our own description.
                unsafe { libc::close(ofd) };
            }
            o != owner
        });
    }
}

/// `fcntl` (and `fcntl64`) for bead code: record-lock commands per
/// program, everything else unchanged.
unsafe extern "C" fn fcntl(fd: i32, cmd: i32, arg: usize) -> i32 {
    let owner = program();
    if owner == 0 || !matches!(cmd, libc::F_SETLK | libc::F_SETLKW | libc::F_GETLK) {
        // SAFETY: the caller's own arguments; the variadic argument is
        // passed on in the same register.
        return unsafe { libc::fcntl(fd, cmd, arg) };
    }
    let _rt = RuntimeSection::enter();
    match record_lock(owner, fd, cmd, arg as *mut libc::flock) {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

extern "C" {
    fn lockf(fd: i32, cmd: i32, len: libc::off_t) -> i32;
}

/// `lockf`: glibc implements it with its own internal `fcntl`, which no
/// binding reaches, so it is redone here over [`record_lock`].
unsafe extern "C" fn weaves_lockf(fd: i32, cmd: i32, len: libc::off_t) -> i32 {
    let owner = program();
    if owner == 0 {
        // SAFETY: the caller's own arguments.
        return unsafe { lockf(fd, cmd, len) };
    }
    let _rt = RuntimeSection::enter();
    // SAFETY: flock is plain data; all-zero is a valid value.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_whence = libc::SEEK_CUR as i16;
    l.l_start = 0;
    l.l_len = len;
    let (cmd, kind) = match cmd {
        libc::F_ULOCK => (libc::F_SETLK, libc::F_UNLCK),
        libc::F_LOCK => (libc::F_SETLKW, libc::F_WRLCK),
        libc::F_TLOCK => (libc::F_SETLK, libc::F_WRLCK),
        libc::F_TEST => (libc::F_GETLK, libc::F_RDLCK),
        _ => {
            set_errno(libc::EINVAL);
            return -1;
        }
    };
    l.l_type = kind as i16;
    let result = record_lock(owner, fd, cmd, &mut l).and_then(|()| {
        // F_TEST: locked by another program is EACCES.
        if cmd == libc::F_GETLK && i32::from(l.l_type) != libc::F_UNLCK {
            Err(libc::EACCES)
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "fcntl" | "fcntl64" | "__fcntl" => fcntl as *const () as usize,
        "lockf" | "lockf64" => weaves_lockf as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
