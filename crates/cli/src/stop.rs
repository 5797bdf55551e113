//! `weaves stop ID [--timeout S]`: ends a running tapestry as `SIGTERM`
//! does — its strings end at their next safe point, its beads'
//! finalisers run, and `weaves run` exits with 143 — and kills it if it has
//! not ended after the timeout.

use std::time::{Duration, Instant};

use weaves_monitor::Client;

use crate::exit;

/// `weaves stop ID [--timeout S]`.
pub(crate) fn stop(id: &str, timeout_s: f64) -> Result<i32, String> {
    if !timeout_s.is_finite() || timeout_s < 0.0 {
        return Err(format!(
            "stop: --timeout {timeout_s}: give a number of seconds, 0 or more"
        ));
    }
    let summary = Client::connect(id)
        .and_then(|mut c| c.summary())
        .map_err(|e| e.to_string())?;
    let pid = libc::pid_t::try_from(summary.pid)
        .map_err(|_| format!("stop: tapestry {id} reports process id {}", summary.pid))?;
    let who = format!("tapestry {} ({})", summary.id, summary.name);
    tracing::debug!("stop: sending SIGTERM to process {pid}");
    signal(pid, libc::SIGTERM).map_err(|e| format!("stop: cannot signal {who}: {e}"))?;
    if ended_within(pid, Duration::from_secs_f64(timeout_s)) {
        println!("stopped {who}");
        return Ok(0);
    }
    tracing::debug!("stop: process {pid} still runs after {timeout_s} s: SIGKILL");
    signal(pid, libc::SIGKILL).map_err(|e| format!("stop: cannot kill {who}: {e}"))?;
    if !ended_within(pid, Duration::from_secs(10)) {
        return Err(format!("stop: {who} does not end even when killed"));
    }
    println!("killed {who}: it did not end within {timeout_s} s of SIGTERM");
    Ok(i32::from(exit::KILLED))
}

fn signal(pid: libc::pid_t, signal: libc::c_int) -> std::io::Result<()> {
    // SAFETY: sends a signal to the process the tapestry's monitor named.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        e => Err(e),
    }
}

/// Waits until process `pid` has ended (or is a zombie its parent has not
/// reaped yet); false if it still runs after `within`.
fn ended_within(pid: libc::pid_t, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if ended(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ended(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return true;
    }
    // `/proc/PID/stat`: "PID (COMM) STATE …"; COMM may hold spaces and
    // parentheses, so the state follows the last `)`.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}
