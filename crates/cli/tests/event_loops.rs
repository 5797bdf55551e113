//! Event-loop waits park the string: a thread waiting in `epoll_wait`,
//! `select`, `pselect`, `poll` or `ppoll` lets the thread that will wake it
//! run on the same worker, and a wait with a timeout ends on time.

mod common;

use common::*;

/// The bugs: `epoll_wait`/`select` blocked their worker, so on one worker
/// the thread that would write never ran (3 s later they returned 0, where
/// natively they return 1 after 50 ms); and `poll` of one descriptor with a
/// timeout parked for ever when nothing came.
#[test]
fn event_loop_waits_park_and_time_out_as_natively() {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines("evloop", &runs);
    assert!(expected
        .iter()
        .any(|l| l == "a epoll_wait: woken with 1 soon"));
    for workers in [1, 2] {
        let argv: Vec<Vec<&str>> = runs.iter().map(|r| [&["evloop"][..], r].concat()).collect();
        let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
        let out = run_tapestry(
            &format!("event_loops_{workers}"),
            &one_program_per_bead("evloop", "main", workers, &argv),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} worker(s)");
    }
}
