//! Must show 3: a Fortran program (default PIE, COMMON blocks, libgfortran
//! I/O) as three beads, and `STOP 3` ending only its own string.

mod common;

use common::*;

#[test]
fn fortran_common_blocks_are_private_per_bead() {
    let out = run_tapestry(
        "fortran_three_beads",
        r#"
[tapestry]
name = "fortran"

[[module]]
name = "fcommon"
path = "@MODS@/fortran_common"

[[bead]]
name = "f{i}"
module = "fcommon"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["f{i}"]

[[string]]
name = "run{i}"
weave = "w{i}"
count = 3
args = ["fortran_common", "f{i}"]
"#,
    );
    out.expect_success();
    // Each bead starts from a zero COMMON /state/ (n=5 total=55 after its
    // five calls), exactly as three separate native runs do.
    let native = native_lines("fortran_common", &[&["f0"], &["f1"], &["f2"]]);
    assert!(
        native.contains(&"f1: n=5 total=55".to_owned()),
        "native reference: {native:?}"
    );
    assert_eq!(out.sorted_lines(), native);
}

#[test]
fn fortran_stop_ends_only_its_own_string() {
    let out = run_tapestry(
        "fortran_stop",
        r#"
[tapestry]
name = "fortran-stop"

[[module]]
name = "fcommon"
path = "@MODS@/fortran_common"

[[module]]
name = "fstop"
path = "@MODS@/fortran_stop"

[[bead]]
name = "fc"
module = "fcommon"

[[bead]]
name = "fs"
module = "fstop"

[[weave]]
name = "common_weave"
beads = ["fc"]

[[weave]]
name = "stop_weave"
beads = ["fs"]

[[string]]
name = "stopper"
weave = "stop_weave"
args = ["fortran_stop", "fs0"]

[[string]]
name = "survivor"
weave = "common_weave"
args = ["fortran_common", "fc0"]
"#,
    );
    out.expect_failed_strings(3, &[("stopper", 3)]);
    out.expect_absent("AFTER STOP");
    assert!(
        !out.stderr.lines().any(|l| contains_word(l, "survivor")),
        "survivor failed?\n{out}"
    );
    assert_eq!(out.line("fs0:"), "fs0: before stop hits=1");
    // The other string ran to its end: all of its output is there.
    let survivor: Vec<String> = out
        .sorted_lines()
        .into_iter()
        .filter(|l| !l.starts_with("fs0:"))
        .collect();
    assert_eq!(survivor, native_lines("fortran_common", &[&["fc0"]]));
}
