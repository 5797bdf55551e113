//! A query verb whose stdout closed ends as `ls | head` ends: killed by
//! SIGPIPE, silently (status 141 in a shell); a stdout that fails otherwise
//! (`> /dev/full`) is one line on stderr and status 74.
//!
//! The bug these pin: `weaves ps --json | head -1` panicked ("failed
//! printing to stdout: Broken pipe") and exited with status 134.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::running::*;
use common::*;

/// The write end of a pipe whose read end is already closed.
fn pipe_without_reader() -> OwnedFd {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors, which we own from here on.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just made and are owned by nothing else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    writer
}

/// Runs `cmd` with stdout a pipe nobody reads; asserts that it died of
/// SIGPIPE and wrote nothing to stderr.
fn expect_quiet_sigpipe(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(pipe_without_reader()))
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && stderr.trim().is_empty(),
        "{what}: stderr must stay quiet, got:\n{stderr}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{what}: expected death by SIGPIPE (141 in a shell), got {}",
        out.status
    );
}

const SLEEPER: &str = r#"
[tapestry]
name = "quiet"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "sleepy"
module = "sleeper"

[[weave]]
name = "nap"
beads = ["sleepy"]

[[string]]
name = "napper"
weave = "nap"
entry = "sleeper_main"
args = ["sleeper", "n", "600", "10000"]
"#;

#[test]
fn ps_json_into_a_closed_pipe_does_not_panic() {
    let (running, _) = start_running("closed_ps", SLEEPER);
    for args in [&["ps", "--json"][..], &["ps"][..]] {
        let mut cmd = weaves(&running.rt);
        cmd.args(args);
        expect_quiet_sigpipe(cmd, &format!("weaves {}", args.join(" ")));
    }
    // With nothing running, too (`[]` alone is a write that fails).
    let empty = scratch_dir("closed_ps_empty").join("rt");
    let mut cmd = weaves(&empty);
    cmd.args(["ps", "--json"]);
    expect_quiet_sigpipe(cmd, "weaves ps --json (none running)");
}

#[test]
fn inspect_into_a_closed_pipe_does_not_panic() {
    let (running, ps) = start_running("closed_inspect", SLEEPER);
    let id = ps["id"].as_str().unwrap().to_owned();
    for json in [true, false] {
        let mut cmd = weaves(&running.rt);
        cmd.args(["inspect", &id]);
        if json {
            cmd.arg("--json");
        }
        expect_quiet_sigpipe(cmd, &format!("weaves inspect (json {json})"));
    }
    // The tapestry is unaffected by its clients dying.
    json_of(&running.rt, &["inspect", &id, "--json"]);
}

#[test]
fn bench_into_a_closed_pipe_does_not_panic() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    for json in [true, false] {
        let mut cmd = weaves_command();
        cmd.args(["bench", "switch", "-n", "1000"])
            .env("XDG_CACHE_HOME", &cache);
        if json {
            cmd.arg("--json");
        }
        expect_quiet_sigpipe(cmd, &format!("weaves bench switch (json {json})"));
    }
}

#[test]
fn ps_into_a_full_device_is_one_line_and_status_74() {
    let rt = scratch_dir("full_ps").join("rt");
    let out = weaves(&rt)
        .args(["ps", "--json"])
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("standard output"), "{stderr}");
    assert_eq!(out.status.code(), Some(74), "{stderr}");
}
