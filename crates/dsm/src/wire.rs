//! What nodes say to each other, and how it travels.
//!
//! Every message is one frame: a 4-byte little-endian length, then the
//! message serialised with `postcard`. [`Transport`] is all the protocol
//! needs from a network: TCP today ([`Tcp`]: one connection per node
//! pair, `TCP_NODELAY`), an RDMA or MPI-RMA transport later.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One page's diff: runs of changed bytes (offset in the page, bytes).
pub type PageDiff = (u64, Vec<(u16, Vec<u8>)>);

/// One protocol message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Msg {
    /// First frame on a connection: who is speaking, and a digest of its
    /// address layout (every node must have the same).
    Hello { node: u32, layout: u64 },
    /// To a page's home: the sender faulted on `page` (a read, or a write).
    /// Under `lrc`, `run` pages from `page` on are wanted (sequential
    /// access): the home sends as many as it can read, in one grant.
    Fetch { page: u64, write: bool, run: u32 },
    /// From the home: the page may now be accessed (written, if `write`);
    /// its contents when the requester's copy is not current.
    Grant {
        page: u64,
        write: bool,
        data: Option<Vec<u8>>,
    },
    /// From the home to the page's writer: send the page back, keeping a
    /// read-only copy if `keep_read`, else none.
    Recall { page: u64, keep_read: bool },
    /// The answer to [`Msg::Recall`]: the page as the writer left it.
    Flush { page: u64, data: Vec<u8> },
    /// From the home to a reader: drop your copy.
    Invalidate { page: u64 },
    /// The answer to [`Msg::Invalidate`].
    InvalidateAck { page: u64 },
    /// A request to a manager (locks, barriers, threads); `slot` names the
    /// waiter the [`Msg::Reply`] goes to (0: no reply wanted).
    Call { slot: u64, op: Op },
    /// The answer to a [`Msg::Call`]. From the manager under `lrc`, it
    /// carries the write notices the caller has not seen yet: pages other
    /// nodes wrote, whose copies it must drop.
    Reply {
        slot: u64,
        rc: i32,
        value: u64,
        notices: Vec<u64>,
    },
    /// From node 0: the program has ended; end too.
    Shutdown,
    /// Sent by each node's heartbeat thread (a node that goes quiet for a
    /// second has stopped answering).
    Heartbeat,
    /// A node's counters, sent to node 0 at the end of a run.
    Counters { node: u32, counts: Vec<u64> },
}

/// What a [`Msg::Call`] asks for. Synchronisation objects are named by
/// their address; their own bytes are not used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    Lock {
        addr: u64,
    },
    TryLock {
        addr: u64,
    },
    /// A release: `notices` are the pages the releaser wrote since its
    /// last release (their diffs are at their homes already).
    Unlock {
        addr: u64,
        notices: Vec<u64>,
        /// Diffs for node 0 (the manager's node), applied first.
        diffs: Vec<PageDiff>,
    },
    CondWait {
        cond: u64,
        mutex: u64,
        notices: Vec<u64>,
    },
    CondSignal {
        cond: u64,
        all: bool,
    },
    BarrierInit {
        addr: u64,
        count: u32,
    },
    BarrierWait {
        addr: u64,
        notices: Vec<u64>,
    },
    /// A release with no object (a thread starting another, or ending).
    Publish {
        notices: Vec<u64>,
    },
    /// An acquire with no object (a started or joined thread).
    Acquire,
    /// To a page's home: apply these diffs (page, runs of changed bytes).
    ApplyDiffs {
        diffs: Vec<PageDiff>,
    },
    /// Start `start(arg)` as a thread of the receiving node.
    Spawn {
        start: u64,
        arg: u64,
    },
    /// Join a thread of the receiving node (its node-local id).
    Join {
        thread: u64,
    },
    Detach {
        thread: u64,
    },
    /// Free a block of the receiving node's heap (another node's `free`).
    Free {
        addr: u64,
    },
    /// Create a thread-specific data key valid on every node.
    KeyCreate {
        destructor: u64,
    },
    /// The destructor of a key another node created.
    KeyInfo {
        key: u64,
    },
    /// `pthread_once`: may the caller run the initialiser (1), or is it
    /// done (0)? Waits while another runs it.
    OnceEnter {
        addr: u64,
    },
    OnceDone {
        addr: u64,
        notices: Vec<u64>,
    },
    /// `sem_init`.
    SemInit {
        addr: u64,
        value: u32,
    },
    /// `sem_wait` (an acquire); with `try_only`, `sem_trywait`.
    SemWait {
        addr: u64,
        try_only: bool,
    },
    /// `sem_post` (a release).
    SemPost {
        addr: u64,
        notices: Vec<u64>,
    },
    /// `sem_getvalue`.
    SemValue {
        addr: u64,
    },
    /// A reader-writer lock taken for reading or writing.
    RwLock {
        addr: u64,
        write: bool,
        try_only: bool,
    },
    /// Its unlock: a release, like [`Op::Unlock`].
    RwUnlock {
        addr: u64,
        notices: Vec<u64>,
        diffs: Vec<PageDiff>,
    },
}

/// Moves frames between nodes.
pub trait Transport: Send + Sync {
    /// Sends one frame to node `to`.
    fn send(&self, to: u32, frame: &[u8]) -> std::io::Result<()>;
}

/// Serialises `msg` into a frame.
pub fn frame(msg: &Msg) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).unwrap_or_default();
    let mut f = Vec::with_capacity(body.len() + 4);
    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
    f.extend_from_slice(&body);
    f
}

/// Reads one frame from `r`; `None` at end of stream.
pub fn read_msg(r: &mut impl Read) -> std::io::Result<Option<(Msg, usize)>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let msg = postcard::from_bytes(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Some((msg, len + 4)))
}

/// TCP: one connection per node pair.
pub struct Tcp {
    /// The write half to each peer (`None` for this node itself).
    peers: Vec<Option<Mutex<TcpStream>>>,
}

impl Tcp {
    pub fn new(peers: Vec<Option<TcpStream>>) -> Tcp {
        Tcp {
            peers: peers.into_iter().map(|p| p.map(Mutex::new)).collect(),
        }
    }
}

impl Transport for Tcp {
    fn send(&self, to: u32, frame: &[u8]) -> std::io::Result<()> {
        let Some(Some(peer)) = self.peers.get(to as usize) else {
            return Err(std::io::Error::other(format!("no connection to node {to}")));
        };
        peer.lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_as_the_messages_written() {
        let msgs = [
            Msg::Fetch {
                page: 0x2000_0000_1000,
                write: true,
                run: 8,
            },
            Msg::Call {
                slot: 7,
                op: Op::Unlock {
                    addr: 64,
                    notices: vec![1, 2],
                    diffs: vec![(0x1000, vec![(12, vec![1, 2, 3])])],
                },
            },
        ];
        let mut wire = Vec::new();
        for m in &msgs {
            wire.extend(frame(m));
        }
        let mut r = &wire[..];
        for m in &msgs {
            let (got, len) = read_msg(&mut r).unwrap().unwrap();
            assert_eq!(format!("{got:?}"), format!("{m:?}"));
            assert!(len > 4);
        }
        assert!(read_msg(&mut r).unwrap().is_none(), "end of stream");
    }
}
