//! libc's generators are per bead: beads seeding alike draw what separate
//! processes draw, whatever the interleaving.

mod common;

use common::*;

/// The bug: `rand`, `random` and the `drand48` family kept one state in
/// libc, so three beads seeding 42 drew interleaved values of one sequence.
#[test]
fn each_bead_draws_its_own_random_sequence() {
    let runs = [["x", "42"], ["y", "42"], ["z", "42"], ["w", "7"]];
    let native: Vec<Vec<&str>> = runs.iter().map(|[t, s]| vec![*t, *s]).collect();
    let native: Vec<&[&str]> = native.iter().map(Vec::as_slice).collect();
    let expected = native_lines("randoms", &native);
    for (module, entry) in [("randoms", "main"), ("randoms.so", "randoms_main")] {
        for workers in [1, 2] {
            let argv: Vec<Vec<&str>> = runs.iter().map(|[t, s]| vec!["randoms", *t, *s]).collect();
            let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
            let out = run_tapestry(
                &format!("random_{}_{workers}", entry),
                &one_program_per_bead(module, entry, workers, &argv),
            );
            out.expect_success();
            assert_eq!(
                out.sorted_lines(),
                expected,
                "{module} on {workers} worker(s)"
            );
        }
    }
}
