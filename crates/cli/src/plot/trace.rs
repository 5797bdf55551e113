//! The access-pattern trace `weaves dsm --trace FILE` writes: JSON Lines,
//! a header first, then one record per page fault.
//!
//! ```text
//! {"version":1,"nodes":4,"page_size":4096,"coherence":"lrc"}
//! {"t_us":1834,"node":2,"page":536870912,"kind":"read"}
//! ```
//!
//! The version is checked so that a later format is refused in one line
//! instead of being drawn wrongly.

use std::collections::BTreeSet;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The trace format version this reader understands.
pub(crate) const TRACE_VERSION: u32 = 1;

/// The first line of a trace.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub version: u32,
    pub nodes: u32,
    #[allow(dead_code)] // part of the format; drawn pages are indices, not bytes
    pub page_size: u64,
    pub coherence: String,
}

/// What a fault was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Read,
    Write,
}

/// One page fault: when, on which node, which page.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Fault {
    pub t_us: u64,
    pub node: u32,
    pub page: u64,
    pub kind: Kind,
}

/// A whole trace, checked.
#[derive(Debug)]
pub(crate) struct Trace {
    pub header: Header,
    pub faults: Vec<Fault>,
}

/// A trace that cannot be drawn, with the file and line to look at.
#[derive(Debug)]
pub(crate) struct TraceError {
    file: PathBuf,
    line: usize,
    why: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.why)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.why)
        }
    }
}

impl Trace {
    /// Reads and checks the trace at `path`.
    pub(crate) fn read(path: &Path) -> Result<Trace, TraceError> {
        let error = |line: usize, why: String| TraceError {
            file: path.to_path_buf(),
            line,
            why,
        };
        let file = std::fs::File::open(path).map_err(|e| error(0, format!("cannot open: {e}")))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let first = match lines.next() {
            Some(line) => line.map_err(|e| error(1, format!("cannot read: {e}")))?,
            None => return Err(error(0, "empty: a trace starts with a header line".into())),
        };
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| error(1, format!("not a trace header: {e}")))?;
        if header.version != TRACE_VERSION {
            return Err(error(
                1,
                format!(
                    "trace format version {} is not supported (this weaves reads version {TRACE_VERSION})",
                    header.version
                ),
            ));
        }
        if header.nodes == 0 {
            return Err(error(1, "a trace of 0 nodes".into()));
        }
        let mut faults = Vec::new();
        for (index, line) in lines.enumerate() {
            let number = index + 2;
            let line = line.map_err(|e| error(number, format!("cannot read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let fault: Fault = serde_json::from_str(&line)
                .map_err(|e| error(number, format!("not a fault record: {e}")))?;
            if fault.node >= header.nodes {
                return Err(error(
                    number,
                    format!("node {} in a trace of {} nodes", fault.node, header.nodes),
                ));
            }
            faults.push(fault);
        }
        Ok(Trace { header, faults })
    }

    /// How many different pages faulted.
    pub(crate) fn distinct_pages(&self) -> usize {
        self.faults
            .iter()
            .map(|f| f.page)
            .collect::<BTreeSet<_>>()
            .len()
    }
}
