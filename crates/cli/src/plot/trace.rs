//! Reads and checks the access-pattern trace `weaves dsm --trace FILE`
//! writes (the format is `weaves_dsm::trace_format`): the version is
//! checked so that a later format is refused in one line instead of being
//! drawn wrongly, and every record must name a node of the run.

use std::collections::BTreeSet;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub(crate) use weaves_dsm::trace_format::{Fault, Header, Kind, TRACE_VERSION};

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
