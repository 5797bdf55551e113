//! libc's generators are per bead: beads seeding alike draw what separate
//! processes draw, whatever the interleaving.

mod common;

use common::*;

fn tapestry(module: &str, entry: &str, workers: u32, runs: &[[&str; 2]]) -> String {
    let mut t = format!(
        "[tapestry]\nname = \"random\"\nworkers = {workers}\n\n[[module]]\nname = \"m\"\npath = \"@MODS@/{module}\"\n"
    );
    for (i, [tag, seed]) in runs.iter().enumerate() {
        t.push_str(&format!(
            "\n[[bead]]\nname = \"b{i}\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w{i}\"\nbeads = [\"b{i}\"]\n\n[[string]]\nname = \"s{i}\"\nweave = \"w{i}\"\nentry = \"{entry}\"\nargs = [\"randoms\", \"{tag}\", \"{seed}\"]\n"
        ));
    }
    t
}

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
            let out = run_tapestry(
                &format!("random_{}_{workers}", entry),
                &tapestry(module, entry, workers, &runs),
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
