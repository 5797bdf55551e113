//! Asynchronous signals per bead and per string, compared with the same
//! program (`tests/modules/sigs.c`, the case chosen by argv) run natively:
//! each bead has its own handlers and its own alarm clock, a string its
//! own mask; a signal interrupts a sleep or `pause` as natively; an
//! unhandled signal ends only the string that took it. Every case runs
//! beside unrelated strings, on one and on two workers.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::*;

/// A tapestry where strings `s0..` (each in a weave and bead of its own)
/// run the given `sigs` argument lists, beside two calm strings.
fn tapestry(runs: &[&[&str]], workers: u32) -> String {
    tapestry_in("fiber", runs, workers)
}

/// [`tapestry`] with the signalled strings in `mode`.
fn tapestry_in(mode: &str, runs: &[&[&str]], workers: u32) -> String {
    let mut text = format!(
        r#"
[tapestry]
name = "signals"
workers = {workers}

[[module]]
name = "sigs"
path = "@MODS@/sigs"

[[bead]]
name = "calm{{i}}"
module = "sigs"
count = 2

[[weave]]
name = "wcalm{{i}}"
count = 2
beads = ["calm{{i}}"]

[[string]]
name = "calm{{i}}"
count = 2
weave = "wcalm{{i}}"
entry = "main"
args = ["sigs", "calm", "calm{{i}}"]
"#
    );
    for (i, args) in runs.iter().enumerate() {
        let args: Vec<String> = std::iter::once("sigs")
            .chain(args.iter().copied())
            .map(|a| format!("\"{a}\""))
            .collect();
        text += &format!(
            r#"
[[bead]]
name = "b{i}"
module = "sigs"

[[weave]]
name = "w{i}"
beads = ["b{i}"]

[[string]]
name = "s{i}"
weave = "w{i}"
entry = "main"
mode = "{mode}"
args = [{}]
"#,
            args.join(", ")
        );
    }
    text
}

/// Runs `runs` as beads on one and on two workers; each time stdout must be
/// the native runs' lines plus the calm strings'.
fn same_as_native(test: &str, runs: &[&[&str]]) {
    same_as_native_in("fiber", test, runs);
}

fn same_as_native_in(mode: &str, test: &str, runs: &[&[&str]]) {
    let mut expected = native_lines("sigs", runs);
    expected.extend(["calm0: calm".to_owned(), "calm1: calm".to_owned()]);
    expected.sort();
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("{test}_{workers}"),
            &tapestry_in(mode, runs, workers),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} workers\n{out}");
        assert_eq!(out.stderr, "", "{out}");
    }
}

/// Two beads each call `alarm(1)` with their own SIGALRM handler and sleep
/// 5 s: both handlers run (not one for the whole process) and each sleep
/// returns the seconds left, as in two native runs.
#[test]
fn two_beads_alarm_each_get_their_own_sigalrm() {
    same_as_native("two_alarms", &[&["alarm", "a"], &["alarm", "b"]]);
}

/// `nanosleep` interrupted by the bead's alarm: -1, EINTR, the time left.
#[test]
fn nanosleep_interrupted_by_alarm_returns_eintr_and_remaining_time() {
    same_as_native("nanosleep", &[&["nanosleep", "n"]]);
}

/// `kill(getpid(), SIGUSR1)` and `raise(SIGUSR2)` run the calling bead's
/// handlers before returning; another bead with the same handlers
/// installed, but not signalled, sees nothing.
#[test]
fn kill_getpid_and_raise_run_only_the_calling_beads_handler() {
    same_as_native("kill", &[&["kill", "k"], &["mask", "m"]]);
}

/// `sigprocmask` blocks a raised SIGUSR1 (pending, handler not run);
/// unblocking delivers it before `sigprocmask` returns.
#[test]
fn sigprocmask_unblock_delivers_the_pending_signal() {
    same_as_native("mask", &[&["mask", "m"]]);
}

/// `pthread_kill` to a thread string parked in `pause()`: the handler runs
/// in that thread and `pause` returns -1/EINTR.
#[test]
fn pthread_kill_interrupts_pause_in_the_target_thread() {
    same_as_native("pthread_kill", &[&["pthread", "p"]]);
}

/// A POSIX timer with SIGEV_SIGNAL and a value: the SA_SIGINFO handler gets
/// the value and SI_TIMER, and `pause` returns EINTR.
#[test]
fn timer_create_sigev_signal_reaches_the_sa_siginfo_handler() {
    same_as_native("timer", &[&["timer", "t"]]);
}

/// A bead that handles SIGCHLD blocks it, forks, and waits in
/// `sigsuspend`: its handler runs when its child exits.
#[test]
fn sigchld_handler_runs_when_the_beads_child_exits() {
    same_as_native("sigchld", &[&["chld", "c"], &["kill", "k"]]);
}

/// A SIGALRM handler that leaves by `siglongjmp`, three rounds: each
/// round's alarm is delivered (the jump does not leave SIGALRM blocked in
/// the string's mask).
#[test]
fn siglongjmp_out_of_a_handler_leaves_the_signal_unblocked() {
    same_as_native("jump", &[&["jump", "j"]]);
}

/// An alarm interrupts a `read` and a `poll` parked on an empty pipe
/// (-1/EINTR); with SA_RESTART the `read` goes on and gets the byte a
/// thread writes later.
#[test]
fn alarm_interrupts_read_and_poll_unless_sa_restart() {
    same_as_native("read", &[&["read", "r"]]);
}

/// `raise(SIGUSR1)` with no handler: natively the program dies by the
/// signal (status 128 + 10); as a bead only its string ends, with that
/// status and one line, while unrelated strings finish.
#[test]
fn unhandled_sigusr1_ends_only_that_string() {
    let native = run_native("sigs", &["default", "d"]);
    assert_eq!(
        native.status.signal(),
        Some(libc::SIGUSR1),
        "natively killed by SIGUSR1\n{native}"
    );
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("default_action_{workers}"),
            &tapestry(&[&["default", "d"]], workers),
        );
        out.expect_failed_strings(138, &[("s0", 138)]);
        assert_eq!(
            out.sorted_lines(),
            [
                "calm0: calm",
                "calm1: calm",
                "d: raising SIGUSR1 with no handler"
            ],
            "{out}"
        );
        let said: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("SIGUSR1"))
            .collect();
        assert_eq!(said.len(), 1, "one line names the signal\n{out}");
        assert!(contains_word(said[0], "s0"), "{out}");
    }
}

/// Every case at once in one tapestry: timers, masks and handlers of one
/// bead never leak into another's.
#[test]
fn all_cases_side_by_side_match_native() {
    same_as_native(
        "side_by_side",
        &[
            &["alarm", "a"],
            &["nanosleep", "n"],
            &["kill", "k"],
            &["mask", "m"],
            &["pthread", "p"],
            &["timer", "t"],
        ],
    );
}

/// The same cases in thread-mode strings (each driven by an OS thread of
/// its own): the waits park on the thread's parker and are interrupted
/// the same way.
#[test]
fn thread_mode_strings_take_signals_as_natively() {
    same_as_native_in(
        "thread",
        "thread_mode",
        &[
            &["alarm", "a"],
            &["nanosleep", "n"],
            &["kill", "k"],
            &["pthread", "p"],
            &["timer", "t"],
        ],
    );
}

/// `kill(0, SIGUSR1)` (the process group, which holds the tapestry) from a
/// bead reaches that bead's handler only, never the `weaves` process. Both
/// runs get a process group of their own, so that the native one does not
/// signal the test harness.
#[test]
fn kill_process_group_from_a_bead_stays_in_the_bead() {
    use std::os::unix::process::CommandExt;
    let mut native = std::process::Command::new(module("sigs"));
    native.args(["killgroup", "g"]).process_group(0);
    let native = run_command(native, "sigs killgroup g".into());
    native.expect_success();
    let mut expected: Vec<String> = native.stdout.lines().map(str::to_owned).collect();
    expected.extend(["calm0: calm".to_owned(), "calm1: calm".to_owned()]);
    expected.sort();
    for workers in [1, 2] {
        let dir = scratch_dir(&format!("kill_group_{workers}"));
        let file = write_tapestry(
            &dir,
            "kill_group.toml",
            &tapestry(&[&["killgroup", "g"]], workers),
        );
        let mut cmd = weaves_command();
        cmd.arg("run").arg(&file).process_group(0);
        let out = run_command(cmd, format!("weaves run {}", file.display()));
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} workers\n{out}");
    }
}

/// Natively an unhandled SIGUSR1 ends the whole process, threads included;
/// as a bead it ends the program's string and its thread strings (one is
/// waiting in `pause`), so the run does not hang, while unrelated strings
/// finish.
#[test]
fn unhandled_signal_ends_the_programs_threads_too() {
    let native = run_native("sigs", &["defaultthread", "d"]);
    assert_eq!(native.status.signal(), Some(libc::SIGUSR1), "{native}");
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("default_thread_{workers}"),
            &tapestry(&[&["defaultthread", "d"]], workers),
        );
        out.expect_failed_strings(138, &[("s0", 138)]);
        assert_eq!(
            out.sorted_lines(),
            [
                "calm0: calm",
                "calm1: calm",
                "d: raising SIGUSR1 with no handler, a thread in pause"
            ],
            "{out}"
        );
        out.expect_absent("still here");
    }
}
