//! The I/O reactor: strings waiting for a descriptor to become readable or
//! writable park here, and one thread blocked in `epoll_wait` (through the
//! `polling` crate) wakes them.
//!
//! Each descriptor is registered once, keyed by its number, in one-shot
//! mode, with the union of what its waiters want (one reader and one writer
//! at most: a second string waiting the same way on the same descriptor
//! replaces nothing — it waits behind the first, see [`wait`]). After an
//! event the woken strings retry their call; whatever they still wait for
//! re-arms the registration.

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};

use polling::{Event, Events, Poller};

use crate::blocking::{current_task, park};
use crate::task::Task;

/// Which readiness a string waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

#[derive(Default)]
struct Waiting {
    readers: Vec<Arc<Task>>,
    writers: Vec<Arc<Task>>,
}

struct Reactor {
    poller: Poller,
    waiting: Mutex<HashMap<RawFd, Waiting>>,
}

fn reactor() -> Option<&'static Reactor> {
    static REACTOR: OnceLock<Option<Reactor>> = OnceLock::new();
    REACTOR
        .get_or_init(|| {
            let poller = Poller::new().ok()?;
            std::thread::Builder::new()
                .name("weaves reactor".into())
                .stack_size(128 << 10)
                .spawn(run)
                .ok()?;
            Some(Reactor {
                poller,
                waiting: Mutex::new(HashMap::new()),
            })
        })
        .as_ref()
}

fn interest_of(fd: RawFd, w: &Waiting) -> Event {
    let key = fd as usize;
    match (!w.readers.is_empty(), !w.writers.is_empty()) {
        (true, true) => Event::all(key),
        (true, false) => Event::readable(key),
        (false, true) => Event::writable(key),
        (false, false) => Event::none(key),
    }
}

fn arm(r: &Reactor, fd: RawFd, ev: Event) -> std::io::Result<()> {
    // SAFETY: the descriptor is open (a string is about to use it); the
    // reactor only registers it and never closes it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    match r.poller.modify(borrowed, ev) {
        Ok(()) => Ok(()),
        // Not registered yet (or closed and reopened since: epoll forgets
        // closed descriptors by itself).
        Err(_) => {
            // SAFETY: as above; the registration is removed by the kernel
            // when the descriptor is closed.
            unsafe { r.poller.add(fd, ev) }
        }
    }
}

/// Parks the current string until `fd` may be ready for `interest` (or has
/// an error or hang-up). Returns false if the reactor is unavailable (the
/// caller then simply blocks in its system call).
pub fn wait(fd: RawFd, interest: Interest) -> bool {
    let Some(task) = current_task() else {
        return false;
    };
    let Some(r) = reactor() else { return false };
    {
        let mut map = r.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.entry(fd).or_default();
        match interest {
            Interest::Read => w.readers.push(task),
            Interest::Write => w.writers.push(task),
        }
        let ev = interest_of(fd, w);
        if arm(r, fd, ev).is_err() {
            // Not pollable (a regular file): it never blocks for long.
            map.remove(&fd);
            return false;
        }
    }
    park();
    true
}

fn run() {
    // Wait until the reactor is published (the thread starts inside its
    // initialisation).
    let r = loop {
        if let Some(r) = reactor() {
            break r;
        }
        std::thread::yield_now();
    };
    let mut events = Events::new();
    loop {
        events.clear();
        if r.poller.wait(&mut events, None).is_err() {
            continue;
        }
        let mut woken = Vec::new();
        {
            let mut map = r.waiting.lock().unwrap_or_else(|e| e.into_inner());
            for ev in events.iter() {
                let fd = ev.key as RawFd;
                let Some(w) = map.get_mut(&fd) else { continue };
                // An error or hang-up is reported as both directions.
                if ev.readable {
                    woken.append(&mut w.readers);
                }
                if ev.writable {
                    woken.append(&mut w.writers);
                }
                let still = interest_of(fd, w);
                if w.readers.is_empty() && w.writers.is_empty() {
                    map.remove(&fd);
                } else {
                    let _ = arm(r, fd, still);
                }
            }
        }
        for t in woken {
            t.wake();
        }
    }
}
