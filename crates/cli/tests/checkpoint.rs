//! Checkpoint and restore: a computation killed with SIGKILL at several
//! moments and restored from its newest image ends exactly as an
//! uninterrupted run does; a damaged image is refused.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn tapestry(out: &Path, with_checkpoints: bool) -> String {
    let table = if with_checkpoints {
        "[checkpoint]\ndir = \"images\"\ninterval_ms = 30\nkeep = 2\n"
    } else {
        ""
    };
    format!(
        r#"
[tapestry]
name = "ckpt"
workers = 1

{table}
[[module]]
name = "c"
path = "{}"

[[bead]]
name = "b"
module = "c"

[[weave]]
name = "w"
beads = ["b"]

[[string]]
weave = "w"
args = ["ckpt_compute", "{}", "400", "400"]
"#,
        toml_escape(&module("ckpt_compute")),
        toml_escape(out)
    )
}

fn restore(path: &Path) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weaves"));
    cmd.arg("restore").arg(path);
    run_command(cmd, format!("weaves restore {}", path.display()))
}

/// Must-show: killed at several moments, restored from the newest image,
/// the computation prints what an uninterrupted run prints and leaves the
/// same output file (the file is cut back to its checkpointed size and the
/// restored run rewrites the rest).
#[test]
fn killed_runs_restore_to_the_uninterrupted_result() {
    let dir = scratch_dir("ckpt_kill");
    let reference_out = dir.join("reference.txt");
    let plain = write_tapestry(&dir, "plain.toml", &tapestry(&reference_out, false));
    let reference = weaves_run(&plain, None);
    reference.expect_success();
    let expected_file = std::fs::read(&reference_out).expect("reference output");
    assert!(reference.stdout.contains("400 steps"), "{reference}");

    for (k, kill_after_ms) in [70u64, 160, 260].into_iter().enumerate() {
        let run_dir = dir.join(format!("kill{k}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir).expect("run dir");
        let out = run_dir.join("out.txt");
        let file = write_tapestry(&run_dir, "t.toml", &tapestry(&out, true));
        let mut child = Command::new(env!("CARGO_BIN_EXE_weaves"))
            .arg("run")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weaves run");
        let started = Instant::now();
        // Kill once at least one image exists and the moment has come.
        let images = run_dir.join("images");
        loop {
            let have_image = std::fs::read_dir(&images)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.file_name().to_string_lossy().ends_with(".wvimg"))
                })
                .unwrap_or(false);
            if have_image && started.elapsed() >= Duration::from_millis(kill_after_ms) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no checkpoint image appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the run was killed, not finished");
        let partial = std::fs::read(&out).unwrap_or_default();
        assert_ne!(partial, expected_file, "killed before the end");

        let restored = restore(&images);
        restored.expect_success();
        assert_eq!(
            restored.stdout, reference.stdout,
            "restored stdout differs\n{restored}"
        );
        let got = std::fs::read(&out).expect("restored output");
        assert_eq!(
            got, expected_file,
            "output file after restore differs (kill at {kill_after_ms} ms)"
        );
    }
}

/// Must-show: one flipped byte anywhere in an image makes restore refuse
/// it with a clear message, before anything runs.
#[test]
fn a_damaged_image_is_refused() {
    let dir = scratch_dir("ckpt_damaged");
    let out = dir.join("out.txt");
    let file = write_tapestry(&dir, "t.toml", &tapestry(&out, true));
    weaves_run(&file, Some(&dir)).expect_success();
    let images = dir.join("images");
    let newest = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wvimg"))
        .max()
        .expect("an image");
    let good = std::fs::read(&newest).expect("image");
    for at in [3usize, 40, good.len() / 2, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let damaged = dir.join(format!("damaged{at}.wvimg"));
        std::fs::write(&damaged, &bad).expect("write damaged image");
        let _ = std::fs::remove_file(&out);
        let r = restore(&damaged);
        assert_ne!(r.code(), 0, "{r}");
        let msg = r.expect_error(&["damaged", "nothing was restored"]);
        assert!(!msg.contains("panicked"), "{msg}");
        assert!(!out.exists(), "a refused image must not run anything");
    }
    // A truncated image too.
    let cut = dir.join("cut.wvimg");
    std::fs::write(&cut, &good[..good.len() / 3]).expect("write cut image");
    restore(&cut).expect_error(&["damaged", "truncated"]);
}
