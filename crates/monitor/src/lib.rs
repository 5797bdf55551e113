//! The monitor: the live control surface of a running tapestry.
//!
//! Every `weaves run` serves a **control socket**: a Unix domain socket
//! named after the process id, in a directory only its user can enter
//! ([`socket_dir`]). Clients — `weaves ps`, `weaves inspect`, or any
//! program using this crate — connect, write one request per line, and
//! read one response per line. Both are JSON:
//!
//! ```text
//! -> {"op":"summary"}
//! <- {"ok":true,"result":{"id":"4242","pid":4242,"name":"sensors",...}}
//! -> {"op":"inspect"}
//! <- {"ok":true,"result":{"id":"4242",...,"beads":[...],"strings":[...]}}
//! -> {"op":"frobnicate"}
//! <- {"ok":false,"error":"not supported: monitor operation `frobnicate`"}
//! ```
//!
//! The shapes of the results are the types in [`protocol`]; `docs/monitor.md`
//! documents them as JSON.
//!
//! ## Using it from Rust
//!
//! ```no_run
//! // Every running tapestry of this user, then one of them in detail.
//! for t in weaves_monitor::list()? {
//!     println!("{} {} {} strings", t.id, t.name, t.strings);
//! }
//! let mut client = weaves_monitor::Client::connect("sensors")?;
//! let inspection = client.inspect()?;
//! for s in &inspection.strings {
//!     println!("{} {} {:.1} ms", s.name, s.state, s.cpu_ms);
//! }
//! # Ok::<(), weaves_monitor::MonitorError>(())
//! ```
//!
//! The server side is [`Server`]: the runtime hands it a [`Handler`] that
//! answers requests from the live tapestry, and the server removes its
//! socket when dropped.

mod client;
mod dir;
pub mod protocol;
mod server;

pub use client::{list, Client};
pub use dir::{refused_dir, serving_dir, socket_dir, socket_dirs, socket_path, ServingDir};
pub use protocol::{Request, Response};
pub use server::{decode_request, Handler, Server};

/// What can go wrong talking to a monitor.
#[derive(Debug)]
pub enum MonitorError {
    /// The socket directory is missing, unsafe, or unusable.
    Dir(String),
    /// No running tapestry matches the id or name asked for.
    NotFound(String),
    /// A name matches several running tapestries.
    Ambiguous(String),
    /// Talking to the tapestry failed.
    Io(String),
    /// The tapestry answered with an error.
    Refused(String),
}

impl std::fmt::Display for MonitorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorError::Dir(m)
            | MonitorError::NotFound(m)
            | MonitorError::Ambiguous(m)
            | MonitorError::Io(m)
            | MonitorError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for MonitorError {}
