//! Must show 7: 1,000 beads and 1,000 strings from `count` replication.

mod common;

use common::*;

#[test]
fn thousand_beads_thousand_strings() {
    const COUNT: usize = 1000;
    let out = run_tapestry(
        "scale_1000",
        &format!(
            r#"
[tapestry]
name = "scale"

[[module]]
name = "small"
path = "@MODS@/small.so"

[[bead]]
name = "s{{i}}"
module = "small"
count = {COUNT}

[[weave]]
name = "w{{i}}"
count = {COUNT}
beads = ["s{{i}}"]

[[string]]
name = "run{{i}}"
weave = "w{{i}}"
count = {COUNT}
entry = "small_main"
args = ["small", "s{{i}}"]
"#
        ),
    );
    out.expect_success();
    // Every bead ran exactly once with fresh globals ({i} expanded 0..1000).
    let mut expected: Vec<String> = (0..COUNT).map(|i| format!("small s{i} ok")).collect();
    expected.sort();
    assert_eq!(out.sorted_lines(), expected);
}
