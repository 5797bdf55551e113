//! A checkpoint directory that cannot take images is refused before the run
//! starts; a periodic checkpoint that cannot be written makes the run end
//! non-zero, in one line; the temporaries a writer killed with SIGKILL left
//! are removed when the directory is next used.
//!
//! The bugs these pin: an unwritable or full `[checkpoint] dir` only warned
//! (at every interval) and the run exited 0; `kill -9` during a checkpoint
//! left `.tmp` files behind for good.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// ckpt_compute, checkpointing every `interval_ms` into `dir` (line 5 of
/// the text names `dir`). Full images: on a kernel that cannot track
/// written pages, incremental ones would add a line saying so.
fn compute_tapestry(dir: &str, out: &Path, steps: u32, interval_ms: u32) -> String {
    format!(
        r#"[tapestry]
name = "ckdir"
workers = 1
[checkpoint]
dir = "{dir}"
interval_ms = {interval_ms}
incremental = false

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
args = ["ckpt_compute", "{}", "{steps}", "100"]
"#,
        toml_escape(&module("ckpt_compute")),
        toml_escape(out)
    )
}

/// Makes `dir` a directory nobody may create files in, for as long as the
/// guard lives (root ignores permission bits: the immutable attribute
/// stops it).
struct Unwritable(PathBuf);

impl Unwritable {
    fn new(dir: PathBuf) -> Unwritable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: getuid cannot fail.
        if unsafe { libc::getuid() } == 0 {
            let ok = Command::new("chattr")
                .arg("+i")
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chattr +i {} (needed to make a directory root cannot write)",
                dir.display()
            );
        } else {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        Unwritable(dir)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn unusable_checkpoint_dir_is_refused_before_the_run_starts() {
    let dir = scratch_dir("ckdir_unusable");
    std::fs::write(dir.join("a_file"), b"not a directory").unwrap();
    std::fs::write(dir.join("blocker"), b"a file where a directory should be").unwrap();
    let _guard = Unwritable::new(dir.join("readonly"));
    for (case, images, why) in [
        ("a_file", "a_file", "not a directory"),
        ("not_creatable", "blocker/images", "cannot create it"),
        ("not_writable", "readonly", "cannot write images into it"),
    ] {
        let out_file = dir.join(format!("{case}.out"));
        let file = write_tapestry(
            &dir,
            &format!("{case}.toml"),
            &compute_tapestry(images, &out_file, 50, 30),
        );
        let out = weaves_run(&file, None);
        let line = out.expect_error(&[&format!("{case}.toml"), "line 5", "[checkpoint] dir"]);
        assert!(line.contains(why), "{case}: expected `{why}`\n{out}");
        assert!(line.contains(images), "{case}: names the directory\n{out}");
        assert!(out.stdout.is_empty(), "{case}: no string may run\n{out}");
        assert!(
            !out_file.exists(),
            "{case}: the string must not have started"
        );
    }
}

/// The images directory is replaced by a file while the run goes on: every
/// periodic checkpoint after that fails. The computation still finishes,
/// and the run says so in one line and exits 74.
#[test]
fn periodic_checkpoint_that_cannot_be_written_fails_the_run() {
    let dir = scratch_dir("ckdir_write_fails");
    let out_file = dir.join("out.txt");
    let images = dir.join("images");
    let file = write_tapestry(
        &dir,
        "t.toml",
        &compute_tapestry("images", &out_file, 1500, 20),
    );
    let child = weaves_command()
        .arg("run")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !std::fs::read_dir(&images).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".wvimg"))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no image appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::rename(&images, dir.join("images.before")).unwrap();
    std::fs::write(&images, b"no longer a directory").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("ckpt_compute: 1500 steps"),
        "the computation finished\n{stdout}\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line\n{stderr}");
    assert!(lines[0].contains("periodic checkpoint"), "{stderr}");
    assert!(lines[0].contains(&images.display().to_string()), "{stderr}");
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    eprintln!("{}", lines[0]);
}

/// A real `kill -9` while an image is being written leaves its temporary;
/// the next run using the directory removes it, and leaves alone the
/// temporary of a writer that still runs and files that are not ours.
#[test]
fn temporaries_of_a_writer_killed_mid_checkpoint_are_removed_by_the_next_run() {
    let dir = scratch_dir("ckdir_killed_writer");
    let images = dir.join("images");
    let big = format!(
        r#"[tapestry]
name = "big"
[checkpoint]
dir = "images"

[[module]]
name = "big"
path = "{}"

[[bead]]
name = "big"
module = "big"

[[weave]]
name = "w"
beads = ["big"]

[[string]]
weave = "w"
entry = "big_main"
args = ["ckpt_big", "64", "40", "4096"]
"#,
        toml_escape(&module("ckpt_big.so"))
    );
    let file = write_tapestry(&dir, "big.toml", &big);
    let mut child = weaves_command()
        .arg("run")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The process re-executes itself (same pid) for a fixed layout; its
    // temporaries are named `.ckpt-NNNNNN.wvimg.tmpPID`.
    let suffix = format!(".tmp{}", child.id());
    let started = Instant::now();
    let temporary = loop {
        let found = std::fs::read_dir(&images).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(".ckpt-") && n.ends_with(&suffix))
        });
        if let Some(name) = found {
            child.kill().unwrap();
            child.wait().unwrap();
            break images.join(name);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a temporary was seen"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no temporary appeared"
        );
        std::thread::sleep(Duration::from_micros(500));
    };
    assert!(temporary.exists(), "SIGKILL left {}", temporary.display());
    // A live writer's (this test's own pid) and a file that is not ours.
    let live = images.join(format!(".ckpt-999999.wvimg.tmp{}", std::process::id()));
    std::fs::write(&live, b"being written").unwrap();
    let unrelated = images.join(".notes.tmp1");
    std::fs::write(&unrelated, b"mine").unwrap();

    // The next run using the directory (a short one) clears it.
    let short = big.replace(
        r#"args = ["ckpt_big", "64", "40", "4096"]"#,
        r#"args = ["ckpt_big", "1", "0", "4"]"#,
    );
    let next = write_tapestry(&dir, "short.toml", &short);
    weaves_run(&next, None).expect_success();
    assert!(
        !temporary.exists(),
        "{} was not removed",
        temporary.display()
    );
    assert!(live.exists(), "a live writer's temporary must stay");
    assert!(unrelated.exists(), "a file that is not ours must stay");
}
