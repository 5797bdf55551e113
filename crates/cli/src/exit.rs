//! Exit statuses of `weaves` (the table in docs/exit-status.md).
//!
//! A run passes its strings' statuses through, as a shell passes a
//! program's (`weaves mpirun` as MPICH's `mpirun` does). The runtime's own
//! failures use codes reserved the way `env`, `timeout` and `docker run`
//! reserve them, so that a script can tell "weaves could not do it" from
//! "a string returned N" in the common case (a string may still return
//! 125 itself; stderr then names it).

use std::process::ExitCode;

/// weaves itself failed: a usage error, a tapestry file it refuses, a
/// module it cannot load or bind, a monitor it cannot reach, a refused
/// change. Nothing ran (or nothing changed); stderr has one line.
pub(crate) const OWN_ERROR: u8 = 125;
/// `weaves stop`: the tapestry did not end within `--timeout` and was
/// killed (as `timeout` reports a command it had to kill).
pub(crate) const KILLED: u8 = 124;
/// `weaves check`: the tapestry would be refused (what is wrong is on
/// stderr).
pub(crate) const CHECK_FAILED: u8 = 1;

/// The process's status for a run whose strings (or signal) give `status`:
/// 0, the status itself when it fits (1–255), else 1 (a failure never
/// reads as success).
pub(crate) fn of_run(status: i32) -> ExitCode {
    match status {
        0 => ExitCode::SUCCESS,
        s if (1..=255).contains(&s) => ExitCode::from(s as u8),
        _ => ExitCode::from(1),
    }
}

/// Prints a command-line error (or the help or version asked for) and
/// returns the status: 0 for help and version, [`OWN_ERROR`] otherwise.
pub(crate) fn usage(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(OWN_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}
