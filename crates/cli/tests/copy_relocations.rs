//! COPY relocations of PIE executables: the executable's copy of a library
//! variable becomes *the* variable (the library's own code updates it), and
//! libc's getopt variables stay in step with the executable's copies.

mod common;

use common::*;

fn pie_tapestry(extra_module: &str, beads_and_weaves: &str) -> String {
    format!(
        r#"
[tapestry]
name = "copies"

[[module]]
name = "prog"
path = "@MODS@/copy_prog"
{extra_module}
{beads_and_weaves}
"#
    )
}

#[test]
fn pie_copies_library_variables_and_getopt_works() {
    let text = pie_tapestry(
        "",
        r#"
[[bead]]
name = "p{i}"
module = "prog"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["p{i}"]

[[string]]
count = 2
weave = "w{i}"
args = ["p{i}", "-a", "-b", "X{i}"]
"#,
    );
    let out = run_tapestry("copy_private", &text);
    out.expect_success();
    // Each bead has its own libwvcopy bead (a private DT_NEEDED): bump()
    // twice takes 5 to 7 in the executable's copy; getopt saw both options.
    assert_eq!(
        out.sorted_lines(),
        [
            "copy p0: opts=2 b=X0 optind=4 counter=7 msg=hello",
            "copy p1: opts=2 b=X1 optind=4 counter=7 msg=hello",
        ]
    );
}

#[test]
fn one_library_bead_cannot_hand_a_variable_to_two_executables() {
    let text = pie_tapestry(
        "\n[[module]]\nname = \"lib\"\npath = \"@MODS@/libwvcopy.so\"\n",
        r#"
[[bead]]
name = "shared_lib"
module = "lib"

[[bead]]
name = "p{i}"
module = "prog"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["p{i}", "shared_lib"]
"#,
    );
    let out = run_tapestry("copy_conflict", &text);
    let line = out.expect_error(&["p0", "p1", "shared_lib"]);
    assert!(line.contains("COPY"), "{out}");
}
