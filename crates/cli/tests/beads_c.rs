//! C modules as beads: private globals, shared beads, per-bead TLS, entry
//! symbol forms and relative module paths.

mod common;

use common::*;
use std::path::Path;

/// Counter calls made by each `app` string in the shared-counter test (its
/// tapestry passes this as `args[2]`).
const N: i64 = 4;

/// Must show 1: three `app` beads in three weaves; two weaves share one
/// counter bead, the third has its own.
#[test]
fn two_weaves_share_one_counter_bead_third_has_its_own() {
    let out = run_tapestry(
        "shared_counter",
        r#"
[tapestry]
name = "shared-counter"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "a{i}"
module = "app"
count = 3

[[bead]]
name = "c_shared"
module = "counter"

[[bead]]
name = "c_own"
module = "counter"

[[weave]]
name = "w0"
beads = ["a0", "c_shared"]

[[weave]]
name = "w1"
beads = ["a1", "c_shared"]

[[weave]]
name = "w2"
beads = ["a2", "c_own"]

[[string]]
name = "s{i}"
weave = "w{i}"
count = 3
entry = "app_main"
args = ["app", "a{i}", "4"]
"#,
    );
    out.expect_success();

    let shared: Vec<i64> = ["a0", "a1"]
        .iter()
        .map(|tag| {
            let line = out.line(&format!("app {tag}:"));
            assert_eq!(field(line, "calls"), 1, "each app bead runs once\n{out}");
            assert!(
                line.ends_with(&format!(" heap={tag}*{N}")),
                "heap text\n{out}"
            );
            field(line, "counter")
        })
        .collect();
    for c in &shared {
        assert!((N..=2 * N).contains(c), "shared counter seen as {c}\n{out}");
    }
    assert_eq!(
        *shared.iter().max().unwrap(),
        2 * N,
        "shared counter total\n{out}"
    );

    assert_eq!(
        out.line("app a2:"),
        format!("app a2: calls=1 counter={N} heap=a2*{N}")
    );
    assert_eq!(out.lines().len(), 3, "exactly one line per string\n{out}");
}

/// A bead in two weaves whose lookups agree is fine; both strings then run
/// in that one bead and see its private state grow.
#[test]
fn bead_in_two_weaves_with_identical_resolution() {
    let out = run_tapestry(
        "same_resolution",
        r#"
[tapestry]
name = "same-resolution"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "app_y"
module = "app"

[[bead]]
name = "cnt"
module = "counter"

[[weave]]
name = "front"
beads = ["cnt", "app_y"]

[[weave]]
name = "back"
beads = ["app_y", "cnt"]

[[string]]
name = "via_front"
weave = "front"
entry = "app_y:app_main"
args = ["app", "front", "2"]

[[string]]
name = "via_back"
weave = "back"
entry = "app_main"
args = ["app", "back", "2"]
"#,
    );
    out.expect_success();
    let lines = [out.line("app front:"), out.line("app back:")];
    let mut calls: Vec<i64> = lines.iter().map(|l| field(l, "calls")).collect();
    calls.sort();
    assert_eq!(
        calls,
        [1, 2],
        "both strings ran in the one app_y bead\n{out}"
    );
    let max = lines.iter().map(|l| field(l, "counter")).max().unwrap();
    assert_eq!(max, 4, "both strings used the one cnt bead\n{out}");
}

/// Three `globals` beads: each sees its own `value` (7 + its own amount), its
/// own function-static and its own TLS.
#[test]
fn globals_statics_and_tls_are_private_per_bead() {
    let out = run_tapestry(
        "globals_private",
        r#"
[tapestry]
name = "globals"

[[module]]
name = "globals"
path = "@MODS@/globals.so"

[[bead]]
name = "g{i}"
module = "globals"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["g{i}"]

[[string]]
weave = "w{i}"
count = 3
entry = "globals_main"
args = ["globals", "g{i}", "{i}", "2"]
"#,
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "g0 value=7 static_calls=2 tls_hits=2",
            "g1 value=8 static_calls=2 tls_hits=2",
            "g2 value=9 static_calls=2 tls_hits=2",
        ]
    );
}

/// `entry = "symbol"` picks the first bead of the weave defining it;
/// `entry = "bead:symbol"` picks the named bead. Two `globals` beads in one
/// weave: if both strings ran in the same bead, its second run would see
/// value, static and TLS already bumped and return 1.
#[test]
fn entry_symbol_and_bead_colon_symbol() {
    let out = run_tapestry(
        "entry_forms",
        r#"
[tapestry]
name = "entry-forms"

[[module]]
name = "globals"
path = "@MODS@/globals.so"

[[bead]]
name = "first"
module = "globals"

[[bead]]
name = "second"
module = "globals"

[[weave]]
name = "both"
beads = ["first", "second"]

[[string]]
name = "plain"
weave = "both"
entry = "globals_main"
args = ["globals", "plain", "1"]

[[string]]
name = "qualified"
weave = "both"
entry = "second:globals_main"
args = ["globals", "qualified", "2"]
"#,
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "plain value=8 static_calls=1 tls_hits=1",
            "qualified value=9 static_calls=1 tls_hits=1"
        ]
    );
}

/// Module paths are relative to the tapestry file, not to the working
/// directory (weaves runs here from `/`).
#[test]
fn relative_module_paths_resolve_against_the_tapestry_file() {
    let dir = scratch_dir("relative_paths");
    let lib = dir.join("conf").join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(module("small.so"), lib.join("small.so")).unwrap();
    let file = write_tapestry(
        &dir.join("conf"),
        "relative.toml",
        r#"
[tapestry]
name = "relative-paths"

[[module]]
name = "small"
path = "lib/small.so"

[[bead]]
name = "only"
module = "small"

[[weave]]
name = "w"
beads = ["only"]

[[string]]
weave = "w"
entry = "small_main"
args = ["small", "rel"]
"#,
    );
    let out = weaves_run(&file, Some(Path::new("/")));
    out.expect_success();
    assert_eq!(out.lines(), ["small rel ok"]);
}
