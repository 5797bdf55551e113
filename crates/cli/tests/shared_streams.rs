//! The standard streams are one C `FILE` each for the whole tapestry:
//! programs that write them with the unlocked stdio calls, as beads on
//! several workers, still print every line exactly once.

mod common;

use common::*;

/// The bug: gnulib programs (every coreutils program) write stdout with
/// `fputs_unlocked`/`fwrite_unlocked`/`fputc_unlocked`, which skip the
/// stream's lock; two such beads on two workers wrote one buffer at once,
/// and lines came out twice or not at all (`sha256sum` as two beads
/// printed its line three times).
#[test]
fn unlocked_stdio_calls_from_parallel_beads_lose_and_repeat_no_line() {
    let runs: [&[&str]; 4] = [&["a"], &["b"], &["c"], &["d"]];
    let expected = native_lines("unlocked_io", &runs);
    assert_eq!(expected.len(), 4 * 6001);
    let argv: Vec<Vec<&str>> = runs
        .iter()
        .map(|r| [&["unlocked_io"][..], r].concat())
        .collect();
    let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
    for round in 0..3 {
        let out = run_tapestry(
            &format!("unlocked_io_{round}"),
            &one_program_per_bead("unlocked_io", "main", 2, &argv),
        );
        out.expect_success();
        let got = out.sorted_lines();
        if got != expected {
            let missing: Vec<&String> = expected
                .iter()
                .filter(|l| got.binary_search(l).is_err())
                .take(5)
                .collect();
            let extra: Vec<&String> = got
                .iter()
                .filter(|l| expected.binary_search(l).is_err())
                .take(5)
                .collect();
            panic!(
                "round {round}: {} lines where natively {}; missing {missing:?}, not native {extra:?}",
                got.len(),
                expected.len(),
            );
        }
    }
}
