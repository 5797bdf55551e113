//! Preemption (`preempt_ms`): a string spinning without any call does not
//! starve another on the same worker; strings sharing a non-reentrant bead
//! are switched only at safe points, never inside it.

mod common;

use common::*;

#[test]
fn spinning_string_does_not_starve_another_on_one_worker() {
    // Without preemption this never ends: the spinner makes no call, and the
    // releaser shares its only worker.
    let out = run_tapestry(
        "preempt_spin",
        r#"
[tapestry]
name = "spin"
workers = 1
preempt_ms = 5

[[module]]
name = "spin"
path = "@MODS@/spin.so"

[[bead]]
name = "waiter"
module = "spin"

[[bead]]
name = "setter"
module = "spin"

[[weave]]
name = "w0"
beads = ["waiter"]

[[weave]]
name = "w1"
beads = ["setter"]

[[string]]
name = "spinner"
weave = "w0"
entry = "spin_wait"

[[string]]
name = "releaser"
weave = "w1"
entry = "spin_set"

[[tuple_space]]
variables = ["go"]
beads = ["waiter", "setter"]
"#,
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        ["spin: released after spinning", "spin: set"]
    );
}

fn reentry_tapestry(preempt: &str) -> String {
    format!(
        r#"
[tapestry]
name = "reentry"
workers = 1
{preempt}

[[module]]
name = "r"
path = "@MODS@/reentry.so"

# One bead, shared by both strings' weaves: not re-entrant.
[[bead]]
name = "crit"
module = "r"

[[weave]]
name = "w{{i}}"
count = 2
beads = ["crit"]

[[string]]
name = "s{{i}}"
count = 2
weave = "w{{i}}"
entry = "reentry_main"
args = ["reentry", "{{i}}", "10", "30000000"]
"#
    )
}

#[test]
fn strings_in_a_shared_bead_switch_only_at_safe_points() {
    let out = run_tapestry("preempt_shared_bead", &reentry_tapestry("preempt_ms = 1"));
    out.expect_success();
    // Both strings ran interleaved (each resumed after the other had run:
    // ticks taken at the safe point between rounds), and neither was ever
    // switched inside `critical`.
    assert_eq!(
        out.sorted_lines(),
        [
            "reentry 0: reentries=0 resumed_after_other=yes",
            "reentry 1: reentries=0 resumed_after_other=yes",
        ]
    );
}

#[test]
fn without_preemption_the_first_string_runs_to_its_end() {
    let out = run_tapestry(
        "no_preempt_shared_bead",
        &reentry_tapestry("preempt_ms = 0"),
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "reentry 0: reentries=0 resumed_after_other=no",
            "reentry 1: reentries=0 resumed_after_other=yes",
        ]
    );
}

/// The bug: preemption was off unless `preempt_ms` was set, so one string
/// spinning without a call starved every other string of its worker.
#[test]
fn a_spinning_string_does_not_starve_sleepers_by_default() {
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("preempt_default_{workers}"),
            &format!(
                r#"
[tapestry]
name = "hog"
workers = {workers}

[[module]]
name = "hog"
path = "@MODS@/hog.so"

[[bead]]
name = "spin"
module = "hog"

[[bead]]
name = "nap{{i}}"
module = "hog"
count = 3

[[weave]]
name = "ws"
beads = ["spin"]

[[weave]]
name = "wn{{i}}"
count = 3
beads = ["nap{{i}}"]

[[string]]
name = "spinner"
weave = "ws"
entry = "hog_spin"
args = ["hog", "3"]

[[string]]
name = "sleeper{{i}}"
weave = "wn{{i}}"
count = 3
entry = "hog_sleep"
args = ["hog", "{{i}}"]

[[tuple_space]]
variables = ["finished"]
beads = ["spin", "nap0", "nap1", "nap2"]
"#
            ),
        );
        out.expect_success();
        let lines = out.sorted_lines();
        assert!(
            lines.contains(&"hog: released after spinning".to_owned()),
            "{out}"
        );
        for i in 0..3 {
            assert!(lines.contains(&format!("sleeper {i}: done")), "{out}");
        }
    }
}

/// With preemption off, a string that holds its worker for seconds is named
/// on stderr (once), and still finishes.
#[test]
fn the_watchdog_names_a_string_that_holds_its_worker() {
    let out = run_tapestry(
        "watchdog_line",
        r#"
[tapestry]
name = "hog"
workers = 1
preempt_ms = 0

[[module]]
name = "hog"
path = "@MODS@/hog.so"

[[bead]]
name = "h"
module = "hog"

[[weave]]
name = "w"
beads = ["h"]

[[string]]
name = "hogger"
weave = "w"
entry = "hog_spin_for"
args = ["hog", "2600"]
"#,
    );
    out.expect_success();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("has held worker 0"))
        .collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(contains_word(warnings[0], "hogger"), "{out}");
}

/// The bug: a program's threads share its bead, so the equivalence-class
/// rule never found a safe point in it, and threads spinning on a flag
/// another thread sets (with no call in the loop) hung with the default
/// settings, on one worker and on two (four spinners, two workers). A
/// program's own threads are now preempted anywhere in its code: three
/// copies of the program, each its own bead, as PIE and as shared object,
/// match three native runs. The program's second part pins the bug that
/// followed: a thread preempted while holding a `pthread_spin_lock` left
/// the next thread on its worker spinning in the C library for ever (the
/// runtime's spin lock yields).
#[test]
fn program_threads_spinning_on_shared_flags_complete_on_one_and_two_workers() {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines("spin_flags", &runs);
    assert!(expected.iter().any(|l| l == "a failures 0"), "{expected:?}");
    for file in ["spin_flags", "spin_flags.so"] {
        for workers in [1, 2] {
            let argv: Vec<Vec<&str>> = runs
                .iter()
                .map(|r| [&["spin_flags"][..], r].concat())
                .collect();
            let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
            let out = run_tapestry(
                &format!("spin_flags_{}_{workers}", file.replace('.', "_")),
                &one_program_per_bead(file, "main", workers, &argv),
            );
            out.expect_success();
            assert_eq!(
                out.sorted_lines(),
                expected,
                "{file} on {workers} worker(s)"
            );
        }
    }
}
