//! Polling where an answer is due soon, instead of sleeping.
//!
//! Over loopback a message takes a few µs, but waking a thread that sleeps
//! in `recv` or on a futex costs 10–20 µs more on a virtual machine (the
//! idle CPU has to be woken first). A fault or a lock round trip is two
//! messages and up to four wakeups, so sleeping would triple its latency.
//! So a node's reader threads look for the next frame for a short while
//! before they block in `recv` — after a frame arrived (a run of faults
//! or lock requests keeps them busy) and while a thread of this node waits
//! for an answer — yielding the CPU between looks. Polling pays only where
//! a CPU would otherwise sit idle: with more nodes than CPUs (16 nodes on
//! 2 cores) every poll takes time a node with work needs, and a node
//! starved for a second is taken for dead, so then nobody polls.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a reader polls before it blocks.
const READER_POLL: Duration = Duration::from_micros(100);

/// Most nodes a run has (the directory keeps readers in a `u64`).
const MAX_NODES: usize = 64;

/// Per peer: threads of this node waiting for an answer from it.
static EXPECTING: [AtomicU32; MAX_NODES] = [const { AtomicU32::new(0) }; MAX_NODES];

/// Whether this node polls at all (see the module's doc).
static POLLING: AtomicBool = AtomicBool::new(false);

/// Decides whether the nodes of a run of `nodes` poll: only if each can
/// have a CPU of its own.
pub(crate) fn start(nodes: u32) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    POLLING.store(nodes as usize <= cpus, Ordering::Relaxed);
}

/// Whether waiting for an answer should poll before sleeping.
pub(crate) fn polling() -> bool {
    POLLING.load(Ordering::Relaxed)
}

/// Marks the calling thread as waiting for an answer from one peer while
/// it lives.
pub(crate) struct Expecting(usize);

impl Expecting {
    pub(crate) fn from(peer: u32) -> Expecting {
        let i = (peer as usize).min(MAX_NODES - 1);
        EXPECTING[i].fetch_add(1, Ordering::AcqRel);
        Expecting(i)
    }
}

impl Drop for Expecting {
    fn drop(&mut self) {
        EXPECTING[self.0].fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether `fd` has bytes to read now.
fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one descriptor of ours with a zero timeout; `p` lives
    // across the call.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// Before the reader of `peer`'s connection (`fd`) blocks: polls for at
/// most [`READER_POLL`] while a frame came from it in the last
/// [`READER_POLL`] (since `last_frame`) or a thread of this node waits for
/// its answer.
pub(crate) fn before_blocking(fd: RawFd, peer: u32, last_frame: Instant) {
    if !polling() {
        return;
    }
    let started = Instant::now();
    let expecting = &EXPECTING[(peer as usize).min(MAX_NODES - 1)];
    loop {
        if readable(fd) {
            return;
        }
        let busy = last_frame.elapsed() < READER_POLL || expecting.load(Ordering::Acquire) > 0;
        if !busy || started.elapsed() > READER_POLL {
            return;
        }
        // SAFETY: a plain system call.
        unsafe { libc::sched_yield() };
    }
}
