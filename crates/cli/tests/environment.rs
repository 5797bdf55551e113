//! Each string has its own environment: the process's, plus its `env`
//! table; `setenv`/`unsetenv` change only the string's own.

mod common;

use common::*;

#[test]
fn strings_have_private_environments() {
    let out = run_tapestry(
        "environment",
        r#"
[tapestry]
name = "env"

[[module]]
name = "m"
path = "@MODS@/env_mod.so"

[[bead]]
name = "b{i}"
module = "m"
count = 2

[[weave]]
name = "w{i}"
count = 2
beads = ["b{i}"]

[[string]]
name = "hello"
weave = "w0"
entry = "env_main"
args = ["env", "s0"]
env = { WV_GREETING = "hello", WV_ONLY_HERE = "1" }

[[string]]
name = "plain"
weave = "w1"
entry = "env_main"
args = ["env", "s1"]
"#,
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "env s0: before=hello after=changed kept=hello gone=yes path=set",
            "env s1: before=(null) after=changed kept=(null) gone=yes path=set",
        ]
    );
}
