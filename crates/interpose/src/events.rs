//! Event-loop waits park the string: `epoll_wait`, `epoll_pwait`,
//! `epoll_pwait2`, `select`, `pselect` and `ppoll` (and `poll`, in
//! `io`), so that a string waiting for a descriptor lets the other strings
//! of its worker run — the one that would write to it, say.
//!
//! Each looks without waiting (the C library's call with a zero timeout);
//! if nothing is ready, the string parks and looks again:
//!
//! * with no timeout, on the reactor for the one descriptor that tells
//!   (the epoll descriptor itself; the only descriptor of a `poll`), or
//!   every millisecond when there are several;
//! * with a timeout, every millisecond until it passes (the reactor has no
//!   deadline of its own).
//!
//! A signal handled while the string is parked ends the wait with `EINTR`
//! (these calls are never restarted). Each is a cancellation point: a
//! pending `pthread_cancel` request is acted on when the call is made, and
//! one that comes while the string waits wakes it and ends it. The signal masks of `epoll_pwait`,
//! `pselect` and `ppoll` are not applied; the calls otherwise behave as
//! the C library's. Outside fiber strings, the C library's calls run
//! unchanged.

use std::time::{Duration, Instant};

use weaves_strings::blocking::park_until;
use weaves_strings::reactor::{self, Interest};

fn on_fiber() -> bool {
    weaves_strings::hold::parks_fiber()
}

/// How often a string waiting with a deadline (or on several descriptors)
/// looks again.
const STEP: Duration = Duration::from_millis(1);

/// Looks with `look` until it reports something (non-zero: a count, or -1
/// with `errno` set) or `deadline` passes (then 0). Between looks the
/// string parks: on the reactor for `watch` when there is no deadline,
/// else for [`STEP`].
pub(crate) fn park_while_idle(
    watch: Option<i32>,
    deadline: Option<Instant>,
    mut look: impl FnMut() -> i32,
) -> i32 {
    loop {
        let r = look();
        if r != 0 {
            return r;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return 0;
        }
        let step = now + STEP;
        let until = deadline.map_or(step, |d| d.min(step));
        // A signal handled while parked ends the wait with EINTR: these
        // calls are never restarted, whatever SA_RESTART says.
        let (_, handled) = crate::signals::around_park(|| match (watch, deadline) {
            (Some(fd), None) if reactor::wait(fd, Interest::Read) => {}
            _ => {
                park_until(until);
            }
        });
        if handled.is_some() {
            return fail(libc::EINTR);
        }
        if crate::cancel::requested() {
            // The caller drops what it holds and acts on it
            // (`cancel::point`).
            return fail(libc::EINTR);
        }
    }
}

/// A deadline `ms` milliseconds from now; `None` for a negative (endless)
/// timeout.
fn deadline_ms(ms: i32) -> Option<Instant> {
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

fn deadline_ts(ts: *const libc::timespec) -> Result<Option<Instant>, i32> {
    if ts.is_null() {
        return Ok(None);
    }
    // SAFETY: C's contract: a non-null timespec pointer is readable.
    let t = unsafe { *ts };
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(libc::EINVAL);
    }
    Ok(Some(
        Instant::now() + Duration::new(t.tv_sec as u64, t.tv_nsec as u32),
    ))
}

fn is_zero_ts(ts: *const libc::timespec) -> bool {
    // SAFETY: as in `deadline_ts`.
    !ts.is_null() && unsafe { (*ts).tv_sec == 0 && (*ts).tv_nsec == 0 }
}

fn fail(e: i32) -> i32 {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = e };
    -1
}

/// `epoll_wait`: a cancellation point around [`epoll_wait_waiting`].
unsafe extern "C" fn epoll_wait(
    epfd: i32,
    events: *mut libc::epoll_event,
    max: i32,
    timeout: i32,
) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's own arguments.
    let r = unsafe { epoll_wait_waiting(epfd, events, max, timeout) };
    crate::cancel::point();
    r
}

unsafe fn epoll_wait_waiting(
    epfd: i32,
    events: *mut libc::epoll_event,
    max: i32,
    timeout: i32,
) -> i32 {
    if !on_fiber() || timeout == 0 {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::epoll_wait(epfd, events, max, timeout) };
    }
    park_while_idle(Some(epfd), deadline_ms(timeout), || {
        // SAFETY: the caller's own arguments, without waiting.
        unsafe { libc::epoll_wait(epfd, events, max, 0) }
    })
}

unsafe extern "C" fn epoll_pwait(
    epfd: i32,
    events: *mut libc::epoll_event,
    max: i32,
    timeout: i32,
    mask: *const libc::sigset_t,
) -> i32 {
    crate::cancel::point();
    if !on_fiber() || timeout == 0 {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::epoll_pwait(epfd, events, max, timeout, mask) };
    }
    // SAFETY: as for epoll_wait.
    unsafe { epoll_wait(epfd, events, max, timeout) }
}

/// `epoll_pwait2`: a cancellation point around [`epoll_pwait2_waiting`].
unsafe extern "C" fn epoll_pwait2(
    epfd: i32,
    events: *mut libc::epoll_event,
    max: i32,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's own arguments.
    let r = unsafe { epoll_pwait2_waiting(epfd, events, max, timeout, mask) };
    crate::cancel::point();
    r
}

unsafe fn epoll_pwait2_waiting(
    epfd: i32,
    events: *mut libc::epoll_event,
    max: i32,
    timeout: *const libc::timespec,
    _mask: *const libc::sigset_t,
) -> i32 {
    let deadline = match deadline_ts(timeout) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if !on_fiber() || is_zero_ts(timeout) {
        let ms = deadline.map_or(-1, |d| {
            i32::try_from(d.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(i32::MAX)
        });
        // SAFETY: the caller's own arguments.
        return unsafe { libc::epoll_wait(epfd, events, max, ms) };
    }
    park_while_idle(Some(epfd), deadline, || {
        // SAFETY: the caller's own arguments, without waiting.
        unsafe { libc::epoll_wait(epfd, events, max, 0) }
    })
}

/// The `fd_set`s of `select` as `pollfd`s, and back.
struct Sets {
    fds: Vec<libc::pollfd>,
}

impl Sets {
    /// # Safety
    /// Each non-null set must be an `fd_set` covering `nfds` descriptors.
    unsafe fn of(
        nfds: i32,
        r: *mut libc::fd_set,
        w: *mut libc::fd_set,
        e: *mut libc::fd_set,
    ) -> Sets {
        let mut fds = Vec::new();
        for fd in 0..nfds.clamp(0, libc::FD_SETSIZE as i32) {
            // SAFETY: caller contract; FD_ISSET only reads the set.
            let has = |s: *mut libc::fd_set| !s.is_null() && unsafe { libc::FD_ISSET(fd, s) };
            let mut events = 0;
            if has(r) {
                events |= libc::POLLIN;
            }
            if has(w) {
                events |= libc::POLLOUT;
            }
            if has(e) {
                events |= libc::POLLPRI;
            }
            if events != 0 {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
            }
        }
        Sets { fds }
    }

    /// Looks once without waiting: the number of ready bits, as `select`
    /// counts them (0 if none), or -1 with EBADF.
    fn look(&mut self) -> i32 {
        // SAFETY: our own pollfd array.
        let r = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, 0) };
        if r <= 0 {
            return r;
        }
        if self.fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return fail(libc::EBADF);
        }
        self.fds
            .iter()
            .map(|p| {
                let ready = |bits: i16| i32::from(p.revents & bits != 0);
                ready(libc::POLLIN | libc::POLLHUP | libc::POLLERR)
                    * i32::from(p.events & libc::POLLIN != 0)
                    + ready(libc::POLLOUT | libc::POLLERR)
                        * i32::from(p.events & libc::POLLOUT != 0)
                    + ready(libc::POLLPRI) * i32::from(p.events & libc::POLLPRI != 0)
            })
            .sum()
    }

    /// Writes the ready descriptors back into the sets.
    ///
    /// # Safety
    /// As for [`Sets::of`].
    unsafe fn store(&self, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set) {
        // SAFETY: caller contract: each non-null set is writable.
        unsafe {
            for s in [r, w, e] {
                if !s.is_null() {
                    libc::FD_ZERO(s);
                }
            }
            for p in &self.fds {
                if p.events & libc::POLLIN != 0
                    && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                {
                    libc::FD_SET(p.fd, r);
                }
                if p.events & libc::POLLOUT != 0 && p.revents & (libc::POLLOUT | libc::POLLERR) != 0
                {
                    libc::FD_SET(p.fd, w);
                }
                if p.events & libc::POLLPRI != 0 && p.revents & libc::POLLPRI != 0 {
                    libc::FD_SET(p.fd, e);
                }
            }
        }
    }
}

/// `select` and `pselect` over a deadline.
///
/// # Safety
/// The caller's `select` arguments.
unsafe fn select_until(
    nfds: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    deadline: Option<Instant>,
) -> i32 {
    // SAFETY: caller contract.
    let mut sets = unsafe { Sets::of(nfds, r, w, e) };
    let watch = (sets.fds.len() == 1).then(|| sets.fds[0].fd);
    let n = park_while_idle(watch, deadline, || sets.look());
    if n >= 0 {
        // SAFETY: caller contract. On a timeout every set comes back empty.
        unsafe { sets.store(r, w, e) };
    }
    n
}

/// `select`: a cancellation point around [`select_waiting`].
unsafe extern "C" fn select(
    nfds: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's own arguments.
    let r = unsafe { select_waiting(nfds, r, w, e, timeout) };
    crate::cancel::point();
    r
}

unsafe fn select_waiting(
    nfds: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> i32 {
    // SAFETY: C's contract: a non-null timeval is readable and writable.
    let zero = !timeout.is_null() && unsafe { (*timeout).tv_sec == 0 && (*timeout).tv_usec == 0 };
    if !on_fiber() || zero {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::select(nfds, r, w, e, timeout) };
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: as above.
        let t = unsafe { *timeout };
        if t.tv_sec < 0 || !(0..1_000_000).contains(&t.tv_usec) {
            return fail(libc::EINVAL);
        }
        Some(Instant::now() + Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000))
    };
    // SAFETY: the caller's own arguments.
    let n = unsafe { select_until(nfds, r, w, e, deadline) };
    if let Some(d) = deadline {
        // Linux's select leaves the time not slept in the timeval.
        let left = d.saturating_duration_since(Instant::now());
        // SAFETY: as above.
        unsafe {
            (*timeout).tv_sec = left.as_secs() as libc::time_t;
            (*timeout).tv_usec = left.subsec_micros() as libc::suseconds_t;
        }
    }
    n
}

/// `pselect`: a cancellation point around [`pselect_waiting`].
unsafe extern "C" fn pselect(
    nfds: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's own arguments.
    let r = unsafe { pselect_waiting(nfds, r, w, e, timeout, mask) };
    crate::cancel::point();
    r
}

unsafe fn pselect_waiting(
    nfds: i32,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> i32 {
    if !on_fiber() || is_zero_ts(timeout) {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::pselect(nfds, r, w, e, timeout, mask) };
    }
    match deadline_ts(timeout) {
        // SAFETY: the caller's own arguments.
        Ok(deadline) => unsafe { select_until(nfds, r, w, e, deadline) },
        Err(code) => fail(code),
    }
}

/// `ppoll`: a cancellation point around [`ppoll_waiting`].
unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's own arguments.
    let r = unsafe { ppoll_waiting(fds, n, timeout, mask) };
    crate::cancel::point();
    r
}

unsafe fn ppoll_waiting(
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> i32 {
    if !on_fiber() || is_zero_ts(timeout) {
        // SAFETY: the caller's own arguments.
        return unsafe { libc::ppoll(fds, n, timeout, mask) };
    }
    let deadline = match deadline_ts(timeout) {
        Ok(d) => d,
        Err(code) => return fail(code),
    };
    // SAFETY: the caller's own arguments.
    unsafe { poll_until(fds, n, deadline) }
}

/// `poll` over a deadline (see the module docs).
///
/// # Safety
/// The caller's `poll` arguments.
pub(crate) unsafe fn poll_until(
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    deadline: Option<Instant>,
) -> i32 {
    // SAFETY: caller contract: `n` valid pollfds.
    let watch = (n == 1).then(|| unsafe { (*fds).fd });
    park_while_idle(watch, deadline, || {
        // SAFETY: the caller's own arguments, without waiting.
        unsafe { libc::poll(fds, n, 0) }
    })
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "epoll_wait" => epoll_wait as *const () as usize,
        "epoll_pwait" => epoll_pwait as *const () as usize,
        "epoll_pwait2" => epoll_pwait2 as *const () as usize,
        "select" => select as *const () as usize,
        "pselect" => pselect as *const () as usize,
        "ppoll" => ppoll as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
