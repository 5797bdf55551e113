//! Must show 8: bad input gets one clear error line naming what is at fault,
//! a non-zero exit, and never a crash or a panic.

mod common;

use common::*;
use std::path::Path;

/// A tapestry with one `app` bead and one counter bead in one weave, its
/// module paths given, plus `extra` appended verbatim.
fn app_tapestry(app_path: &str, extra: &str) -> String {
    format!(
        r#"
[tapestry]
name = "errors"

[[module]]
name = "app"
path = "{app_path}"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "a0"
module = "app"

[[bead]]
name = "c0"
module = "counter"

[[weave]]
name = "w0"
beads = ["a0", "c0"]
{extra}"#
    )
}

const APP_STRING: &str = r#"
[[string]]
name = "main_string"
weave = "w0"
entry = "app_main"
args = ["app", "a0"]
"#;

/// Writes `bytes` as `file` into the test's scratch directory, runs a
/// tapestry whose `app` module is that file, and returns the outcome.
fn run_with_app_file(test: &str, file: &str, bytes: &[u8]) -> Outcome {
    let dir = scratch_dir(test);
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    let tapestry = write_tapestry(
        &dir,
        &format!("{test}.toml"),
        &app_tapestry(&toml_escape(&path), APP_STRING),
    );
    weaves_run(&tapestry, None)
}

fn counter_bytes() -> Vec<u8> {
    std::fs::read(module("counter.so")).unwrap()
}

#[test]
fn truncated_elf_file() {
    let out = run_with_app_file("truncated_elf", "truncated.so", &counter_bytes()[..100]);
    out.expect_error(&["truncated.so"]);
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn file_that_is_not_elf() {
    let out = run_with_app_file("not_elf", "notes.so", b"these are notes, not an ELF file\n");
    out.expect_error(&["notes.so"]);
}

#[test]
fn elf_for_another_architecture() {
    let mut bytes = counter_bytes();
    // e_machine (offset 18, little-endian u16) = 183, EM_AARCH64.
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    let out = run_with_app_file("wrong_arch", "arm64.so", &bytes);
    out.expect_error_with_any(
        &["arm64.so"],
        &["aarch64", "arm", "architecture", "machine", "183"],
    );
}

#[test]
fn nonexistent_module_path() {
    let out = run_tapestry(
        "no_such_path",
        &app_tapestry("@MODS@/does_not_exist.so", APP_STRING),
    );
    out.expect_error(&["does_not_exist.so"]);
}

#[test]
fn missing_symbols_are_all_listed() {
    let out = run_tapestry(
        "missing_symbols",
        r#"
[tapestry]
name = "missing"
bind = "now"

[[module]]
name = "missing"
path = "@MODS@/missing.so"

[[bead]]
name = "lonely"
module = "missing"

[[weave]]
name = "w"
beads = ["lonely"]

[[string]]
weave = "w"
entry = "missing_main"
args = ["missing"]
"#,
    );
    out.expect_error(&["no_such_fn_a", "no_such_fn_b", "lonely"]);
    assert!(out.stdout.is_empty(), "{out}");
}

fn lazy_tapestry(how: &str) -> String {
    format!(
        r#"
[tapestry]
name = "lazy"
workers = 2

[[module]]
name = "missing"
path = "@MODS@/missing.so"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "lonely{{i}}"
module = "missing"
count = 2

[[bead]]
name = "nap"
module = "sleeper"

[[weave]]
name = "w{{i}}"
count = 2
beads = ["lonely{{i}}"]

[[weave]]
name = "wn"
beads = ["nap"]

[[string]]
name = "caller{{i}}"
weave = "w{{i}}"
count = 2
entry = "missing_main"
args = ["missing", "{how}"]

[[string]]
name = "napper"
weave = "wn"
entry = "sleeper_main"
args = ["sleeper", "n", "20", "1000"]
"#
    )
}

/// The bug: a module that merely references a function nothing defines
/// was refused at load, where natively lazy binding fails only at a call.
#[test]
fn functions_found_nowhere_fail_only_when_called() {
    let out = run_tapestry("lazy_never_called", &lazy_tapestry("never"));
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        ["missing: never called them", "missing: never called them"]
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("no_such_fn_a"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the module at load:\n{out}"
    );
    assert!(
        warnings[0].contains("no_such_fn_b")
            && warnings[0].contains("`lonely0`, `lonely1`")
            && warnings[0].contains("bind = \"now\""),
        "{out}"
    );

    let out = run_tapestry("lazy_called", &lazy_tapestry("call"));
    assert_eq!(
        out.code(),
        127,
        "ld.so's status for a symbol lookup error\n{out}"
    );
    assert_eq!(out.sorted_lines(), ["missing: calling", "missing: calling"]);
    for s in ["caller0", "caller1"] {
        assert!(
            out.stderr.lines().any(|l| l.contains("symbol lookup error")
                && contains_word(l, s)
                && l.contains("undefined symbol: no_such_fn_a")
                && l.contains("missing_main+0x")),
            "{out}"
        );
    }
    assert!(
        !out.stderr.contains("napper"),
        "the unrelated string finished:\n{out}"
    );
}

#[test]
fn bad_toml_syntax_names_file_and_line() {
    let out = run_tapestry(
        "bad_syntax",
        "[tapestry]\nname = \"bad\"\n[[module]\nname = \"app\"\npath = \"app.so\"\n",
    );
    out.expect_error(&["bad_syntax.toml", "line 3"]);
}

#[test]
fn unknown_key_names_key_and_line() {
    // Line 10 of the file is `modul = "counter"`.
    let text = "[tapestry]\nname = \"typo\"\n\n[[module]]\nname = \"counter\"\n\
                path = \"@MODS@/counter.so\"\n\n[[bead]]\nname = \"c0\"\nmodul = \"counter\"\n";
    assert_eq!(text.lines().nth(9), Some("modul = \"counter\""));
    let out = run_tapestry("unknown_key", text);
    out.expect_error(&["modul", "unknown_key.toml", "line 10"]);
}

#[test]
fn unknown_names_in_beads_weaves_and_strings() {
    let cases = [
        // (test, name at fault, tapestry)
        (
            "unknown_module",
            "no_such_module",
            app_tapestry(
                "@MODS@/app.so",
                "\n[[bead]]\nname = \"stray\"\nmodule = \"no_such_module\"\n",
            ),
        ),
        (
            "unknown_bead",
            "ghost_bead",
            app_tapestry(
                "@MODS@/app.so",
                "\n[[weave]]\nname = \"w1\"\nbeads = [\"c0\", \"ghost_bead\"]\n",
            ),
        ),
        (
            "unknown_weave",
            "nowhere",
            app_tapestry(
                "@MODS@/app.so",
                "\n[[string]]\nweave = \"nowhere\"\nentry = \"app_main\"\nargs = [\"app\"]\n",
            ),
        ),
        (
            "unknown_entry_bead",
            "ghost",
            app_tapestry(
                "@MODS@/app.so",
                "\n[[string]]\nweave = \"w0\"\nentry = \"ghost:app_main\"\nargs = [\"app\"]\n",
            ),
        ),
        (
            "entry_bead_outside_weave",
            "c9",
            app_tapestry(
                "@MODS@/app.so",
                "\n[[bead]]\nname = \"c9\"\nmodule = \"counter\"\n\
                 \n[[string]]\nweave = \"w0\"\nentry = \"c9:counter_next\"\nargs = [\"x\"]\n",
            ),
        ),
    ];
    for (test, at_fault, text) in cases {
        let out = run_tapestry(test, &text);
        out.expect_error(&[at_fault]);
        assert!(out.stdout.is_empty(), "{test}: no string may run\n{out}");
    }
}

#[test]
fn entry_symbol_that_does_not_exist() {
    for (test, entry, at_fault) in [
        ("no_entry_plain", "no_such_entry", "no_such_entry"),
        ("no_entry_qualified", "a0:no_such_entry", "no_such_entry"),
    ] {
        let string = format!(
            "\n[[string]]\nname = \"s\"\nweave = \"w0\"\nentry = \"{entry}\"\nargs = [\"app\"]\n"
        );
        let out = run_tapestry(test, &app_tapestry("@MODS@/app.so", &string));
        out.expect_error(&[at_fault]);
        assert!(out.stdout.is_empty(), "{test}: no string may run\n{out}");
    }
}

/// `app_x` is in weaves [cnt_a, app_x] and [cnt_b, app_x]: its imports
/// `counter_next`/`counter_get` would bind to `cnt_a` in one and `cnt_b` in the
/// other, which one bead cannot do.
#[test]
fn conflicting_resolutions_of_a_shared_bead() {
    let out = run_tapestry(
        "conflict",
        r#"
[tapestry]
name = "conflict"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "cnt_a"
module = "counter"

[[bead]]
name = "cnt_b"
module = "counter"

[[bead]]
name = "app_x"
module = "app"

[[weave]]
name = "left"
beads = ["cnt_a", "app_x"]

[[weave]]
name = "right"
beads = ["cnt_b", "app_x"]

[[string]]
weave = "left"
entry = "app_main"
args = ["app", "left"]
"#,
    );
    let line = out.expect_error(&["app_x", "cnt_a", "cnt_b"]);
    assert!(
        contains_word(line, "counter_next") || contains_word(line, "counter_get"),
        "conflict names the symbol\n{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

/// A directory given as a module path is refused cleanly too.
#[test]
fn directory_as_module_path() {
    let dir = scratch_dir("dir_as_module");
    let fake = dir.join("fake.so");
    std::fs::create_dir_all(&fake).unwrap();
    let tapestry = write_tapestry(
        &dir,
        "dir.toml",
        &app_tapestry(&toml_escape(Path::new(&fake)), APP_STRING),
    );
    weaves_run(&tapestry, None).expect_error(&["fake.so"]);
}
