//! Ending every node when one fails: a closed connection or a peer that
//! stopped sending heartbeats makes this node say so in one line, naming
//! the node and what this one was doing, and exit non-zero at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::node::node;

/// What this node's strings were last waiting for (for the failure line).
#[derive(Clone, Copy)]
pub(crate) enum Doing {
    Running,
    Page(u64),
    Sync,
    Join(u32),
}

static DOING: AtomicU64 = AtomicU64::new(0);

pub(crate) fn doing(d: Doing) {
    let v = match d {
        Doing::Running => 0,
        Doing::Sync => 1,
        Doing::Join(n) => 2 | (n as u64) << 8,
        Doing::Page(p) => p | 3,
    };
    DOING.store(v, Ordering::Relaxed);
}

fn describe() -> String {
    let v = DOING.load(Ordering::Relaxed);
    match v & 3 {
        0 => "running the program".into(),
        1 => "waiting for the lock/barrier manager".into(),
        2 => format!("joining a thread of node {}", v >> 8),
        _ => format!("waiting for page {:#x}", v & !3),
    }
}

/// Exit status of a node that ends because another failed.
pub const PEER_FAILED: i32 = 3;

/// Node `peer` is gone (`why`): one line, and this node ends.
pub(crate) fn report_lost(peer: u32, why: &str) {
    let Some(n) = node() else { return };
    if n.ending.load(Ordering::Acquire) {
        return;
    }
    eprintln!(
        "weaves dsm: node {peer} {why} while node {} was {}",
        n.me,
        describe()
    );
    // SAFETY: ends the process at once: its strings may be waiting for the
    // lost node forever, and nothing they would print is a result.
    unsafe { libc::_exit(PEER_FAILED) };
}

/// Node 0 ended the run: this node's output is flushed, its counters go
/// to node 0, and it exits.
pub(crate) fn shutdown() {
    let Some(n) = node() else { return };
    n.ending.store(true, Ordering::Release);
    crate::stats::send_to_node0();
    // SAFETY: flushing every C stream of this process, then ending it:
    // the program's threads here end with the run, as threads of a
    // process end when `main` returns.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(0)
    };
}

static SAID: AtomicBool = AtomicBool::new(false);

/// A call the DSM runtime does not support: one line (the first time).
pub(crate) fn unsupported(what: &str) {
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("weaves dsm: not supported: {what}");
    }
}
