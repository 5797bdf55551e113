//! Faults in bead code: one diagnostic line naming string, weave, bead,
//! module and function; a fault in a bead private to its weave ends only that
//! string; a stack overflow names the string; a fault in a shared bead stops
//! the tapestry.

mod common;

use common::*;

#[test]
fn faults_end_only_the_faulting_strings() {
    let out = run_tapestry(
        "faults_private",
        r#"
[tapestry]
name = "faults"

[[module]]
name = "crash"
path = "@MODS@/crash.so"

[[bead]]
name = "b{i}"
module = "crash"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["b{i}"]

[[string]]
name = "nullwriter"
weave = "w0"
entry = "crash_main"
args = ["crash", "null"]

[[string]]
name = "deep"
weave = "w1"
entry = "crash_main"
args = ["crash", "overflow"]
stack_kib = 256

[[string]]
name = "calm"
weave = "w2"
entry = "crash_main"
args = ["crash", "none"]
"#,
    );
    assert_eq!(
        out.code(),
        139,
        "first failing string's status is 128 + SIGSEGV\n{out}"
    );
    assert_eq!(
        out.sorted_lines(),
        [
            "crash none: before",
            "crash none: survived",
            "crash null: before",
            "crash overflow: before"
        ]
    );
    let err: Vec<&str> = out.stderr.lines().collect();
    assert!(
        err.iter().any(|l| l.contains("SIGSEGV")
            && contains_word(l, "nullwriter")
            && contains_word(l, "w0")
            && contains_word(l, "b0")
            && l.contains("crash.so")
            && l.contains("poke+0x")
            && l.contains("address 0x0")),
        "{out}"
    );
    assert!(
        err.iter().any(|l| l.contains("stack overflow")
            && contains_word(l, "deep")
            && l.contains("256 KiB")),
        "{out}"
    );
    assert!(
        err.iter()
            .any(|l| contains_word(l, "nullwriter") && l.contains("status 139")),
        "{out}"
    );
    assert!(
        err.iter()
            .any(|l| contains_word(l, "deep") && l.contains("status 139")),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn fault_in_a_shared_bead_stops_the_tapestry() {
    let out = run_tapestry(
        "faults_shared",
        r#"
[tapestry]
name = "faults-shared"

[[module]]
name = "crash"
path = "@MODS@/crash.so"

[[bead]]
name = "common"
module = "crash"

[[weave]]
name = "w{i}"
count = 2
beads = ["common"]

[[string]]
name = "nullwriter"
weave = "w0"
entry = "crash_main"
args = ["crash", "null"]
"#,
    );
    assert_eq!(out.code(), 139, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("SIGSEGV"))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    assert!(
        contains_word(line, "common") && line.contains("shared") && line.contains("poke+0x"),
        "{out}"
    );
}
