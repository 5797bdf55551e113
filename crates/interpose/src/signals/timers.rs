//! Timers per bead: `alarm`, `setitimer(ITIMER_REAL)` and POSIX timers
//! (`timer_create` with `SIGEV_SIGNAL` or `SIGEV_NONE`).
//!
//! A timer's state (deadline, interval, signal) lives in its bead's record
//! ([`BeadTimers`]); one runtime thread keeps a schedule — only
//! `(deadline, bead, timer)` triples, an index into that state — and sleeps
//! until the earliest. When an entry comes due the thread checks that the
//! bead's timer still has that deadline (else the entry is stale: the timer
//! was re-armed, deleted, or its bead removed), sends the signal to the
//! bead, and schedules the next period.
//!
//! `ITIMER_VIRTUAL` and `ITIMER_PROF` (process CPU time) are refused with
//! `EINVAL`: strings share the process's CPU clock.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use weaves_arena::OwnerId;
use weaves_strings::RuntimeSection;

/// Timer 0 is the bead's `ITIMER_REAL` (and `alarm`); POSIX timers count
/// from 1.
const REAL: u32 = 0;

#[derive(Clone, Copy)]
pub(crate) struct Timer {
    deadline: Option<Instant>,
    interval: Duration,
    /// The signal it sends (0: `SIGEV_NONE`).
    sig: i32,
    value: u64,
    clock: libc::clockid_t,
}

impl Default for Timer {
    fn default() -> Self {
        Timer {
            deadline: None,
            interval: Duration::ZERO,
            sig: libc::SIGALRM,
            value: 0,
            clock: libc::CLOCK_REALTIME,
        }
    }
}

/// A bead's timers (part of its `BeadAsync`).
#[derive(Default)]
pub(crate) struct BeadTimers {
    timers: HashMap<u32, Timer>,
    next: u32,
}

struct Schedule {
    entries: Mutex<Vec<(Instant, OwnerId, u32)>>,
    changed: Condvar,
}

fn schedule() -> &'static Schedule {
    static S: OnceLock<Schedule> = OnceLock::new();
    S.get_or_init(|| {
        let _rt = RuntimeSection::enter();
        std::thread::Builder::new()
            .name("weaves-sigtimers".into())
            .spawn(run)
            .expect("cannot start the signal timer thread");
        Schedule {
            entries: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    })
}

fn add(at: Instant, owner: OwnerId, id: u32) {
    let s = schedule();
    let _rt = RuntimeSection::enter();
    s.entries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((at, owner, id));
    s.changed.notify_one();
}

/// The timer thread.
fn run() {
    let s = schedule();
    let mut entries = s.entries.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let due: Vec<(Instant, OwnerId, u32)> = {
            let (due, rest) = entries.drain(..).partition(|e| e.0 <= now);
            *entries = rest;
            due
        };
        if !due.is_empty() {
            drop(entries);
            for (at, owner, id) in due {
                fire(at, owner, id);
            }
            entries = s.entries.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        entries = match entries.iter().map(|e| e.0).min() {
            Some(next) => {
                s.changed
                    .wait_timeout(entries, next.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => s.changed.wait(entries).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Entry `(at, owner, id)` came due.
fn fire(at: Instant, owner: OwnerId, id: u32) {
    let fired = crate::fault::with_async(owner, false, |a| {
        let t = a.timers.timers.get_mut(&id)?;
        if t.deadline != Some(at) {
            return None;
        }
        t.deadline = (!t.interval.is_zero()).then(|| at + t.interval);
        Some((t.sig, t.value, t.deadline))
    })
    .flatten();
    let Some((sig, value, next)) = fired else {
        return;
    };
    if let Some(next) = next {
        add(next, owner, id);
    }
    if sig != 0 {
        let code = if id == REAL {
            super::SI_USER
        } else {
            super::SI_TIMER
        };
        super::send_to_bead(owner, sig, code, value);
    }
}

/// Arms (or disarms, with a zero `value`) timer `id` of `owner`; returns
/// what was left of it (value, interval). `None`: no such timer.
pub(crate) fn arm(
    owner: OwnerId,
    id: u32,
    value: Duration,
    interval: Duration,
) -> Option<(Duration, Duration)> {
    let now = Instant::now();
    let deadline = (!value.is_zero()).then(|| now + value);
    let old = crate::fault::with_async(owner, true, |a| {
        let t = if id == REAL {
            a.timers.timers.entry(REAL).or_default()
        } else {
            a.timers.timers.get_mut(&id)?
        };
        let old = left(t, now);
        t.deadline = deadline;
        t.interval = interval;
        Some(old)
    })
    .flatten()?;
    if let Some(d) = deadline {
        add(d, owner, id);
    }
    Some(old)
}

/// What is left of timer `id` of `owner`: (value, interval).
pub(crate) fn get(owner: OwnerId, id: u32) -> Option<(Duration, Duration)> {
    let now = Instant::now();
    match crate::fault::with_async(owner, false, |a| {
        a.timers.timers.get(&id).map(|t| left(t, now))
    }) {
        Some(found) => found,
        None if id == REAL => Some((Duration::ZERO, Duration::ZERO)),
        None => None,
    }
}

fn left(t: &Timer, now: Instant) -> (Duration, Duration) {
    let value = t.deadline.map_or(Duration::ZERO, |d| {
        // An armed timer that is due reads as just about to fire.
        d.saturating_duration_since(now)
            .max(Duration::from_nanos(1))
    });
    (value, t.interval)
}

/// A new POSIX timer of `owner` sending `sig` (0: none) with `value`.
pub(crate) fn create(owner: OwnerId, clock: libc::clockid_t, sig: i32, value: Option<u64>) -> u32 {
    crate::fault::with_async(owner, true, |a| {
        a.timers.next += 1;
        let id = a.timers.next;
        a.timers.timers.insert(
            id,
            Timer {
                deadline: None,
                interval: Duration::ZERO,
                sig,
                value: value.unwrap_or(u64::from(id)),
                clock,
            },
        );
        id
    })
    .unwrap_or(0)
}

/// The clock timer `id` of `owner` measures.
pub(crate) fn clock_of(owner: OwnerId, id: u32) -> Option<libc::clockid_t> {
    crate::fault::with_async(owner, false, |a| a.timers.timers.get(&id).map(|t| t.clock)).flatten()
}

/// Deletes timer `id` of `owner`; whether it existed.
pub(crate) fn delete(owner: OwnerId, id: u32) -> bool {
    crate::fault::with_async(owner, false, |a| a.timers.timers.remove(&id).is_some())
        .unwrap_or(false)
}

/// Timer 0: `alarm`/`setitimer`.
pub(crate) const ITIMER_REAL_ID: u32 = REAL;

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner id no bead of these unit tests uses.
    const OWNER: OwnerId = 4242;

    #[test]
    fn arming_returns_what_was_left_and_disarming_clears() {
        let (left, _) = arm(OWNER, REAL, Duration::from_secs(10), Duration::ZERO).unwrap();
        assert_eq!(left, Duration::ZERO, "nothing armed before");
        let (left, interval) = get(OWNER, REAL).unwrap();
        assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));
        assert_eq!(interval, Duration::ZERO);
        let (left, _) = arm(OWNER, REAL, Duration::ZERO, Duration::ZERO).unwrap();
        assert!(left > Duration::from_secs(9), "the old value comes back");
        assert_eq!(get(OWNER, REAL).unwrap().0, Duration::ZERO);
    }

    #[test]
    fn posix_timers_are_per_bead_and_deleted_once() {
        let id = create(OWNER + 1, libc::CLOCK_MONOTONIC, libc::SIGUSR1, None);
        assert!(id > 0);
        assert_eq!(clock_of(OWNER + 1, id), Some(libc::CLOCK_MONOTONIC));
        assert_eq!(
            clock_of(OWNER + 2, id),
            None,
            "another bead has no such timer"
        );
        assert!(arm(OWNER + 2, id, Duration::from_secs(1), Duration::ZERO).is_none());
        assert!(delete(OWNER + 1, id));
        assert!(!delete(OWNER + 1, id));
    }
}
