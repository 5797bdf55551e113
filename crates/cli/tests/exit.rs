//! `exit(n)` inside a bead ends only the string that called it, with status n.

mod common;

use common::*;

/// `exit_mod` beads exiting with each of `statuses`, plus one `small` bead
/// whose string must still run to its end.
fn exit_tapestry(statuses: &[i32]) -> String {
    let mut t = String::from(
        r#"
[tapestry]
name = "exits"

[[module]]
name = "exit_mod"
path = "@MODS@/exit_mod.so"

[[module]]
name = "small"
path = "@MODS@/small.so"

[[bead]]
name = "bystander"
module = "small"

[[weave]]
name = "bystander_weave"
beads = ["bystander"]

[[string]]
name = "bystander_string"
weave = "bystander_weave"
entry = "small_main"
args = ["small", "bystander"]
"#,
    );
    for s in statuses {
        t += &format!(
            r#"
[[bead]]
name = "e{s}"
module = "exit_mod"

[[weave]]
name = "ew{s}"
beads = ["e{s}"]

[[string]]
name = "exit_with_{s}"
weave = "ew{s}"
entry = "exit_main"
args = ["exit_mod", "{s}"]
"#
        );
    }
    t
}

#[test]
fn exit_from_nested_call_ends_only_that_string() {
    let out = run_tapestry("exit_one", &exit_tapestry(&[0, 5]));
    out.expect_failed_strings(5, &[("exit_with_5", 5)]);
    out.expect_absent("AFTER EXIT");
    assert!(
        !out.stderr.lines().any(|l| contains_word(l, "exit_with_0")),
        "exit(0) is success\n{out}"
    );
    assert_eq!(
        out.sorted_lines(),
        [
            "exit 0: before exit",
            "exit 5: before exit",
            "small bystander ok"
        ]
    );
}

#[test]
fn exit_zero_is_success() {
    let out = run_tapestry("exit_zero", &exit_tapestry(&[0]));
    out.expect_success();
    out.expect_absent("AFTER EXIT");
    assert_eq!(
        out.sorted_lines(),
        ["exit 0: before exit", "small bystander ok"]
    );
}

#[test]
fn every_failed_string_gets_its_own_stderr_line() {
    let out = run_tapestry("exit_two", &exit_tapestry(&[5, 6]));
    // "First" non-zero status: which one depends on the order strings end.
    let code = out.code();
    assert!(code == 5 || code == 6, "exit status {code}\n{out}");
    out.expect_failed_strings(code, &[("exit_with_5", 5), ("exit_with_6", 6)]);
    out.expect_absent("AFTER EXIT");
    assert_eq!(out.line("small"), "small bystander ok");
}
