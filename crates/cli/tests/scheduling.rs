//! Strings as fibers: thousands of sleepers park instead of blocking their
//! workers; an ordinary pthread program runs with its threads as strings,
//! as fibers and in thread mode.

mod common;

use common::*;

/// 10,000 strings over 10,000 beads, each sleeping 1 ms ten times, on two
/// workers: only possible in reasonable time if sleeping parks the fiber
/// (10,000 blocked workers would need 10,000 threads). No timing is
/// asserted; the run must complete, every string succeed, and every bead
/// count its ten sleeps.
#[test]
fn ten_thousand_sleepers_on_two_workers() {
    let text = one_string_per_bead(
        "sleeper.so",
        10_000,
        "sleeper_main",
        r#"["sleeper", "s{i}", "10", "1000"]"#,
    )
    .replace("[tapestry]\n", "[tapestry]\nworkers = 2\n");
    let out = run_tapestry("ten_thousand_sleepers", &text);
    out.expect_success();
}

fn pthread_tapestry(mode: &str) -> String {
    format!(
        r#"
[tapestry]
name = "pthreads"
workers = 2

[[module]]
name = "p"
path = "@MODS@/pthreads"

[[bead]]
name = "b{{i}}"
module = "p"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["b{{i}}"]

[[string]]
count = 3
weave = "w{{i}}"
args = ["pthreads", "p{{i}}"]
mode = "{mode}"
"#
    )
}

fn expect_pthread_results(out: &Outcome) {
    out.expect_success();
    let native = native_lines("pthreads", &[&["p0"], &["p1"], &["p2"]]);
    assert_eq!(out.sorted_lines(), native, "{out}");
}

#[test]
fn pthread_program_with_threads_as_fibers() {
    expect_pthread_results(&run_tapestry("pthreads_fiber", &pthread_tapestry("fiber")));
}

#[test]
fn pthread_program_with_threads_in_thread_mode() {
    expect_pthread_results(&run_tapestry(
        "pthreads_thread",
        &pthread_tapestry("thread"),
    ));
}

#[test]
fn bad_mode_is_refused_with_its_line() {
    let out = run_tapestry("bad_mode", &pthread_tapestry("green"));
    out.expect_error(&["green", "line 24"]);
}

/// Runs two copies of the pthread program `program` (arguments `p0`,
/// `p1`) as beads with their threads as fibers on ONE worker, and checks
/// the output is the native run's.
fn matches_native_on_one_worker(program: &str) {
    let text = format!(
        r#"
[tapestry]
name = "{program}"
workers = 1

[[module]]
name = "p"
path = "@MODS@/{program}"

[[bead]]
name = "b{{i}}"
module = "p"
count = 2

[[weave]]
name = "w{{i}}"
count = 2
beads = ["b{{i}}"]

[[string]]
count = 2
weave = "w{{i}}"
args = ["{program}", "p{{i}}"]
"#
    );
    let out = run_tapestry(&format!("{program}_one_worker"), &text);
    out.expect_success();
    let native = native_lines(program, &[&["p0"], &["p1"]]);
    assert_eq!(out.sorted_lines(), native, "{out}");
}

/// Read-write locks and semaphores park too: with one worker, a thread
/// that waits on a semaphore or a lock held across a sleep would otherwise
/// block the only worker for good.
#[test]
fn rwlocks_and_semaphores_park_on_one_worker() {
    matches_native_on_one_worker("rwsem");
}

/// A single blocking write of 1 MiB into a pipe (64 KiB) and into a
/// stream socket, read by another thread of the same program: on one worker
/// the writer must park between pieces, or the reader never runs.
#[test]
fn a_large_blocking_write_parks_instead_of_blocking_the_worker() {
    matches_native_on_one_worker("bigwrite");
}
