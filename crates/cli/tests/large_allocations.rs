//! Allocations of many gigabytes behave as natively: they succeed, and
//! cost memory only for the pages touched.

mod common;

use common::*;

/// The bug: `malloc` of 8 GiB or more returned NULL in a bead (the heap's
/// TLSF index ends at 4 GiB), where natively it succeeds with lazy commit.
#[test]
fn malloc_of_16_gib_succeeds_with_lazy_commit() {
    let native = run_native("bigalloc", &["16"]);
    native.expect_success();
    let mut expected: Vec<String> = Vec::new();
    for _ in 0..3 {
        expected.extend(native.stdout.lines().map(str::to_owned));
    }
    expected.sort();
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("bigalloc_{workers}"),
            &format!(
                r#"
[tapestry]
name = "big"
workers = {workers}

[[module]]
name = "big"
path = "@MODS@/bigalloc"

[[bead]]
name = "b{{i}}"
module = "big"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["b{{i}}"]

[[string]]
weave = "w{{i}}"
count = 3
args = ["bigalloc", "16"]
"#
            ),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected);
    }
}
