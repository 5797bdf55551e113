//! Checkpoints of Wasm strings through the CLI: a string caught in the
//! middle of a 400-frame recursion under one engine is written into an
//! image, killed with the process, and resumed from the image in a new
//! process under the other engine (`weaves restore PATH --engine`) — and
//! back — with the output and exit status of an uninterrupted native run;
//! `weaves rollback` takes a running Wasm string back to an image; a
//! checkpoint that would have to catch a string without reconfiguration
//! points is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::running::{json_of, weaves, weaves_cmd, Running};
use common::*;

/// How long a loaded machine may take to compile a module and start a
/// tapestry, or to make a move (no test measures it).
const PATIENCE: Duration = Duration::from_secs(240);

/// `wasm_recurse 6 400 wait`: step 0 waits at the bottom of its recursion
/// until it runs under wasmi, step 1 until it runs under wasmtime.
fn tapestry(dir: &Path) -> PathBuf {
    write_tapestry(
        dir,
        "wasm_ckpt.toml",
        r#"
[tapestry]
name = "wasm_ckpt"
[checkpoint]
dir = "images"
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
"#,
    )
}

/// `weaves ARGS…` in the background with its own control-socket
/// directory `rt`, once `weaves ps` lists it; its id.
fn start(dir: &Path, rt: &str, stdout: &str, args: &[&str]) -> (Running, String) {
    let rt = dir.join(rt);
    let stdout = dir.join(stdout);
    let child = weaves(&rt)
        .args(args)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .spawn()
        .unwrap();
    let running = Running {
        child,
        rt,
        dir: dir.to_owned(),
        stdout,
    };
    let mut running = running;
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!(
                "`weaves {}` ended ({status}) before `weaves ps` listed it",
                args.join(" ")
            );
        }
        if running.rt.exists() {
            let ps = json_of(&running.rt, &["ps", "--json"]);
            if let Some(id) = ps
                .as_array()
                .and_then(|a| a.first())
                .and_then(|p| p["id"].as_str())
            {
                return (running, id.to_owned());
            }
        }
        assert!(
            Instant::now() < deadline,
            "`weaves {}` never appeared in `weaves ps`",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `weaves inspect` until string `s` runs under `engine`.
fn until_engine(rt: &Path, id: &str, engine: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let i = json_of(rt, &["inspect", id, "--json"]);
        let now = i["strings"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "s"))
            .map(|s| s["engine"].clone());
        if now.as_ref().and_then(|e| e.as_str()) == Some(engine) {
            return;
        }
        assert!(Instant::now() < deadline, "never under {engine}: {i}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills a background run (SIGKILL: nothing of it is flushed or saved)
/// and returns what it printed.
fn kill(mut r: Running) -> String {
    r.child.kill().unwrap();
    r.child.wait().unwrap();
    std::fs::read_to_string(&r.stdout).unwrap_or_default()
}

fn checkpoint(rt: &Path, id: &str, image: &Path) {
    weaves_cmd(rt, &["checkpoint", id, "-o", image.to_str().unwrap()]).expect_success();
}

#[test]
fn wasm_string_checkpointed_mid_recursion_resumes_under_the_other_engine_in_a_new_process() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    let dir = scratch_dir("wasm_ckpt_engines");
    let file = tapestry(&dir);
    let file = file.to_str().unwrap();
    // Under wasmtime, step 0 waits at the bottom of its recursion: caught
    // there, the image holds 400 unwound frames.
    let (first, id) = start(&dir, "rt1", "out1.txt", &["run", file]);
    until_engine(&first.rt, &id, "wasmtime");
    let image1 = dir.join("wasmtime.wvimg");
    checkpoint(&first.rt, &id, &image1);
    let out1 = kill(first);
    // Resumed under wasmi in a new process: step 0 goes on, step 1 waits
    // at its bottom for wasmtime, and is caught there.
    let (second, id) = start(
        &dir,
        "rt2",
        "out2.txt",
        &["restore", image1.to_str().unwrap(), "--engine", "wasmi"],
    );
    until_engine(&second.rt, &id, "wasmi");
    let image2 = dir.join("wasmi.wvimg");
    checkpoint(&second.rt, &id, &image2);
    let out2 = kill(second);
    // And back under wasmtime, to the end.
    let mut cmd = weaves(&dir.join("rt3"));
    cmd.args(["restore", image2.to_str().unwrap(), "--engine", "wasmtime"]);
    let last = run_command(cmd, "weaves restore --engine wasmtime".into());
    assert_eq!(
        format!("{out1}{out2}{}", last.stdout),
        native.stdout,
        "{last}"
    );
    assert_eq!(last.code(), native.code(), "{last}");
}

#[test]
fn rollback_takes_a_running_wasm_string_back_to_its_image() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    let dir = scratch_dir("wasm_ckpt_rollback");
    let file = tapestry(&dir);
    let (run, id) = start(&dir, "rt", "out.txt", &["run", file.to_str().unwrap()]);
    until_engine(&run.rt, &id, "wasmtime");
    let image = dir.join("step0.wvimg");
    checkpoint(&run.rt, &id, &image);
    // Moved on: step 0 done under wasmi, step 1 waiting for wasmtime.
    weaves_cmd(&run.rt, &["migrate", &id, "s", "--engine", "wasmi"]).expect_success();
    until_engine(&run.rt, &id, "wasmi");
    // Rolled back, it is under wasmtime at step 0's bottom again, waiting
    // for wasmi.
    weaves_cmd(&run.rt, &["rollback", &id, image.to_str().unwrap()]).expect_success();
    until_engine(&run.rt, &id, "wasmtime");
    weaves_cmd(&run.rt, &["migrate", &id, "s", "--engine", "wasmi"]).expect_success();
    until_engine(&run.rt, &id, "wasmi");
    weaves_cmd(&run.rt, &["migrate", &id, "s", "--engine", "wasmtime"]).expect_success();
    let (status, out) = run.finish();
    // Lines printed between the image and the rollback are printed again
    // after it, as for any restore: the native output, after a prefix of
    // it.
    let replayed = out.len().saturating_sub(native.stdout.len());
    assert!(
        out.ends_with(&native.stdout) && native.stdout.starts_with(&out[..replayed]),
        "output is not the native output after a prefix of it:\n{out}"
    );
    assert_eq!(status.code(), Some(native.code()));
}

#[test]
fn checkpoint_refuses_a_wasm_string_without_reconfiguration_points() {
    let dir = scratch_dir("wasm_ckpt_refused");
    let file = write_tapestry(
        &dir,
        "t.toml",
        r#"
[tapestry]
name = "wasm_ckpt_refused"
[checkpoint]
dir = "images"
[[module]]
name = "hello"
path = "@MODS@/wasm_hello.wasm"
[[bead]]
name = "h"
module = "hello"
[[weave]]
name = "w"
beads = ["h"]
[[string]]
name = "s"
weave = "w"
args = ["wasm_hello", "1", "stdin"]
"#,
    );
    // Reading stdin, it waits until the test closes it.
    let rt = dir.join("rt");
    let mut child = weaves(&rt)
        .arg("run")
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let id = loop {
        if rt.exists() {
            let ps = json_of(&rt, &["ps", "--json"]);
            if let Some(id) = ps
                .as_array()
                .and_then(|a| a.first())
                .map(|p| p["id"].clone())
            {
                break id.as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "never listed");
        std::thread::sleep(Duration::from_millis(50));
    };
    weaves_cmd(
        &rt,
        &[
            "checkpoint",
            &id,
            "-o",
            dir.join("x.wvimg").to_str().unwrap(),
        ],
    )
    .expect_error(&["not supported", "`s`", "reconfiguration points"]);
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn periodic_images_of_a_wasm_string_restore_from_the_directory_under_another_engine() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    let dir = scratch_dir("wasm_ckpt_periodic");
    let text = std::fs::read_to_string(tapestry(&dir))
        .unwrap()
        .replace("dir = \"images\"", "dir = \"images\"\ninterval_ms = 100");
    let file = write_tapestry(&dir, "periodic.toml", &text);
    let (first, id) = start(&dir, "rt1", "out1.txt", &["run", file.to_str().unwrap()]);
    until_engine(&first.rt, &id, "wasmtime");
    // Killed once the timer has written an image (step 0 waits meanwhile).
    let images = dir.join("images");
    let deadline = Instant::now() + PATIENCE;
    while !std::fs::read_dir(&images).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".wvimg"))
    }) {
        assert!(Instant::now() < deadline, "no periodic image was written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out1 = kill(first);
    // The directory's newest image, under wasmi: step 1 then waits for
    // wasmtime, which a move gives it.
    let (second, id) = start(
        &dir,
        "rt2",
        "out2.txt",
        &["restore", images.to_str().unwrap(), "--engine", "wasmi"],
    );
    until_engine(&second.rt, &id, "wasmi");
    weaves_cmd(&second.rt, &["migrate", &id, "s", "--engine", "wasmtime"]).expect_success();
    let (status, out2) = second.finish();
    let out = format!("{out1}{out2}");
    let replayed = out.len().saturating_sub(native.stdout.len());
    assert!(
        out.ends_with(&native.stdout) && native.stdout.starts_with(&out[..replayed]),
        "output is not the native output after a prefix of it:\n{out}"
    );
    assert_eq!(status.code(), Some(native.code()));
}
