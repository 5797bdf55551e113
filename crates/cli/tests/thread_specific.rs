//! Thread-specific data per string, with POSIX's destructor rounds; the
//! EDEADLK of a thread joining itself.

mod common;

use common::*;

/// The bugs: pthread keys were the C library's, whose values live with the
/// worker thread (strings on one worker shared them), destructors never ran
/// when a string ended, a reused key slot showed the old value; and the
/// main string joining itself got ESRCH instead of EDEADLK.
#[test]
fn thread_specific_data_is_per_string_with_destructors() {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines("tsd", &runs);
    assert!(expected.iter().any(|l| l == "a destructor count 3"));
    for workers in [1, 2] {
        let argv: Vec<Vec<&str>> = runs.iter().map(|r| [&["tsd"][..], r].concat()).collect();
        let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
        let out = run_tapestry(
            &format!("tsd_{workers}"),
            &one_program_per_bead("tsd", "main", workers, &argv),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} worker(s)");
    }
}
