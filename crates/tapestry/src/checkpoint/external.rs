//! The state beads hold outside the arena: open files, stdio streams, and
//! output written to the terminal or a pipe but not yet delivered.

use std::ffi::CString;
use std::path::Path;

use super::FileState;

/// Descriptors the process was started with (the caller's, not bead
/// state).
static INHERITED: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();

/// Notes the descriptors open now as inherited: called before the
/// tapestry is built.
pub fn note_inherited_descriptors() {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let _ = INHERITED.set(fds);
}

/// Regular files open in the process beyond stdin/out/err (bead code's:
/// the runtime keeps none open while strings run), and a description of
/// every other descriptor that is external state (sockets, pipes,
/// devices) — those cannot be restored.
pub(super) fn open_files() -> (Vec<FileState>, Vec<String>) {
    let mut files = Vec::new();
    let mut other = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return (files, other);
    };
    let inherited = INHERITED.get().cloned().unwrap_or_default();
    let entries: Vec<_> = dir.flatten().collect();
    for entry in entries {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if fd <= 2 || inherited.contains(&fd) {
            continue;
        }
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.starts_with("/proc") {
            continue;
        }
        // SAFETY: fstat on a descriptor of ours into a local.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFREG {
            let shown = target.to_string_lossy();
            if shown.starts_with("/memfd:weaves-snapshot") {
                continue; // the runtime's in-memory image
            }
            if shown.starts_with("/memfd:") {
                other.push(format!("fd {fd} (an anonymous in-memory file)"));
                continue;
            }
            // SAFETY: plain queries on our own descriptor.
            let (flags, offset) = unsafe {
                (
                    libc::fcntl(fd, libc::F_GETFL),
                    libc::lseek(fd, 0, libc::SEEK_CUR),
                )
            };
            files.push(FileState {
                fd,
                path: target,
                flags,
                offset: offset.max(0) as u64,
                size: st.st_size as u64,
            });
        } else if runtime_descriptor(fd, kind, &target) {
            continue;
        } else {
            other.push(format!("fd {fd} ({})", target.display()));
        }
    }
    (files, other)
}

/// The runtime's own descriptors: event polling, eventfds, timers and the
/// monitor's listening socket.
fn runtime_descriptor(fd: i32, kind: u32, target: &Path) -> bool {
    if target.to_string_lossy().starts_with("anon_inode:") {
        return true;
    }
    if kind == libc::S_IFSOCK {
        let listening = socket_option(fd, libc::SO_ACCEPTCONN).is_some_and(|v| v != 0);
        let unix = socket_option(fd, libc::SO_DOMAIN) == Some(libc::AF_UNIX);
        return unix && (listening || monitor_connection(fd));
    }
    false
}

/// An integer `SOL_SOCKET` option of socket `fd`.
fn socket_option(fd: i32, option: i32) -> Option<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: querying an option of our own socket into a local of the
    // length passed.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            &mut value as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    } == 0;
    ok.then_some(value)
}

/// Whether `fd` is a connection to this process's control socket (its
/// local address is the socket `PID.sock` the monitor listens on).
fn monitor_connection(fd: i32) -> bool {
    // SAFETY: reading our own socket's address into a local of the right
    // size.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: as above.
    let ok =
        unsafe { libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) } == 0;
    if !ok {
        return false;
    }
    let path: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&path).ends_with(&format!("/{}.sock", std::process::id()))
}

/// Reopens the image's files at their descriptors and offsets, cut back to
/// their checkpointed sizes.
pub(super) fn reopen_files(files: &[FileState]) -> Result<(), String> {
    for f in files {
        let path = CString::new(f.path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("file {}: NUL in its path", f.path.display()))?;
        let flags = f.flags & !(libc::O_CREAT | libc::O_TRUNC | libc::O_EXCL);
        // SAFETY: opening a path with flags; checked below.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(format!(
                "cannot reopen {} (fd {} of the image): {}",
                f.path.display(),
                f.fd,
                std::io::Error::last_os_error()
            ));
        }
        let writable = f.flags & libc::O_ACCMODE != libc::O_RDONLY;
        // SAFETY: plain calls on the descriptor just opened, moved to the
        // number bead code knows (the restoring runtime opened nothing of
        // its own below it yet, and stdio is 0-2).
        unsafe {
            if writable && libc::ftruncate(fd, f.size as i64) != 0 {
                return Err(format!(
                    "cannot cut {} back to {} bytes: {}",
                    f.path.display(),
                    f.size,
                    std::io::Error::last_os_error()
                ));
            }
            if fd != f.fd {
                if libc::dup2(fd, f.fd) < 0 {
                    return Err(format!(
                        "cannot put {} at fd {}: {}",
                        f.path.display(),
                        f.fd,
                        std::io::Error::last_os_error()
                    ));
                }
                libc::close(fd);
            }
            libc::lseek(f.fd, f.offset as i64, libc::SEEK_SET);
        }
    }
    Ok(())
}

extern "C" {
    static mut _IO_list_all: *mut libc::c_void;
    fn _IO_link_in(fp: *mut libc::c_void);
}

/// glibc's `FILE._chain` offset on x86-64.
const FILE_CHAIN: usize = 0x68;

/// stdio streams whose `FILE` lives in arena memory (bead code opened
/// them): a restore links them into the C library's list again, so `exit`
/// flushes them.
pub(super) fn bead_streams() -> Vec<u64> {
    let (lo, hi) = (
        weaves_arena::ARENA_BASE as u64,
        (weaves_arena::ARENA_BASE + weaves_arena::NODE_SPAN) as u64,
    );
    let mut out = Vec::new();
    // SAFETY: walking the C library's stream list while every string is at
    // rest (none opens or closes a stream); each FILE's chain pointer is at
    // FILE_CHAIN.
    unsafe {
        let mut fp = _IO_list_all as u64;
        while fp != 0 {
            if (lo..hi).contains(&fp) {
                out.push(fp);
            }
            fp = *((fp as usize + FILE_CHAIN) as *const u64);
        }
    }
    out
}

pub(super) fn link_streams(streams: &[u64]) {
    for &fp in streams {
        // SAFETY: a FILE restored into arena memory; glibc's list does not
        // hold it in this process (and `_IO_link_in` skips linked ones).
        unsafe {
            // Clear _IO_LINKED (0x80) so that it is linked in afresh.
            let flags = fp as usize as *mut i32;
            *flags &= !0x80;
            _IO_link_in(fp as usize as *mut libc::c_void);
        }
    }
}

extern "C" {
    static mut stdout: *mut libc::FILE;
    static mut stderr: *mut libc::FILE;
}

/// glibc's `FILE._IO_write_base` and `_IO_write_ptr` offsets on x86-64
/// (the public `struct _IO_FILE` layout).
const FILE_WRITE_BASE: usize = 32;
const FILE_WRITE_PTR: usize = 40;

/// Takes the bytes waiting in the process's stdout and stderr buffers out
/// of them, unwritten: (fd, bytes) for each that had some.
///
/// Output to a terminal or a pipe cannot be taken back, so it must not
/// leave the process before the image that accounts for it is on disk: a
/// crash while the image is written would restore the previous image,
/// whose strings print it again. The checkpoint writes these bytes once
/// its image is synced, just before renaming it into place; only a crash
/// between those two steps prints them twice (never loses them).
pub(super) fn take_pending_output() -> Vec<(i32, Vec<u8>)> {
    let mut out = Vec::new();
    // SAFETY: the C library's own stream objects; every string is at rest,
    // so no stdio call is using them. The buffer pointers are read per the
    // public FILE layout, and `__fpurge` empties the buffer the same way.
    unsafe {
        for (fd, fp) in [(1, stdout), (2, stderr)] {
            if fp.is_null() {
                continue;
            }
            let base = *((fp as usize + FILE_WRITE_BASE) as *const *const u8);
            let ptr = *((fp as usize + FILE_WRITE_PTR) as *const *const u8);
            if base.is_null() || ptr <= base {
                continue;
            }
            let bytes = std::slice::from_raw_parts(base, ptr.offset_from(base) as usize).to_vec();
            __fpurge(fp);
            out.push((fd, bytes));
        }
    }
    out
}

extern "C" {
    fn __fpurge(fp: *mut libc::FILE);
}

/// Writes output taken by [`take_pending_output`] to its descriptors.
pub(super) fn write_pending_output(pending: &[(i32, Vec<u8>)]) {
    for (fd, bytes) in pending {
        let mut rest: &[u8] = bytes;
        while !rest.is_empty() {
            // SAFETY: writing from a live slice to a descriptor of ours.
            let n = unsafe { libc::write(*fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                break;
            }
            rest = &rest[n as usize..];
        }
    }
}

/// Marks every descriptor opened since the start (bead code's files,
/// sockets; the runtime's own are close-on-exec already) close-on-exec,
/// except `keep`: a rollback's re-execution must not leak them (the
/// restore reopens the image's files itself).
pub(super) fn close_on_exec_beyond_inherited(keep: Option<i32>) {
    let inherited = INHERITED.get().cloned().unwrap_or_default();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd <= 2 || inherited.contains(&fd) || Some(fd) == keep {
            continue;
        }
        // SAFETY: setting a flag on a descriptor of ours (a stale number
        // from the listing above just fails).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
