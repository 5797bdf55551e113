//! Process-wide calls from bead code get defined behaviour
//! (docs/process-semantics.md): `fork` continues the calling string alone
//! in the child, `exec` in the child runs the program, `system`, `popen`
//! and `posix_spawn` work and wait by parking, `execve` in the tapestry is
//! refused, as are limits and descriptor changes that would starve every
//! string.
//!
//! The `procs` program does each of these; its output is compared with the
//! same program run natively, once per bead, while several beads do it at
//! once and sleeping strings run beside them.

mod common;

use std::process::Stdio;

use common::*;

/// `beads` beads of `procs`, string `i` running `procs P{i} STEPS…`, plus
/// two beads of `sleeper` sleeping 30 × 1 ms each, on `workers` workers,
/// strings in `mode`.
fn procs_tapestry(steps: &[&str], beads: u32, workers: u32, mode: &str) -> String {
    let args: Vec<String> = steps.iter().map(|s| format!(r#", "{s}""#)).collect();
    format!(
        r#"
[tapestry]
name = "procs"
workers = {workers}

[[module]]
name = "procs"
path = "@MODS@/procs"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "b{{i}}"
module = "procs"
count = {beads}

[[weave]]
name = "w{{i}}"
count = {beads}
beads = ["b{{i}}"]

[[string]]
name = "procs{{i}}"
count = {beads}
weave = "w{{i}}"
args = ["procs", "P{{i}}"{args}]
mode = "{mode}"

[[bead]]
name = "s{{i}}"
module = "sleeper"
count = 2

[[weave]]
name = "sw{{i}}"
count = 2
beads = ["s{{i}}"]

[[string]]
name = "sleeper{{i}}"
count = 2
weave = "sw{{i}}"
entry = "sleeper_main"
args = ["sleeper", "s{{i}}", "30", "1000"]
"#,
        args = args.concat()
    )
}

/// Runs `steps` in `beads` beads at once and checks the run succeeds (the
/// sleepers too) and prints exactly what `beads` native runs print.
fn matches_native(test: &str, steps: &[&str], beads: u32, workers: u32, mode: &str) -> Outcome {
    let out = run_tapestry(test, &procs_tapestry(steps, beads, workers, mode));
    out.expect_success();
    let tags: Vec<String> = (0..beads).map(|i| format!("P{i}")).collect();
    let runs: Vec<Vec<&str>> = tags
        .iter()
        .map(|t| {
            std::iter::once(t.as_str())
                .chain(steps.iter().copied())
                .collect()
        })
        .collect();
    let runs: Vec<&[&str]> = runs.iter().map(Vec::as_slice).collect();
    assert_eq!(out.sorted_lines(), native_lines("procs", &runs), "{out}");
    out
}

/// Before: the child's `_exit` ended the *string*, and the child process
/// sat forever in a scheduler whose workers had not survived the fork.
#[test]
fn fork_in_a_bead_no_longer_hangs() {
    let out = matches_native("fork_exit", &["fork_exit"], 4, 1, "fiber");
    assert_eq!(
        out.line("P3 fork_exit: hello"),
        "P3 fork_exit: hello from the child"
    );
    assert_eq!(out.line("P3 fork_exit: exited"), "P3 fork_exit: exited 3");
}

/// `exit` in the child runs the handlers the program registered with
/// `atexit` (in the child), flushes its output and ends the child process
/// with the status; the parent's handler runs at the parent's own end.
#[test]
fn exit_in_a_forked_child_runs_its_atexit_handlers_and_ends_the_child() {
    let out = matches_native("fork_atexit", &["fork_atexit"], 4, 2, "fiber");
    assert_eq!(
        out.line("P2 atexit handler ran in the child"),
        "P2 atexit handler ran in the child"
    );
    assert_eq!(
        out.line("P2 fork_atexit: exited"),
        "P2 fork_atexit: exited 4"
    );
}

/// Fork handlers a program registers (`pthread_atfork`: a mutex held
/// across the fork, state fixed up by allocating in the child) run around
/// its fork, as natively.
#[test]
fn fork_handlers_a_bead_registers_run_around_its_fork() {
    let out = matches_native("atfork", &["atfork"], 4, 1, "fiber");
    assert_eq!(
        out.line("P1 atfork: child sees"),
        "P1 atfork: child sees prepared, then child"
    );
    assert_eq!(
        out.line("P1 atfork: parent sees"),
        "P1 atfork: parent sees prepared"
    );
}

/// `exec` in a forked (or vforked) child replaces the child with the
/// program, as natively.
#[test]
fn exec_in_a_forked_child_runs_the_program() {
    let out = matches_native("fork_exec", &["fork_exec", "vfork_exec"], 4, 1, "fiber");
    out.line("P0 fork_exec: echo ran in the child");
    out.line("P0 vfork_exec: echo ran in the child");
}

#[test]
fn system_from_a_bead_prints_what_native_system_prints() {
    let out = matches_native("system", &["system"], 4, 2, "fiber");
    assert_eq!(out.line("P1 system: exited"), "P1 system: exited 5");
}

#[test]
fn popen_from_a_bead_reads_and_writes_like_native_popen() {
    let out = matches_native("popen", &["popen"], 4, 1, "fiber");
    assert_eq!(out.lines_starting("P0 popen read:").len(), 2, "{out}");
    assert_eq!(out.line("P0 popen r:"), "P0 popen r: exited 6");
    out.line("P0 popen w: through cat");
}

/// `wait()` for any child reaps the calling bead's own children only:
/// with four beads forking at once, each reaps exactly its two, then
/// hears ECHILD.
#[test]
fn waiting_for_any_child_reaps_only_the_beads_own_children() {
    let out = matches_native("fork_wait", &["fork_wait", "spawn"], 4, 2, "fiber");
    assert_eq!(
        out.line("P3 fork_wait:"),
        "P3 fork_wait: reaped both=1, then wait()=-1 (No child processes)"
    );
}

#[test]
fn every_process_call_at_once_on_one_worker() {
    matches_native("all_one_worker", &["all"], 6, 1, "fiber");
}

#[test]
fn every_process_call_at_once_on_two_workers() {
    matches_native("all_two_workers", &["all"], 6, 2, "fiber");
}

#[test]
fn every_process_call_from_thread_mode_strings() {
    matches_native("all_thread_mode", &["all"], 3, 2, "thread");
}

/// One worker: a string waiting a second for `system("sleep 1")` and one
/// waiting for a child that sleeps a second must not hold the worker, so a
/// third string's five 20 ms sleeps end (and print) before either wait
/// returns.
#[test]
fn waiting_for_a_child_parks_instead_of_blocking_the_worker() {
    let text = r#"
[tapestry]
name = "parked_waits"
workers = 1

[[module]]
name = "procs"
path = "@MODS@/procs"

[[bead]]
name = "b{i}"
module = "procs"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["b{i}"]

[[string]]
weave = "w0"
args = ["procs", "S", "slow_system"]

[[string]]
weave = "w1"
args = ["procs", "F", "slow_fork"]

[[string]]
weave = "w2"
args = ["procs", "T", "tick"]
"#;
    let out = run_tapestry("parked_waits", text);
    out.expect_success();
    let at = |prefix: &str| {
        out.lines()
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line `{prefix}`\n{out}"))
    };
    assert!(at("T ticked") < at("S slow_system returned"), "{out}");
    assert!(at("T ticked") < at("F slow_fork: exited 0"), "{out}");
}

/// Two strings, one sleeping, one running `procs T STEPS…`.
fn with_a_sleeper(name: &str, steps: &str) -> String {
    format!(
        r#"
[tapestry]
name = "{name}"

[[module]]
name = "procs"
path = "@MODS@/procs"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "caller_bead"
module = "procs"

[[weave]]
name = "w"
beads = ["caller_bead"]

[[string]]
name = "caller"
weave = "w"
args = ["procs", "T", {steps}]

[[bead]]
name = "s"
module = "sleeper"

[[weave]]
name = "sw"
beads = ["s"]

[[string]]
name = "sleeping"
weave = "sw"
entry = "sleeper_main"
args = ["sleeper", "s", "50", "1000"]
"#
    )
}

/// The one stderr line that mentions `needle`; panics unless exactly one.
fn stderr_line<'a>(out: &'a Outcome, needle: &str) -> &'a str {
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(lines.len(), 1, "one stderr line with `{needle}`\n{out}");
    lines[0]
}

/// Before: `execve` replaced the runtime and the run exited 0 with the
/// other strings gone. Now it fails with ENOTSUP and one line naming the
/// string, the bead and the program; every string runs to its end.
#[test]
fn execve_from_a_string_no_longer_replaces_the_tapestry() {
    let out = run_tapestry(
        "execve_refused",
        &with_a_sleeper("execve_refused", r#""execve", "tick""#),
    );
    out.expect_success();
    out.line("T execve failed: Operation not supported");
    out.line("T ticked");
    out.line("T done");
    let line = stderr_line(&out, "execve");
    for word in ["caller", "caller_bead", "/bin/echo", "ENOTSUP"] {
        assert!(contains_word(line, word), "`{word}` in `{line}`\n{out}");
    }
}

/// Before: the tapestry could not exit once the limit was 3 descriptors.
/// Now the limit is refused with EPERM and one line, files still open, and
/// the run ends normally.
#[test]
fn setrlimit_nofile_3_is_refused_and_the_tapestry_exits_normally() {
    let out = run_tapestry("nofile", &with_a_sleeper("nofile", r#""nofile""#));
    out.expect_success();
    out.line("T setrlimit(RLIMIT_NOFILE, 3): -1 (Operation not permitted)");
    out.line("T a file opens after: yes");
    let line = stderr_line(&out, "RLIMIT_NOFILE");
    for word in ["caller", "caller_bead", "EPERM"] {
        assert!(contains_word(line, word), "`{word}` in `{line}`\n{out}");
    }
}

/// Before: a bead closing descriptor 1 lost every string's output and the
/// run exited 0. Then `close(1)` was refused with `EPERM`, which failed
/// every gnulib program (`tr`, `gzip -c` exited 1: their `close_stdin` /
/// `close_stdout` check it). Now it succeeds for the program and the
/// descriptor stays open: the other strings' output and the line for the
/// string that failed all arrive.
#[test]
fn closing_stdout_in_a_bead_succeeds_and_keeps_the_other_strings_output_and_failure_lines() {
    let text = r#"
[tapestry]
name = "close_stdout"
workers = 1

[[module]]
name = "procs"
path = "@MODS@/procs"

[[bead]]
name = "b{i}"
module = "procs"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["b{i}"]

[[string]]
name = "closer"
weave = "w0"
args = ["procs", "C", "close_stdout"]

[[string]]
name = "talker"
weave = "w1"
args = ["procs", "T", "tick"]

[[string]]
name = "failer"
weave = "w2"
args = ["procs", "X", "tick", "fail"]
"#;
    let out = run_tapestry("close_stdout", text);
    out.expect_failed_strings(7, &[("failer", 7)]);
    out.line("T ticked");
    out.line("X ticked");
    out.line("C printed after close(1)");
    assert!(!out.stderr.contains("called close(1)"), "{out}");
    stderr_line(&out, "C close(1): 0 (ok)");
}

/// Output that cannot be written (here: stdout is /dev/full) is not lost
/// silently: one line, and a non-zero exit even though every string
/// succeeded.
#[test]
fn lost_standard_output_makes_the_run_fail() {
    let dir = scratch_dir("lost_output");
    let file = write_tapestry(
        &dir,
        "lost_output.toml",
        &with_a_sleeper("lost_output", r#""tick""#),
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full (a standard Linux device) opens");
    let out = weaves_command()
        .arg("run")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .expect("weaves runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("standard output") && l.contains("lost")),
        "{stderr}"
    );
}
