//! Socket and pipe I/O that parks the calling fiber instead of blocking its
//! worker: before each call that could block, the descriptor's readiness is
//! checked with a zero-timeout `poll`; if it is not ready (and the
//! descriptor is in blocking mode, so the caller expects to wait), the
//! string parks in the reactor until it is, then makes the call.
//!
//! Calls made outside fiber strings (thread mode, initialisers, host
//! threads, a forked child), and on descriptors the caller made
//! non-blocking, go straight to the C library.
//!
//! A blocking `write` or `send` larger than a pipe's atomic size goes out in
//! pieces the descriptor can take at once (stream sockets with
//! `MSG_DONTWAIT`, pipes `PIPE_BUF` bytes at a time), parking in between;
//! the caller still sees one call that wrote everything. Datagrams are never
//! split. A blocking `connect` is made non-blocking for the duration of the
//! call; the standard streams (0, 1, 2) never park (see
//! `before_blocking_call`).

use std::time::{Duration, Instant};

use weaves_strings::reactor::{self, Interest};

/// Whether this call comes from a fiber string (the only ones that park).
fn on_fiber() -> bool {
    weaves_strings::hold::parks_fiber()
}

fn nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL on a descriptor only reads its flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// Ready for `events` now (or in error/hang-up, which the call will report)?
fn ready(fd: i32, events: i16) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: polling one descriptor with zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r != 0
}

/// Parks until `fd` is ready for `interest` when the call would otherwise
/// block the worker. Returns true if a signal handler without `SA_RESTART`
/// ran meanwhile: the call then fails with `EINTR` (see `signals`).
///
/// Every caller is a cancellation point: a pending request is acted on
/// before the wait and after each wake (a request wakes the string).
fn before_blocking_call(fd: i32, interest: Interest) -> bool {
    crate::cancel::point();
    weaves_strings::blocking::preempt_point();
    // The standard streams are shared by every string, and language
    // runtimes lock them per OS thread (Rust's stdout, C stdio): a string
    // parked while holding such a lock would let another string on the same
    // worker "re-enter" it. They block briefly instead.
    if fd <= 2 || !on_fiber() || nonblocking(fd) {
        return false;
    }
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    while !ready(fd, events) {
        let (waited, handled) = crate::signals::around_park(|| reactor::wait(fd, interest));
        crate::cancel::point();
        if handled == Some(false) {
            return true;
        }
        if !waited {
            return false;
        }
    }
    false
}

/// -1 with `errno = EINTR`.
fn eintr() -> isize {
    // SAFETY: errno is thread-local.
    unsafe { *libc::__errno_location() = libc::EINTR };
    -1
}

/// A cancellation point (on entry), as `write` is.
pub(crate) unsafe extern "C" fn read(fd: i32, buf: *mut libc::c_void, n: usize) -> isize {
    crate::cancel::point();
    if before_blocking_call(fd, Interest::Read) {
        return eintr();
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::read(fd, buf, n) }
}

pub(crate) unsafe extern "C" fn write(fd: i32, buf: *const libc::c_void, n: usize) -> isize {
    crate::cancel::point();
    if n > PIPE_BUF && fd > 2 && on_fiber() && !nonblocking(fd) {
        // SAFETY: the caller's own arguments.
        if let Some(r) = unsafe { write_in_pieces(fd, buf.cast(), n, None) } {
            return r;
        }
    }
    if before_blocking_call(fd, Interest::Write) {
        return eintr();
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::write(fd, buf, n) }
}

/// Bytes a pipe takes in one piece whenever it polls writable.
const PIPE_BUF: usize = libc::PIPE_BUF;

/// What a descriptor is, for splitting writes.
#[derive(PartialEq, Eq)]
enum Sink {
    StreamSocket,
    Pipe,
    Other,
}

fn sink(fd: i32) -> Sink {
    // SAFETY: fstat into a local struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Sink::Other;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => Sink::Pipe,
        libc::S_IFSOCK => {
            let mut ty: i32 = 0;
            let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
            // SAFETY: SO_TYPE into a local int.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                    (&mut ty as *mut i32).cast(),
                    &mut len,
                )
            };
            if r == 0 && ty == libc::SOCK_STREAM {
                Sink::StreamSocket
            } else {
                Sink::Other
            }
        }
        _ => Sink::Other,
    }
}

/// Writes all `n` bytes to a blocking pipe or stream socket in pieces it
/// takes without blocking, parking the string while it is full. `None` if
/// `fd` is neither (the caller writes as usual). Returns what a blocking
/// write returns: `n`, or what was written before an error, or -1.
///
/// # Safety
/// `buf` holds `n` readable bytes.
unsafe fn write_in_pieces(fd: i32, buf: *const u8, n: usize, flags: Option<i32>) -> Option<isize> {
    let kind = sink(fd);
    if kind == Sink::Other {
        return None;
    }
    let mut done = 0usize;
    while done < n {
        if before_blocking_call(fd, Interest::Write) {
            return Some(if done > 0 { done as isize } else { eintr() });
        }
        // SAFETY: the caller's buffer, from `done` on.
        let at = unsafe { buf.add(done) };
        let r = match kind {
            // SAFETY: the caller's descriptor and buffer; never blocks.
            Sink::StreamSocket => unsafe {
                libc::send(
                    fd,
                    at.cast(),
                    n - done,
                    flags.unwrap_or(0) | libc::MSG_DONTWAIT,
                )
            },
            // SAFETY: as above; a writable pipe takes PIPE_BUF bytes.
            _ => unsafe { libc::write(fd, at.cast(), (n - done).min(PIPE_BUF)) },
        };
        if r < 0 {
            // SAFETY: errno is thread-local.
            let e = unsafe { *libc::__errno_location() };
            if e == libc::EAGAIN || e == libc::EINTR {
                continue;
            }
            return Some(if done > 0 { done as isize } else { -1 });
        }
        done += r as usize;
    }
    Some(n as isize)
}

pub(crate) unsafe extern "C" fn recv(
    fd: i32,
    buf: *mut libc::c_void,
    n: usize,
    flags: i32,
) -> isize {
    if flags & libc::MSG_DONTWAIT == 0 && before_blocking_call(fd, Interest::Read) {
        return eintr();
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::recv(fd, buf, n, flags) }
}

pub(crate) unsafe extern "C" fn send(
    fd: i32,
    buf: *const libc::c_void,
    n: usize,
    flags: i32,
) -> isize {
    if flags & libc::MSG_DONTWAIT == 0 {
        if n > PIPE_BUF && fd > 2 && on_fiber() && !nonblocking(fd) {
            // SAFETY: the caller's own arguments.
            if let Some(r) = unsafe { write_in_pieces(fd, buf.cast(), n, Some(flags)) } {
                return r;
            }
        }
        if before_blocking_call(fd, Interest::Write) {
            return eintr();
        }
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::send(fd, buf, n, flags) }
}

pub(crate) unsafe extern "C" fn recvfrom(
    fd: i32,
    buf: *mut libc::c_void,
    n: usize,
    flags: i32,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> isize {
    if flags & libc::MSG_DONTWAIT == 0 && before_blocking_call(fd, Interest::Read) {
        return eintr();
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::recvfrom(fd, buf, n, flags, addr, len) }
}

pub(crate) unsafe extern "C" fn sendto(
    fd: i32,
    buf: *const libc::c_void,
    n: usize,
    flags: i32,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> isize {
    if flags & libc::MSG_DONTWAIT == 0 && before_blocking_call(fd, Interest::Write) {
        return eintr();
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::sendto(fd, buf, n, flags, addr, len) }
}

pub(crate) unsafe extern "C" fn accept(
    fd: i32,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> i32 {
    if before_blocking_call(fd, Interest::Read) {
        return eintr() as i32;
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::accept(fd, addr, len) }
}

pub(crate) unsafe extern "C" fn accept4(
    fd: i32,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: i32,
) -> i32 {
    if before_blocking_call(fd, Interest::Read) {
        return eintr() as i32;
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::accept4(fd, addr, len, flags) }
}

pub(crate) unsafe extern "C" fn connect(
    fd: i32,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> i32 {
    crate::cancel::point();
    if !on_fiber() || nonblocking(fd) {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::connect(fd, addr, len) };
    }
    // SAFETY: toggling O_NONBLOCK on the caller's descriptor for the call,
    // then restoring its flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let mut r = libc::connect(fd, addr, len);
        if r != 0 && *libc::__errno_location() == libc::EINPROGRESS {
            while !ready(fd, libc::POLLOUT) {
                if !reactor::wait(fd, Interest::Write) {
                    break;
                }
                if crate::cancel::requested() {
                    // Cancelled while connecting: the descriptor's flags
                    // come back first (POSIX leaves the socket unspecified).
                    libc::fcntl(fd, libc::F_SETFL, flags);
                    crate::cancel::point();
                }
            }
            let mut err: i32 = 0;
            let mut l = std::mem::size_of::<i32>() as libc::socklen_t;
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut i32).cast(),
                &mut l,
            );
            if err == 0 {
                r = 0;
            } else {
                *libc::__errno_location() = err;
                r = -1;
            }
        }
        let saved = *libc::__errno_location();
        libc::fcntl(fd, libc::F_SETFL, flags);
        *libc::__errno_location() = saved;
        r
    }
}

/// A cancellation point, as the others of `events`.
pub(crate) unsafe extern "C" fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: i32) -> i32 {
    crate::cancel::point();
    if !on_fiber() || timeout == 0 {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::poll(fds, n, timeout) };
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    // SAFETY: the caller's own arguments.
    let r = unsafe { crate::events::poll_until(fds, n, deadline) };
    crate::cancel::point();
    r
}
