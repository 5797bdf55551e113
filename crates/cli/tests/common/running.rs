//! Tapestries running in the background, for the monitor's commands:
//! start one with its own control-socket directory, wait until `weaves ps`
//! lists it, and run `weaves` commands against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{modules_dir, run_command, scratch_dir, toml_escape, write_tapestry, Outcome};

/// A `weaves` command that uses `rt` as its control-socket directory.
pub fn weaves(rt: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weaves"));
    cmd.env("WEAVES_RUNTIME_DIR", rt);
    cmd
}

/// `weaves ARGS…` against `rt`.
pub fn weaves_cmd(rt: &Path, args: &[&str]) -> Outcome {
    let mut c = weaves(rt);
    c.args(args);
    run_command(c, format!("weaves {}", args.join(" ")))
}

/// `weaves ARGS…` against `rt`, which must succeed and print JSON.
pub fn json_of(rt: &Path, args: &[&str]) -> Value {
    let out = weaves_cmd(rt, args);
    out.expect_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A `weaves run` in the background; killed if the test ends first.
pub struct Running {
    pub child: Child,
    /// Its control-socket directory.
    pub rt: PathBuf,
    /// The test's scratch directory (the tapestry file is there).
    pub dir: PathBuf,
    /// Where its stdout goes.
    pub stdout: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Waits for the run to end; its exit status and stdout.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("weaves run ends");
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        (status, out)
    }
}

/// Writes `text` as `test`'s tapestry, runs it in the background, and
/// returns once `weaves ps` lists it (with its summary).
pub fn start_running(test: &str, text: &str) -> (Running, Value) {
    let dir = scratch_dir(test);
    let file = write_tapestry(&dir, &format!("{test}.toml"), text);
    let rt = dir.join("rt");
    let stdout = dir.join("stdout.txt");
    let child = weaves(&rt)
        .arg("run")
        .arg(&file)
        .stdout(Stdio::from(
            std::fs::File::create(&stdout).expect("stdout file"),
        ))
        .spawn()
        .expect("weaves run starts");
    let running = Running {
        child,
        rt,
        dir,
        stdout,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if running.rt.exists() {
            let ps = json_of(&running.rt, &["ps", "--json"]);
            if let Some(first) = ps.as_array().and_then(|a| a.first()) {
                return (running, first.clone());
            }
        }
        assert!(
            Instant::now() < deadline,
            "the tapestry never appeared in `weaves ps`"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `weaves inspect ID --json` until `done` holds (at most 20 s).
pub fn inspect_until(rt: &Path, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let i = json_of(rt, &["inspect", id, "--json"]);
        if done(&i) {
            return i;
        }
        assert!(Instant::now() < deadline, "never {what}: {i}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state of string `name` in an inspection.
pub fn string_state<'a>(inspection: &'a Value, name: &str) -> &'a Value {
    inspection["strings"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .map_or(&Value::Null, |s| &s["state"])
}

/// An inspection without what changes by itself while strings run (uptime,
/// strings' states, CPU time and status, heap sizes, queue counts): what a
/// refused change must leave exactly as it was.
pub fn stable(mut i: Value) -> Value {
    i.as_object_mut().unwrap().remove("uptime_ms");
    for (list, keys) in [
        ("strings", &["cpu_ms", "state", "status"][..]),
        ("beads", &["heap_bytes", "heap_reserved"][..]),
        ("bindings", &["queued", "delivered"][..]),
    ] {
        for x in i[list].as_array_mut().unwrap() {
            let x = x.as_object_mut().unwrap();
            for k in keys {
                x.remove(*k);
            }
        }
    }
    i
}

/// Writes `text` (with `@MODS@` replaced) to `dir/file`; returns its path.
pub fn write_file(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text.replace("@MODS@", &toml_escape(modules_dir()))).unwrap();
    path.display().to_string()
}

/// The number right after `prefix` in `line` (`v1 1157` -> 1157).
pub fn number_after(line: &str, prefix: &str) -> i64 {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in `{line}`"));
    line[at + prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{prefix}` in `{line}`"))
}
