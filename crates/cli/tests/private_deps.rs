//! A module's DT_NEEDED library that is not a system library becomes a
//! private bead of each bead that needs it (in the same weaves), unless the
//! tapestry declares a module for it and wires a bead of it explicitly.

mod common;

use common::*;

#[test]
fn private_dependency_gets_one_bead_per_user() {
    let out = run_tapestry(
        "private_deps",
        r#"
[tapestry]
name = "deps"

[[module]]
name = "uses"
path = "@MODS@/uses_helper.so"

[[bead]]
name = "u{i}"
module = "uses"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["u{i}"]

[[string]]
count = 2
weave = "w{i}"
entry = "uses_main"
args = ["uses", "u{i}", "3"]
"#,
    );
    out.expect_success();
    // A shared libwvhelper would reach 6 for one of them.
    assert_eq!(
        out.sorted_lines(),
        ["uses u0: helper=3", "uses u1: helper=3"]
    );
}

#[test]
fn declared_module_satisfies_the_dependency_and_can_be_shared() {
    let out = run_tapestry(
        "declared_dep_shared",
        r#"
[tapestry]
name = "deps-shared"

[[module]]
name = "uses"
path = "@MODS@/uses_helper.so"

[[module]]
name = "helper"
path = "@MODS@/libwvhelper.so"

[[bead]]
name = "h"
module = "helper"

[[bead]]
name = "u{i}"
module = "uses"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["u{i}", "h"]

[[string]]
count = 2
weave = "w{i}"
entry = "uses_main"
args = ["uses", "u{i}", "3"]
"#,
    );
    out.expect_success();
    let seen: Vec<i64> = out.lines().iter().map(|l| field(l, "helper")).collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        *seen.iter().max().unwrap(),
        6,
        "one shared helper bead counts both strings' calls\n{out}"
    );
}
