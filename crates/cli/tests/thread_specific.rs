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
        let out = run_tapestry(
            &format!("tsd_{workers}"),
            &format!(
                r#"
[tapestry]
name = "tsd"
workers = {workers}

[[module]]
name = "tsd"
path = "@MODS@/tsd"

[[bead]]
name = "p{{i}}"
module = "tsd"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["p{{i}}"]

[[string]]
name = "s0"
weave = "w0"
args = ["tsd", "a"]

[[string]]
name = "s1"
weave = "w1"
args = ["tsd", "b"]

[[string]]
name = "s2"
weave = "w2"
args = ["tsd", "c"]
"#
            ),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} worker(s)");
    }
}
