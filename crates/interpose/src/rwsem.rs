//! Read-write locks and semaphores for bead code: contention parks the
//! string, never its worker.
//!
//! Both keep their state in the first bytes of the object itself, so the
//! all-zero `PTHREAD_RWLOCK_INITIALIZER` works:
//!
//! ```text
//! pthread_rwlock_t  offset 0: u32, bit 31 a writer holds it, bits 0-30 readers
//!                   offset 24: u32, who holds the write lock (glibc's
//!                   `__cur_writer` slot): the string's id, or the thread's
//!                   id with bit 31 set outside strings; 0 when none
//!                   offset 28: u32, 1 when made `PTHREAD_PROCESS_SHARED`
//!                   (glibc's `__shared`; its waiters also look again
//!                   every `SHARED_POLL`)
//!                   offset 40: u32, the write holder's process, for a
//!                   process-shared lock (a forked child's string has its
//!                   parent's id)
//! sem_t             offset 0: u32 value
//!                   offset 4: u32, 1 when made with `pshared` (its
//!                   waiters also look again every `SHARED_POLL`: a post
//!                   from another process cannot wake them)
//! ```
//!
//! Like glibc's default, read locks are preferred (a reader gets in while
//! writers wait), which keeps recursive read locking deadlock-free. Waiters
//! queue in [`crate::pthread`]'s tables keyed by the object's address, and
//! every release wakes them to try again: rwlocks wake all waiters (several
//! readers may get in), semaphores one per post.
//!
//! A lock or semaphore bead code uses must be used only through these
//! functions: a system library taking the same object with glibc's own
//! implementation would see a different layout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use weaves_strings::blocking::current_task;

use crate::pthread::{forget, park_for, realtime_deadline, wait_on, wake};

const WRITER: u32 = 1 << 31;

/// # Safety
/// `addr` points at a live, 4-aligned pthread_rwlock_t or sem_t.
unsafe fn word<'a>(addr: usize) -> &'a AtomicU32 {
    // SAFETY: caller contract; both types are at least 32 bytes, 8-aligned.
    unsafe { &*(addr as *const AtomicU32) }
}

/// Offset of the write holder in a pthread_rwlock_t (see the module docs).
const WRITER_OFFSET: usize = 24;

/// Who the caller is, for the write holder slot.
fn me() -> u32 {
    match weaves_strings::current() {
        Some(c) => c.info.id,
        // SAFETY: gettid has no preconditions.
        None => (unsafe { libc::gettid() } as u32) | WRITER,
    }
}

/// The write holder slot of the rwlock at `addr`.
fn writer_of<'a>(addr: usize) -> &'a AtomicU32 {
    // SAFETY: `addr` is a pthread_rwlock_t (56 bytes, 8-aligned): offset 24
    // is a 4-aligned u32 inside it.
    unsafe { word(addr + WRITER_OFFSET) }
}

/// Whether the rwlock at `addr` was made process-shared.
fn rwlock_shared(addr: usize) -> bool {
    // SAFETY: `addr` is a pthread_rwlock_t (56 bytes, 8-aligned): offset
    // 28 is a 4-aligned u32 inside it.
    unsafe { word(addr + 28) }.load(Ordering::Relaxed) == 1
}

/// The write holder's process slot of a process-shared rwlock.
fn writer_pid_of<'a>(addr: usize) -> &'a AtomicU32 {
    // SAFETY: as above, offset 40 (glibc's padding).
    unsafe { word(addr + 40) }
}

/// Whether the caller holds the write lock at `addr` (a second lock would
/// wait for itself: EDEADLK, as glibc says).
fn holds_write(addr: usize) -> bool {
    // SAFETY: the caller passed a pthread_rwlock_t.
    let s = unsafe { word(addr) }.load(Ordering::Acquire);
    s & WRITER != 0
        && writer_of(addr).load(Ordering::Relaxed) == me()
        && (!rwlock_shared(addr)
            || writer_pid_of(addr).load(Ordering::Relaxed) == std::process::id())
}

/// Waits on `addr` until `try_take` succeeds or `deadline` passes; returns
/// whether it succeeded. `blocked` says (under the waiters' lock) whether
/// waiting is still needed; a `shared` object is also looked at again
/// every `SHARED_POLL`.
fn acquire(
    addr: usize,
    deadline: Option<Instant>,
    shared: bool,
    try_take: impl Fn() -> bool,
    blocked: impl Fn() -> bool,
) -> bool {
    let mut registered = None;
    loop {
        if try_take() {
            if let Some(t) = &registered {
                forget(addr, t);
            }
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(t) = &registered {
                forget(addr, t);
            }
            return false;
        }
        match current_task() {
            Some(task) => {
                forget(addr, &task);
                if wait_on(addr, &task, &blocked) {
                    registered = Some(task);
                    park_for(deadline, shared);
                }
            }
            // Outside strings: poll.
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

// ---- read-write locks ------------------------------------------------------

fn try_read(addr: usize) -> bool {
    // SAFETY: the caller passed a pthread_rwlock_t.
    let w = unsafe { word(addr) };
    let s = w.load(Ordering::Relaxed);
    s & WRITER == 0
        && s & !WRITER < WRITER - 1
        && w.compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
}

fn try_write(addr: usize) -> bool {
    // SAFETY: as above.
    let w = unsafe { word(addr) };
    let taken = w
        .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        .is_ok();
    if taken {
        writer_of(addr).store(me(), Ordering::Relaxed);
        if rwlock_shared(addr) {
            writer_pid_of(addr).store(std::process::id(), Ordering::Relaxed);
        }
    }
    taken
}

fn rdlock_until(addr: usize, deadline: Option<Instant>) -> i32 {
    if holds_write(addr) {
        return libc::EDEADLK;
    }
    // SAFETY: as above.
    let blocked = || unsafe { word(addr) }.load(Ordering::SeqCst) & WRITER != 0;
    if acquire(
        addr,
        deadline,
        rwlock_shared(addr),
        || try_read(addr),
        blocked,
    ) {
        0
    } else {
        libc::ETIMEDOUT
    }
}

fn wrlock_until(addr: usize, deadline: Option<Instant>) -> i32 {
    if holds_write(addr) {
        return libc::EDEADLK;
    }
    // SAFETY: as above.
    let blocked = || unsafe { word(addr) }.load(Ordering::SeqCst) != 0;
    if acquire(
        addr,
        deadline,
        rwlock_shared(addr),
        || try_write(addr),
        blocked,
    ) {
        0
    } else {
        libc::ETIMEDOUT
    }
}

pub(crate) unsafe extern "C" fn rwlock_init(
    l: *mut libc::c_void,
    attr: *const libc::c_void,
) -> i32 {
    let mut pshared = libc::PTHREAD_PROCESS_PRIVATE;
    if !attr.is_null() {
        // SAFETY: reading the sharing of a valid attribute object with libc.
        unsafe { libc::pthread_rwlockattr_getpshared(attr.cast(), &mut pshared) };
    }
    // SAFETY: the caller passes a pthread_rwlock_t (56 bytes).
    unsafe {
        std::ptr::write_bytes(l.cast::<u8>(), 0, 56);
        word(l as usize + 28).store(
            u32::from(pshared == libc::PTHREAD_PROCESS_SHARED),
            Ordering::Relaxed,
        );
    }
    0
}

pub(crate) unsafe extern "C" fn rwlock_destroy(l: *mut libc::c_void) -> i32 {
    // SAFETY: the caller passes a pthread_rwlock_t.
    if unsafe { word(l as usize) }.load(Ordering::Acquire) != 0 {
        return libc::EBUSY;
    }
    0
}

pub(crate) unsafe extern "C" fn rwlock_rdlock(l: *mut libc::c_void) -> i32 {
    rdlock_until(l as usize, None)
}

pub(crate) unsafe extern "C" fn rwlock_wrlock(l: *mut libc::c_void) -> i32 {
    wrlock_until(l as usize, None)
}

pub(crate) unsafe extern "C" fn rwlock_tryrdlock(l: *mut libc::c_void) -> i32 {
    if try_read(l as usize) {
        0
    } else {
        libc::EBUSY
    }
}

pub(crate) unsafe extern "C" fn rwlock_trywrlock(l: *mut libc::c_void) -> i32 {
    if try_write(l as usize) {
        0
    } else {
        libc::EBUSY
    }
}

pub(crate) unsafe extern "C" fn rwlock_timedrdlock(
    l: *mut libc::c_void,
    abstime: *const libc::timespec,
) -> i32 {
    match realtime_deadline(abstime) {
        Some(d) => rdlock_until(l as usize, Some(d)),
        None => libc::EINVAL,
    }
}

pub(crate) unsafe extern "C" fn rwlock_timedwrlock(
    l: *mut libc::c_void,
    abstime: *const libc::timespec,
) -> i32 {
    match realtime_deadline(abstime) {
        Some(d) => wrlock_until(l as usize, Some(d)),
        None => libc::EINVAL,
    }
}

pub(crate) unsafe extern "C" fn rwlock_unlock(l: *mut libc::c_void) -> i32 {
    let addr = l as usize;
    // SAFETY: the caller passes a pthread_rwlock_t.
    let w = unsafe { word(addr) };
    let s = w.load(Ordering::Relaxed);
    let released = if s & WRITER != 0 {
        writer_of(addr).store(0, Ordering::Relaxed);
        w.store(0, Ordering::SeqCst);
        true
    } else if s == 0 {
        return libc::EPERM;
    } else {
        w.fetch_sub(1, Ordering::SeqCst) == 1
    };
    if released {
        wake(addr, usize::MAX);
    }
    weaves_strings::blocking::preempt_point();
    0
}

// ---- semaphores ------------------------------------------------------------

fn set_errno(e: i32) -> i32 {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = e };
    -1
}

fn try_down(addr: usize) -> bool {
    // SAFETY: the caller passed a sem_t.
    let w = unsafe { word(addr) };
    let v = w.load(Ordering::Relaxed);
    v > 0
        && w.compare_exchange(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
}

fn sem_wait_until(addr: usize, deadline: Option<Instant>) -> i32 {
    // SAFETY: as above.
    let blocked = || unsafe { word(addr) }.load(Ordering::SeqCst) == 0;
    // SAFETY: the caller passed a sem_t (32 bytes): offset 4 is inside it.
    let shared = unsafe { word(addr + 4) }.load(Ordering::Relaxed) == 1;
    if acquire(addr, deadline, shared, || try_down(addr), blocked) {
        0
    } else {
        set_errno(libc::ETIMEDOUT)
    }
}

pub(crate) unsafe extern "C" fn sem_init(s: *mut libc::c_void, pshared: i32, value: u32) -> i32 {
    if value > i32::MAX as u32 {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: the caller passes a sem_t (32 bytes).
    unsafe {
        std::ptr::write_bytes(s.cast::<u8>(), 0, 32);
        word(s as usize + 4).store(u32::from(pshared != 0), Ordering::Relaxed);
        word(s as usize).store(value, Ordering::Release);
    }
    0
}

pub(crate) unsafe extern "C" fn sem_destroy(_s: *mut libc::c_void) -> i32 {
    0
}

/// A cancellation point (on entry).
pub(crate) unsafe extern "C" fn sem_wait(s: *mut libc::c_void) -> i32 {
    crate::cancel::point();
    sem_wait_until(s as usize, None)
}

pub(crate) unsafe extern "C" fn sem_trywait(s: *mut libc::c_void) -> i32 {
    if try_down(s as usize) {
        0
    } else {
        set_errno(libc::EAGAIN)
    }
}

pub(crate) unsafe extern "C" fn sem_timedwait(
    s: *mut libc::c_void,
    abstime: *const libc::timespec,
) -> i32 {
    if try_down(s as usize) {
        return 0;
    }
    match realtime_deadline(abstime) {
        Some(d) => sem_wait_until(s as usize, Some(d)),
        None => set_errno(libc::EINVAL),
    }
}

pub(crate) unsafe extern "C" fn sem_post(s: *mut libc::c_void) -> i32 {
    let addr = s as usize;
    // SAFETY: the caller passes a sem_t.
    let w = unsafe { word(addr) };
    if w.load(Ordering::Relaxed) >= i32::MAX as u32 {
        return set_errno(libc::EOVERFLOW);
    }
    w.fetch_add(1, Ordering::SeqCst);
    wake(addr, 1);
    weaves_strings::blocking::preempt_point();
    0
}

pub(crate) unsafe extern "C" fn sem_getvalue(s: *mut libc::c_void, value: *mut i32) -> i32 {
    if value.is_null() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: the caller passes a sem_t and an int to write.
    unsafe { *value = word(s as usize).load(Ordering::Acquire) as i32 };
    0
}
