//! The access-pattern trace `weaves dsm --trace FILE` writes and
//! `weaves plot` reads: JSON Lines, a [`Header`] first, then one [`Fault`]
//! per page fault in time order (docs/dsm.md).
//!
//! ```text
//! {"version":1,"nodes":4,"page_size":4096,"coherence":"lrc"}
//! {"t_us":1834,"node":2,"page":536870912,"kind":"read"}
//! ```
//!
//! Both sides use these types, so the format has one definition; the
//! version lets a reader refuse a later format instead of misdrawing it.

use serde::{Deserialize, Serialize};

/// The trace format version written and understood here.
pub const TRACE_VERSION: u32 = 1;

/// The first line of a trace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub nodes: u32,
    pub page_size: u64,
    pub coherence: String,
}

/// What a fault was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
}

/// One page fault: when (µs since the run began), on which node, which
/// page (`(address − ARENA_BASE) / page_size` for arena pages).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Fault {
    pub t_us: u64,
    pub node: u32,
    pub page: u64,
    pub kind: Kind,
}
