//! `weaves plot TRACE -o FILE.png|svg`: draws the access pattern a
//! `weaves dsm --trace` run recorded — pages against time, read and write
//! faults in two colours, one band per node — in the manner of the
//! classic DSM papers' figures, so that false sharing and a protocol's
//! message pattern can be seen rather than guessed at.
//!
//! [`trace`] reads and checks the file (a versioned JSON Lines format,
//! documented in `docs/dsm.md`); [`draw`] renders it. The output format is
//! chosen by the extension of `-o`.

mod draw;
mod trace;

use std::path::Path;

pub(crate) use trace::TraceError;

/// Why a plot could not be made; one line each.
#[derive(Debug)]
pub(crate) enum PlotError {
    /// The trace could not be read or is malformed.
    Trace(TraceError),
    /// `-o` names a format we do not draw.
    Format(String),
    /// The drawing backend failed (e.g. the output file cannot be written).
    Draw(String),
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::Trace(e) => e.fmt(f),
            PlotError::Format(out) => write!(
                f,
                "cannot draw {out}: not supported: the output's extension must be .png or .svg"
            ),
            PlotError::Draw(why) => f.write_str(why),
        }
    }
}

/// Reads `trace` and writes the picture to `out`; says on stderr how many
/// faults it drew.
pub(crate) fn plot(trace: &Path, out: &Path) -> Result<i32, PlotError> {
    let format =
        draw::Format::from_path(out).ok_or_else(|| PlotError::Format(out.display().to_string()))?;
    let trace = trace::Trace::read(trace).map_err(PlotError::Trace)?;
    draw::draw(&trace, out, format).map_err(PlotError::Draw)?;
    eprintln!(
        "weaves plot: {} faults on {} pages from {} node(s) drawn to {}",
        trace.faults.len(),
        trace.distinct_pages(),
        trace.header.nodes,
        out.display()
    );
    Ok(0)
}
