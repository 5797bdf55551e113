//! Must show 4: a Rust cdylib (with its own copy of std) as two beads, each
//! with a private static counter.

mod common;

use common::*;

#[test]
fn rust_cdylib_statics_are_private_per_bead() {
    let out = run_tapestry(
        "rust_two_beads",
        r#"
[tapestry]
name = "rust"

[[module]]
name = "rust_counter"
path = "@MODS@/librust_counter.so"

[[bead]]
name = "r{i}"
module = "rust_counter"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["r{i}"]

[[string]]
name = "first"
weave = "w0"
entry = "rust_main"
args = ["rust", "r0", "3"]

[[string]]
name = "second"
weave = "w1"
entry = "rust_main"
args = ["rust", "r1", "5"]
"#,
    );
    // Each bead's COUNTER starts at 0: a shared one would reach 8 for the
    // string that bumps it last (which then returns 1).
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "rust r0: counter=3 vec_len=6 sum=15 text=r0/r0",
            "rust r1: counter=5 vec_len=10 sum=45 text=r1/r1",
        ]
    );
}
