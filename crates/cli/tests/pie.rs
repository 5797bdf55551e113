//! Must show 5: a PIE executable as two beads (private globals, `main` as the
//! default entry) and propagation of a string's exit status.

mod common;

use common::*;

/// Two beads of `pie_prog` with the given second string's extra args.
fn pie_tapestry(second_args: &str) -> String {
    format!(
        r#"
[tapestry]
name = "pie"

[[module]]
name = "pie"
path = "@MODS@/pie_prog"

[[bead]]
name = "p{{i}}"
module = "pie"
count = 2

[[weave]]
name = "w{{i}}"
count = 2
beads = ["p{{i}}"]

[[string]]
name = "ok_string"
weave = "w0"
args = ["pie_prog", "p0"]

[[string]]
name = "other_string"
weave = "w1"
args = ["pie_prog", "p1"{second_args}]
"#
    )
}

#[test]
fn pie_beads_print_what_native_runs_print() {
    let out = run_tapestry("pie_two_beads", &pie_tapestry(""));
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        native_lines("pie_prog", &[&["p0"], &["p1"]])
    );
    // global=101 in both: each bead starts from its own `global = 100`.
    assert_eq!(
        out.line("pie p1:"),
        "pie p1: argc=2 global=101 heap=p1-p1 table=36"
    );
}

#[test]
fn failing_string_status_becomes_the_exit_status() {
    let out = run_tapestry("pie_status", &pie_tapestry(r#", "4""#));
    out.expect_failed_strings(4, &[("other_string", 4)]);
    assert!(
        !out.stderr.lines().any(|l| contains_word(l, "ok_string")),
        "the successful string is not reported as failed\n{out}"
    );
    // Both strings ran to the end and printed.
    assert_eq!(
        out.line("pie p0:"),
        "pie p0: argc=2 global=101 heap=p0-p0 table=36"
    );
    assert_eq!(
        out.line("pie p1:"),
        "pie p1: argc=3 global=101 heap=p1-p1 table=36"
    );
}
