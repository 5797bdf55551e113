//! Checkpointable calls: the calls at which a string can be caught for a
//! checkpoint, and `wv_checkpoint`.
//!
//! In a checkpointable tapestry, bead imports of these calls bind to stubs
//! that push a boundary record (`weaves_strings::resume`) before the
//! ordinary implementation runs. A string waiting in one of them, or
//! arriving at one while a checkpoint is pending, is at rest; restored in
//! another process, it re-enters the call from the start (a sleep is slept
//! again, a lock taken again, a join waited again), except for:
//!
//! * condition waits, which return 0 after taking the mutex again (a
//!   spurious wakeup, which callers must handle anyway), and
//! * `wv_checkpoint`, which returns 1 (also after a rollback, which is a
//!   restore of the latest checkpoint in place of the running tapestry).
//!
//! Message waits (`wv_recv`) are boundaries too: a receiver waiting on an
//! empty queue takes its message after the restore (queues are saved with
//! the image).

use std::sync::{Arc, Mutex};

use weaves_strings::quiesce::{boundary, pending, rest};
use weaves_strings::resume::{return_one, Boundary};

use crate::{api, pthread, sleep};

/// Result of a checkpoint a string asked for: `None` until it is taken.
pub type Taken = Arc<Mutex<Option<Result<(), String>>>>;

/// What bead code asks of the tapestry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// `wv_checkpoint()`.
    Checkpoint,
    /// `wv_rollback()`: back to the latest checkpoint. Succeeding, it does
    /// not come back: the slot is filled only with a refusal.
    Rollback,
}

type Hook = Box<dyn Fn(Ask) -> Option<Taken> + Send + Sync>;

static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Sets who takes checkpoints and rollbacks that bead code asks for
/// (`wv_checkpoint`, `wv_rollback`): the hook starts one and hands back
/// where its result will appear.
pub fn set_checkpoint_hook(hook: Option<Hook>) {
    *HOOK.lock().unwrap_or_else(|e| e.into_inner()) = hook;
}

macro_rules! checkpointable {
    ($stub:ident, $at:ident, $resume:expr, |$rec:ident| $body:expr) => {
        weaves_strings::boundary_stub!($stub, $at);
        extern "C" {
            fn $stub();
        }
        // The body may be a block (rustfmt's choice for longer ones).
        #[allow(unused_braces)]
        extern "C" fn $at($rec: &Boundary) -> u64 {
            let _at = boundary($rec, $resume);
            $body
        }
    };
}

fn restart(stub: unsafe extern "C" fn()) -> u64 {
    stub as *const () as u64
}

checkpointable!(weaves_cp_sleep, sleep_at, restart(weaves_cp_sleep), |r| {
    u64::from(sleep::sleep(r.args[0] as u32))
});
checkpointable!(
    weaves_cp_usleep,
    usleep_at,
    restart(weaves_cp_usleep),
    |r| { sleep::usleep(r.args[0] as u32) as i64 as u64 }
);
checkpointable!(
    weaves_cp_nanosleep,
    nanosleep_at,
    restart(weaves_cp_nanosleep),
    |r| {
        // SAFETY: the bead's own arguments, passed on unchanged.
        unsafe { sleep::nanosleep(r.args[0] as *const _, r.args[1] as *mut _) as i64 as u64 }
    }
);
checkpointable!(
    weaves_cp_clock_nanosleep,
    clock_nanosleep_at,
    restart(weaves_cp_clock_nanosleep),
    |r| {
        // SAFETY: the bead's own arguments, passed on unchanged.
        unsafe {
            sleep::clock_nanosleep(
                r.args[0] as i32,
                r.args[1] as i32,
                r.args[2] as *const _,
                r.args[3] as *mut _,
            ) as i64 as u64
        }
    }
);
checkpointable!(
    weaves_cp_sched_yield,
    sched_yield_at,
    restart(weaves_cp_sched_yield),
    |_r| sleep::sched_yield() as i64 as u64
);
checkpointable!(
    weaves_cp_wv_yield,
    wv_yield_at,
    restart(weaves_cp_wv_yield),
    |_r| {
        api::wv_yield();
        0
    }
);
checkpointable!(
    weaves_cp_mutex_lock,
    mutex_lock_at,
    restart(weaves_cp_mutex_lock),
    // SAFETY: the bead's own argument, passed on unchanged.
    |r| unsafe { pthread::mutex_lock(r.args[0] as *mut _) as i64 as u64 }
);
checkpointable!(
    weaves_cp_cond_wait,
    cond_wait_at,
    cond_resume as *const () as u64,
    // SAFETY: the bead's own arguments, passed on unchanged.
    |r| unsafe { pthread::cond_wait(r.args[0] as *mut _, r.args[1] as *mut _) as i64 as u64 }
);
checkpointable!(
    weaves_cp_cond_timedwait,
    cond_timedwait_at,
    cond_resume as *const () as u64,
    |r| {
        // SAFETY: the bead's own arguments, passed on unchanged.
        unsafe {
            pthread::cond_timedwait(
                r.args[0] as *mut _,
                r.args[1] as *mut _,
                r.args[2] as *const _,
            ) as i64 as u64
        }
    }
);
checkpointable!(weaves_cp_join, join_at, restart(weaves_cp_join), |r| {
    // SAFETY: the bead's own arguments, passed on unchanged.
    unsafe { pthread::join(r.args[0], r.args[1] as *mut u64) as i64 as u64 }
});
checkpointable!(
    weaves_cp_wv_recv,
    wv_recv_at,
    restart(weaves_cp_wv_recv),
    |r| {
        // SAFETY: the bead's own arguments, passed on unchanged.
        unsafe {
            crate::messages::recv_with_return(
                r.args[0] as *const _,
                r.args[1] as *mut u8,
                r.args[2] as usize,
                r.ret,
            ) as i64 as u64
        }
    }
);
checkpointable!(weaves_cp_checkpoint, checkpoint_at, return_one(), |_r| {
    ask(Ask::Checkpoint)
});
checkpointable!(
    weaves_cp_rollback,
    rollback_at,
    restart(weaves_cp_rollback),
    |_r| ask(Ask::Rollback)
);

/// A condition wait resumed after a restore: the mutex is taken again and
/// the wait ends as a spurious wakeup.
extern "C" fn cond_resume(_cond: *mut libc::c_void, mutex: *mut libc::c_void) -> i32 {
    // SAFETY: the bead's own mutex, which it held when it began to wait.
    unsafe { pthread::mutex_lock(mutex) };
    0
}

/// `int wv_checkpoint(void)`: 0 once the checkpoint is taken, -1 if it
/// could not be (the reason is printed), 1 in a restored process.
/// `int wv_rollback(void)`: does not return if the tapestry rolls back;
/// -1 (the reason printed) if it cannot.
fn ask(what: Ask) -> u64 {
    let call = match what {
        Ask::Checkpoint => "wv_checkpoint",
        Ask::Rollback => "wv_rollback",
    };
    let taken = {
        let _rt = weaves_strings::RuntimeSection::enter();
        let hook = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        hook.as_ref().and_then(|h| h(what))
    };
    let Some(taken) = taken else {
        let _rt = weaves_strings::RuntimeSection::enter();
        eprintln!(
            "weaves: {call}: not supported: this tapestry is not checkpointable \
             (run it with --checkpointable or give it a [checkpoint] table)"
        );
        return -1i64 as u64;
    };
    loop {
        if let Some(result) = taken.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return match result {
                Ok(()) => 0,
                Err(e) => {
                    let _rt = weaves_strings::RuntimeSection::enter();
                    eprintln!("weaves: {call}: {e}");
                    -1i64 as u64
                }
            };
        }
        if pending() {
            rest();
        } else {
            weaves_strings::blocking::yield_now();
        }
    }
}

/// The stub bead imports of `name` bind to in a checkpointable tapestry.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    if !weaves_strings::quiesce::checkpointable()
        && name != "wv_checkpoint"
        && name != "wv_rollback"
    {
        return None;
    }
    let stub: unsafe extern "C" fn() = match name {
        "sleep" => weaves_cp_sleep,
        "usleep" => weaves_cp_usleep,
        "nanosleep" | "__nanosleep" => weaves_cp_nanosleep,
        "clock_nanosleep" => weaves_cp_clock_nanosleep,
        "sched_yield" | "pthread_yield" | "thrd_yield" => weaves_cp_sched_yield,
        "wv_yield" => weaves_cp_wv_yield,
        "pthread_mutex_lock" => weaves_cp_mutex_lock,
        "pthread_cond_wait" => weaves_cp_cond_wait,
        "pthread_cond_timedwait" => weaves_cp_cond_timedwait,
        "pthread_join" => weaves_cp_join,
        "wv_recv" => weaves_cp_wv_recv,
        "wv_checkpoint" => weaves_cp_checkpoint,
        "wv_rollback" => weaves_cp_rollback,
        _ => return None,
    };
    Some(stub as *const () as u64)
}

/// pthread ids bead code holds: (id, string id).
pub fn thread_ids() -> Vec<(u64, u32)> {
    pthread::thread_ids()
}

/// After a restore: pthread id `id` names `task` again.
pub fn adopt_thread(id: u64, task: Arc<weaves_strings::Task>) {
    pthread::adopt_thread(id, task);
}
