//! Scheduling policies and priorities of strings (`SCHED_FIFO`, `SCHED_RR`
//! and the others): accepted or refused as natively, recorded, and read
//! back — but taken as hints the scheduler does not follow (every string
//! of a worker gets its turn; a real-time policy would have to apply to
//! the worker thread, and so to every string on it).
//!
//! * `pthread_setschedparam`/`pthread_setschedprio` on a string, and
//!   `pthread_create` with an explicit policy in its attribute, check the
//!   policy and priority as the kernel does (`EINVAL`), and refuse a
//!   real-time policy with `EPERM` unless the process may use one — which
//!   a short-lived helper thread asks the kernel once.
//! * `pthread_getschedparam` answers what was recorded (`SCHED_OTHER`, 0
//!   for a string that asked nothing; a thread inherits its creator's
//!   unless its attribute says `PTHREAD_EXPLICIT_SCHED`).
//!
//! glibc's own functions would read the pthread id as its thread
//! descriptor (a string's is not one) and hung. Threads that are not
//! strings get the C library's functions.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use weaves_strings::{current, RuntimeSection};

use crate::pthread::task_of;

/// (policy, priority).
pub(crate) type Sched = (i32, i32);

const OTHER: Sched = (libc::SCHED_OTHER, 0);

static RECORDED: Mutex<Option<HashMap<u32, Sched>>> = Mutex::new(None);

fn recorded(id: u32) -> Sched {
    let _rt = RuntimeSection::enter();
    RECORDED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&id).copied())
        .unwrap_or(OTHER)
}

/// Records string `id`'s policy and priority.
pub(crate) fn record(id: u32, sched: Sched) {
    let _rt = RuntimeSection::enter();
    let mut g = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
    let m = g.get_or_insert_with(HashMap::new);
    if sched == OTHER {
        m.remove(&id);
    } else {
        m.insert(id, sched);
    }
}

/// Whether the process may use real-time policies: a helper thread tries
/// one on itself (and ends with it).
fn realtime_allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| {
        let _rt = RuntimeSection::enter();
        std::thread::spawn(|| {
            let p = libc::sched_param { sched_priority: 1 };
            // SAFETY: changing the helper thread's own policy.
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &p) == 0 }
        })
        .join()
        .unwrap_or(false)
    })
}

/// Checks a request as the kernel would: 0 or the error number.
fn check(policy: i32, priority: i32) -> i32 {
    let known = [
        libc::SCHED_OTHER,
        libc::SCHED_FIFO,
        libc::SCHED_RR,
        libc::SCHED_BATCH,
        libc::SCHED_IDLE,
    ];
    if !known.contains(&policy) {
        return libc::EINVAL;
    }
    // SAFETY: plain queries of the kernel's range for `policy`.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(policy),
            libc::sched_get_priority_max(policy),
        )
    };
    if priority < min || priority > max {
        return libc::EINVAL;
    }
    let realtime = policy == libc::SCHED_FIFO || policy == libc::SCHED_RR;
    if realtime && !realtime_allowed() {
        return libc::EPERM;
    }
    0
}

/// The string a pthread id names, for a caller that is a string.
fn string_of(thread: u64) -> Option<u32> {
    current()?;
    task_of(thread).map(|t| t.ctx.info.id)
}

/// What a thread made with `attr` by the running string starts with, or
/// the error `pthread_create` returns.
///
/// # Safety
/// `attr` is null or a valid attribute object.
pub(crate) unsafe fn for_new_thread(attr: *const libc::pthread_attr_t) -> Result<Sched, i32> {
    let inherited = current().map_or(OTHER, |c| recorded(c.info.id));
    if attr.is_null() {
        return Ok(inherited);
    }
    extern "C" {
        fn pthread_attr_getinheritsched(
            attr: *const libc::pthread_attr_t,
            inherit: *mut i32,
        ) -> i32;
    }
    let mut inherit = 0;
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: reading a valid attribute object with the C library.
    unsafe {
        pthread_attr_getinheritsched(attr, &mut inherit);
        if inherit != libc::PTHREAD_EXPLICIT_SCHED {
            return Ok(inherited);
        }
        libc::pthread_attr_getschedpolicy(attr, &mut policy);
        libc::pthread_attr_getschedparam(attr, &mut param);
    }
    match check(policy, param.sched_priority) {
        0 => Ok((policy, param.sched_priority)),
        e => Err(e),
    }
}

unsafe extern "C" fn get(thread: u64, policy: *mut i32, param: *mut libc::sched_param) -> i32 {
    let Some(id) = string_of(thread) else {
        if current().is_some() {
            return libc::ESRCH;
        }
        // SAFETY: a C library thread, the caller's out-parameters.
        return unsafe { libc::pthread_getschedparam(thread as libc::pthread_t, policy, param) };
    };
    let (p, prio) = recorded(id);
    // SAFETY: the caller's out-parameters.
    unsafe {
        *policy = p;
        (*param).sched_priority = prio;
    }
    0
}

unsafe extern "C" fn set(thread: u64, policy: i32, param: *const libc::sched_param) -> i32 {
    let Some(id) = string_of(thread) else {
        if current().is_some() {
            return libc::ESRCH;
        }
        // SAFETY: a C library thread, the caller's arguments.
        return unsafe { libc::pthread_setschedparam(thread as libc::pthread_t, policy, param) };
    };
    if param.is_null() {
        return libc::EINVAL;
    }
    // SAFETY: the caller's sched_param.
    let priority = unsafe { (*param).sched_priority };
    match check(policy, priority) {
        0 => {
            record(id, (policy, priority));
            0
        }
        e => e,
    }
}

unsafe extern "C" fn set_priority(thread: u64, priority: i32) -> i32 {
    extern "C" {
        fn pthread_setschedprio(thread: libc::pthread_t, priority: i32) -> i32;
    }
    let Some(id) = string_of(thread) else {
        if current().is_some() {
            return libc::ESRCH;
        }
        // SAFETY: a C library thread.
        return unsafe { pthread_setschedprio(thread as libc::pthread_t, priority) };
    };
    let (policy, _) = recorded(id);
    match check(policy, priority) {
        0 => {
            record(id, (policy, priority));
            0
        }
        e => e,
    }
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_getschedparam" => get as *const () as usize,
        "pthread_setschedparam" => set as *const () as usize,
        "pthread_setschedprio" => set_priority as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
