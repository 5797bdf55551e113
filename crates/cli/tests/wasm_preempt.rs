//! Preemption inside Wasm code: a loop without calls, run on the only
//! worker, lets another string of that worker run (the runtime's checks at
//! its back-edge yield when its slice is spent), and is moved between
//! engines in the middle of the loop, computing what its native build
//! computes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::running::{json_of, string_state, weaves, weaves_cmd, Running};
use common::*;

/// How long a loaded machine may take to compile a module and start a
/// tapestry, or to make a move (no test measures it).
const PATIENCE: Duration = Duration::from_secs(240);

/// Rounds of the loop: seconds under wasmtime, far more than the other
/// string needs (a hundred 1 ms sleeps).
const ROUNDS: &str = "3000000000";

fn inspect_until(
    rt: &Path,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let i = json_of(rt, &["inspect", "preempting", "--json"]);
        if done(&i) {
            return i;
        }
        assert!(Instant::now() < deadline, "never {what}: {i}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn engine_of(i: &serde_json::Value) -> String {
    i["strings"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "spin"))
        .and_then(|s| s["engine"].as_str())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn tight_wasm_loop_is_preempted_on_one_worker_and_moved_between_engines_mid_loop() {
    let native = run_native("wasm_spin", &[ROUNDS]);
    let dir = scratch_dir("wasm_preempt");
    let file = write_tapestry(
        &dir,
        "preempting.toml",
        &format!(
            r#"
[tapestry]
name = "preempting"
workers = 1
[[module]]
name = "spin"
path = "@MODS@/wasm_spin.wasm"
[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"
[[bead]]
name = "s"
module = "spin"
[[bead]]
name = "z"
module = "sleeper"
[[weave]]
name = "w"
beads = ["s"]
[[weave]]
name = "zw"
beads = ["z"]
[[string]]
name = "spin"
weave = "w"
args = ["wasm_spin", "{ROUNDS}"]
[[string]]
name = "tick"
weave = "zw"
entry = "sleeper_main"
args = ["sleeper", "x", "100", "1000"]
"#
        ),
    );
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
        rt: rt.clone(),
        dir,
        stdout,
    };
    let deadline = Instant::now() + PATIENCE;
    while !(rt.exists()
        && json_of(&rt, &["ps", "--json"])
            .as_array()
            .is_some_and(|a| !a.is_empty()))
    {
        assert!(Instant::now() < deadline, "never listed in `weaves ps`");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sleeper needs the only worker a hundred times while the loop
    // runs on it: it ends before the loop does only if the loop yields.
    let i = inspect_until(&rt, "tick done", |i| string_state(i, "tick") == "done");
    assert_ne!(
        string_state(&i, "spin"),
        "done",
        "the loop ended before the other string could show it was preempted: {i}"
    );
    // Moved in the middle of the loop, and back.
    inspect_until(&rt, "spin under wasmtime", |i| engine_of(i) == "wasmtime");
    weaves_cmd(&rt, &["migrate", "preempting", "spin", "--engine", "wasmi"]).expect_success();
    let i = inspect_until(&rt, "spin under wasmi", |i| {
        engine_of(i) == "wasmi" || string_state(i, "spin") == "done"
    });
    assert_ne!(
        string_state(&i, "spin"),
        "done",
        "the loop ended before it moved: {i}"
    );
    weaves_cmd(
        &rt,
        &["migrate", "preempting", "spin", "--engine", "wasmtime"],
    )
    .expect_success();
    let (status, out) = running.finish();
    assert_eq!(out, native.stdout);
    assert_eq!(status.code(), Some(native.code()));
}
