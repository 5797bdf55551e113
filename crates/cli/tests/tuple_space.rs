//! Must show 6: a tuple space shares one global between otherwise private
//! beads; variables not reached through the GOT cannot be shared.

mod common;

use common::*;

/// Increments per string.
const K: i64 = 5;

/// Three `tuple` beads, each in its own weave and string, with `tuple_spaces`
/// appended verbatim.
fn tuple_tapestry(tuple_spaces: &str) -> String {
    format!(
        r#"
[tapestry]
name = "tuples"

[[module]]
name = "tuple"
path = "@MODS@/tuple.so"

[[bead]]
name = "t{{i}}"
module = "tuple"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["t{{i}}"]

[[string]]
name = "count{{i}}"
weave = "w{{i}}"
count = 3
entry = "tuple_main"
args = ["tuple", "t{{i}}", "{K}"]
{tuple_spaces}"#
    )
}

#[test]
fn tuple_space_shares_exactly_the_listed_variable() {
    let out = run_tapestry(
        "tuple_shared",
        &tuple_tapestry(
            r#"
[[tuple_space]]
variables = ["packets_seen"]
beads = ["t0", "t1"]
"#,
        ),
    );
    out.expect_success();
    let shared: Vec<i64> = ["t0", "t1"]
        .iter()
        .map(|tag| {
            let line = out.line(&format!("{tag} "));
            assert_eq!(field(line, "other"), K, "`other` stays private\n{out}");
            field(line, "packets_seen")
        })
        .collect();
    for p in &shared {
        assert!((K..=2 * K).contains(p), "packets_seen {p}\n{out}");
    }
    assert_eq!(
        *shared.iter().max().unwrap(),
        2 * K,
        "one shared packets_seen\n{out}"
    );
    // t2 is outside the tuple space: everything private.
    assert_eq!(out.line("t2 "), format!("t2 packets_seen={K} other={K}"));
}

#[test]
fn variables_not_reached_through_the_got_are_refused() {
    for var in ["hidden_global", "hidden_var"] {
        let out = run_tapestry(
            &format!("tuple_{var}"),
            &tuple_tapestry(&format!(
                r#"
[[tuple_space]]
variables = ["{var}"]
beads = ["t0", "t1"]
"#
            )),
        );
        out.expect_error_with_any(&[var], &["GOT"]);
        assert!(out.stdout.is_empty(), "no string may run\n{out}");
    }
}

#[test]
fn unknown_tuple_space_variable_or_bead_is_an_error() {
    for (test, variable, bead) in [
        ("tuple_no_var", "no_such_variable", "t1"),
        ("tuple_no_bead", "packets_seen", "no_such_bead"),
    ] {
        let out = run_tapestry(
            test,
            &tuple_tapestry(&format!(
                r#"
[[tuple_space]]
variables = ["{variable}"]
beads = ["t0", "{bead}"]
"#
            )),
        );
        let at_fault = if bead == "t1" { variable } else { bead };
        out.expect_error(&[at_fault]);
        assert!(out.stdout.is_empty(), "no string may run\n{out}");
    }
}
