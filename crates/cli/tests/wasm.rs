//! Wasm beads through the CLI: C programs built to wasm32-wasi run as
//! strings under both engines and behave as their native builds do; damaged
//! and hostile modules are refused in one line; a trap ends only its
//! string; `weaves migrate` moves a string between engines in the middle of
//! a deep recursion without changing what it computes.

mod common;

use std::time::{Duration, Instant};

use common::running::{json_of, start_running, weaves, weaves_cmd, Running};
use common::*;

fn tapestry(engine_line: &str, bead_engine: &str, strings: &str) -> String {
    format!(
        r#"
[tapestry]
name = "wasm"
{engine_line}

[[module]]
name = "hello"
path = "@MODS@/wasm_hello.wasm"

[[module]]
name = "trap"
path = "@MODS@/wasm_trap.wasm"

[[bead]]
name = "h"
module = "hello"
{bead_engine}

[[bead]]
name = "t"
module = "trap"

[[weave]]
name = "w"
beads = ["h"]

[[weave]]
name = "tw"
beads = ["t"]

{strings}
"#
    )
}

const HELLO: &str = r#"
[[string]]
name = "hello"
weave = "w"
args = ["wasm_hello", "5", "stdin"]
env = { WV_TEST = "forty two" }
"#;

fn native_hello() -> Outcome {
    let mut cmd = std::process::Command::new(module("wasm_hello"));
    cmd.args(["5", "stdin"]).env("WV_TEST", "forty two");
    run_command(cmd, "wasm_hello 5 stdin".into())
}

fn expect_like_native(out: &Outcome, native: &Outcome, what: &str) {
    assert_eq!(out.stdout, native.stdout, "{what}: stdout differs\n{out}");
    assert_eq!(
        out.code(),
        native.code(),
        "{what}: exit status differs\n{out}"
    );
    assert!(
        out.stderr.contains(native.stderr.trim()),
        "{what}: stderr lacks the program's line\n{out}"
    );
}

#[test]
fn wasm_bead_prints_reads_and_exits_as_its_native_build_under_both_engines() {
    let native = native_hello();
    assert_eq!(native.code(), 5, "{native}");
    for engine in ["wasmtime", "wasmi"] {
        let text = tapestry(&format!("engine = \"{engine}\""), "", HELLO);
        let out = run_tapestry(&format!("wasm_hello_{engine}"), &text);
        expect_like_native(&out, &native, engine);
        out.expect_failed_strings(5, &[("hello", 5)]);
    }
}

#[test]
fn run_engine_overrides_the_engine_a_bead_names() {
    let native = native_hello();
    let dir = scratch_dir("wasm_run_engine");
    let file = write_tapestry(
        &dir,
        "t.toml",
        &tapestry("", "engine = \"wasmtime\"", HELLO),
    );
    let mut cmd = weaves_command();
    cmd.arg("run").arg("--engine").arg("wasmi").arg(&file);
    let out = run_command(cmd, "weaves run --engine wasmi".into());
    expect_like_native(&out, &native, "--engine wasmi");
    let mut cmd = weaves_command();
    cmd.arg("run").arg("--engine").arg("wasm3").arg(&file);
    run_command(cmd, "weaves run --engine wasm3".into())
        .expect_error(&["wasm3", "wasmtime", "wasmi"]);
}

#[test]
fn wasm_trap_ends_only_its_string_naming_the_function_and_offset() {
    let strings = format!(
        "{HELLO}\n[[string]]\nname = \"trapper\"\nweave = \"tw\"\nargs = [\"wasm_trap\"]\n"
    );
    let out = run_tapestry("wasm_trap", &tapestry("", "", &strings));
    // The other string ran to its end.
    assert!(out.stdout.contains("random bytes: yes"), "{out}");
    assert!(
        out.stdout.contains("before the trap") && !out.stdout.contains("after the trap"),
        "{out}"
    );
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("trapper") && l.contains("divide"))
        .unwrap_or_else(|| panic!("no trap line\n{out}"));
    assert!(
        line.contains("`divide_by`") && line.contains("offset 0x"),
        "{line}"
    );
    // The first failing string in declaration order decides the status.
    out.expect_failed_strings(5, &[("hello", 5), ("trapper", 134)]);
}

/// A Wasm module of the given sections, after the header.
fn wasm(sections: &[u8]) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend_from_slice(sections);
    m
}

// type 0: () -> (); function 0 of type 0, exported as `_start`.
const TYPE: &[u8] = &[0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
const FUNC: &[u8] = &[0x03, 0x02, 0x01, 0x00];
const EXPORT: &[u8] = &[
    0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x00,
];

#[test]
fn damaged_and_hostile_wasm_modules_are_refused_in_one_line() {
    let dir = scratch_dir("wasm_refusals");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "badmagic.wasm",
            b"\x7fELF not wasm at all".to_vec(),
            vec!["magic"],
        ),
        (
            "badcode.wasm",
            // `i32.add` with nothing on the stack.
            wasm(
                &[
                    TYPE,
                    FUNC,
                    EXPORT,
                    &[0x0a, 0x05, 0x01, 0x03, 0x00, 0x6a, 0x0b],
                ]
                .concat(),
            ),
            vec!["invalid", "offset"],
        ),
        (
            "hugemem.wasm",
            // One memory of 65536 pages: 4 GiB.
            wasm(
                &[
                    TYPE,
                    FUNC,
                    &[0x05, 0x05, 0x01, 0x00, 0x80, 0x80, 0x04],
                    EXPORT,
                    &[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b],
                ]
                .concat(),
            ),
            vec!["4294967296", "limit"],
        ),
        (
            "lacks.wasm",
            // Imports env.missing_fn, which nothing provides.
            wasm(
                &[
                    TYPE,
                    &[0x02, 0x12, 0x01, 0x03, b'e', b'n', b'v', 0x0a],
                    b"missing_fn",
                    &[0x00, 0x00],
                    FUNC,
                    &[
                        0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x01,
                    ],
                    &[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b],
                ]
                .concat(),
            ),
            vec!["`env.missing_fn`", "lacks"],
        ),
    ];
    for (file, bytes, mentions) in cases {
        std::fs::write(dir.join(file), bytes).unwrap();
        let text = format!(
            "[[module]]\nname = \"m\"\npath = \"{file}\"\n[[bead]]\nname = \"b\"\nmodule = \"m\"\n[[weave]]\nname = \"w\"\nbeads = [\"b\"]\n[[string]]\nweave = \"w\"\n"
        );
        let path = write_tapestry(&dir, &format!("{file}.toml"), &text);
        let out = weaves_run(&path, None);
        let mut all = mentions.clone();
        all.push(file);
        out.expect_error(&all);
    }
}

#[test]
fn wasm_memory_limit_is_configurable() {
    // wasm_recurse asks for 128 KiB, which a 1 MiB limit admits at load;
    // with the 1 MiB area for its unwound stack it would need more, so its
    // string fails when the runtime adds that area, and says so.
    let text = r#"
[tapestry]
wasm_max_memory_mib = 1
[[module]]
name = "rec"
path = "@MODS@/wasm_recurse.wasm"
[[bead]]
name = "r"
module = "rec"
[[weave]]
name = "w"
beads = ["r"]
[[string]]
name = "s"
weave = "w"
args = ["wasm_recurse", "1", "10"]
"#;
    let out = run_tapestry("wasm_memory_limit", text);
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("unwind area"), "{out}");
}

/// How long a loaded machine may take to compile a module and start a
/// tapestry, or to make a move (no test measures it).
const PATIENCE: Duration = Duration::from_secs(240);

/// Starts `text` in the background and waits until `weaves ps` lists it.
fn start_patiently(test: &str, text: &str) -> Running {
    let dir = scratch_dir(test);
    let file = write_tapestry(&dir, &format!("{test}.toml"), text);
    let rt = dir.join("rt");
    let stdout = dir.join("stdout.txt");
    let child = weaves(&rt)
        .arg("run")
        .arg(&file)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .spawn()
        .unwrap();
    let running = Running {
        child,
        rt,
        dir,
        stdout,
    };
    let deadline = Instant::now() + PATIENCE;
    while !(running.rt.exists()
        && json_of(&running.rt, &["ps", "--json"])
            .as_array()
            .is_some_and(|a| !a.is_empty()))
    {
        assert!(
            Instant::now() < deadline,
            "the tapestry never appeared in `weaves ps`"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    running
}

/// Polls `weaves inspect` until `done` holds.
fn until(rt: &std::path::Path, id: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let i = json_of(rt, &["inspect", id, "--json"]);
        if done(&i) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {i}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn migrate_moves_a_wasm_string_wasmtime_wasmi_wasmtime_mid_recursion() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    let text = r#"
[tapestry]
name = "migrating"
[[module]]
name = "rec"
path = "@MODS@/wasm_recurse.wasm"
[[bead]]
name = "r"
module = "rec"
[[weave]]
name = "w"
beads = ["r"]
[[string]]
name = "s"
weave = "w"
args = ["wasm_recurse", "6", "400", "wait"]
"#;
    let running = start_patiently("wasm_migrate", text);
    let rt = running.rt.clone();
    let id = "migrating".to_owned();
    // Step 0 waits at the bottom of its recursion until it runs under wasmi,
    // step 1 until it runs under wasmtime again.
    let engine_is = |e: &'static str| {
        move |i: &serde_json::Value| {
            i["strings"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == "s"))
                .is_some_and(|s| s["engine"] == e)
        }
    };
    until(&rt, &id, "running under wasmtime", engine_is("wasmtime"));
    // inspect shows the module's kind and the bead's engine.
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert_eq!(i["modules"][0]["kind"], "wasm", "{i}");
    assert_eq!(i["beads"][0]["engine"], "wasmtime", "{i}");
    assert_eq!(i["weaves"][0]["beads"][0], "r", "{i}");
    weaves_cmd(&rt, &["migrate", &id, "s", "--engine", "wasmi"]).expect_success();
    until(&rt, &id, "moved to wasmi", engine_is("wasmi"));
    weaves_cmd(&rt, &["migrate", &id, "s", "--engine", "wasmtime"]).expect_success();
    let (status, out) = running.finish();
    assert_eq!(out, native.stdout);
    assert_eq!(status.code(), Some(native.code()));
}

#[test]
fn migrate_refuses_a_native_string_and_an_unknown_engine() {
    let (running, summary) = start_running(
        "wasm_migrate_refusals",
        r#"
[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"
[[bead]]
name = "b"
module = "sleeper"
[[weave]]
name = "w"
beads = ["b"]
[[string]]
name = "s"
weave = "w"
entry = "sleeper_main"
args = ["sleeper", "x", "100000", "1000"]
"#,
    );
    let id = summary["id"].as_str().unwrap().to_owned();
    weaves_cmd(&running.rt, &["migrate", &id, "s", "--engine", "wasmi"])
        .expect_error(&["not supported", "`s`"]);
    weaves_cmd(&running.rt, &["migrate", &id, "s", "--engine", "jvm"]).expect_error(&["jvm"]);
    weaves_cmd(
        &running.rt,
        &["migrate", &id, "nosuch", "--engine", "wasmi"],
    )
    .expect_error(&["`nosuch`"]);
}
