//! Must show 2: a C++ module as two beads — static constructors, std::string
//! and std::vector, exceptions thrown in one function and caught in another
//! (by their own type and by base class), destructors at bead teardown.

mod common;

use common::*;

#[test]
fn cxx_beads_construct_throw_catch_and_destruct() {
    let out = run_tapestry(
        "cxx_two_beads",
        r#"
[tapestry]
name = "cxx"

[[module]]
name = "cxx"
path = "@MODS@/cxx_module.so"

[[bead]]
name = "x{i}"
module = "cxx"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["x{i}"]

[[string]]
name = "cxx{i}"
weave = "w{i}"
count = 2
entry = "cxx_main"
args = ["cxx", "x{i}"]
"#,
    );
    out.expect_success();

    let lines = out.lines();
    for tag in ["x0", "x1"] {
        // ctor=1: this bead's own static constructor ran exactly once.
        let main_line = format!(
            "cxx {tag}: ctor=1 sum=15 caught=bad input in {tag} base=bad input in {tag} \
             vec=1,2,3,4,5 text=hello {tag}"
        );
        assert_eq!(out.line(&format!("cxx {tag}:")), main_line);
        // The destructor ran once in each bead, after every string had ended,
        // and it saw the tag its own bead's string stored.
        let dtor_line = format!("cxx dtor {tag}");
        let dtor_at = lines.iter().position(|l| *l == dtor_line);
        let dtor_at = dtor_at.unwrap_or_else(|| panic!("no `{dtor_line}`\n{out}"));
        assert_eq!(
            out.lines_starting(&dtor_line).len(),
            1,
            "one destructor run\n{out}"
        );
        let last_main = lines.iter().rposition(|l| l.starts_with("cxx x")).unwrap();
        assert!(
            dtor_at > last_main,
            "destructor ran before a string ended\n{out}"
        );
    }
    assert_eq!(
        lines.len(),
        4,
        "two result lines and two destructor lines\n{out}"
    );
}
