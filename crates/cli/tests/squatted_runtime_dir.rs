//! A control-socket directory squatted by someone else — made 0777, owned
//! by another user, a file, a symlink — does not switch the monitor off:
//! the run serves its socket in a private fallback beside it (made with
//! `mkdtemp`), warns once, and `weaves ps` / `weaves inspect` find it there.
//!
//! The bug these pin: another local user who pre-created `/tmp/weaves-$UID`
//! switched every run's monitor off (a warning, then no monitor).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::running::*;
use common::*;

const SLEEPER: &str = r#"
[tapestry]
name = "squatted"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "sleepy"
module = "sleeper"

[[weave]]
name = "nap"
beads = ["sleepy"]

[[string]]
name = "napper"
weave = "nap"
entry = "sleeper_main"
args = ["sleeper", "n", "600", "10000"]
"#;

/// A background `weaves run` whose stderr goes to a file.
struct Run {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(rt: &Path, dir: &Path, tag: &str) -> Run {
    let file = write_tapestry(dir, &format!("{tag}.toml"), SLEEPER);
    let stderr = dir.join(format!("{tag}.stderr"));
    let child = weaves(rt)
        .arg("run")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .spawn()
        .expect("weaves run starts");
    Run { child, stderr }
}

/// Waits until `weaves ps --json` lists `pids`; returns its stderr lines.
fn wait_listed(rt: &Path, pids: &[u32]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = weaves_cmd(rt, &["ps", "--json"]);
        out.expect_success();
        let ps: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let listed: Vec<u64> = ps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pid"].as_u64().unwrap())
            .collect();
        if pids.iter().all(|p| listed.contains(&u64::from(*p))) {
            return out.stderr.lines().map(str::to_owned).collect();
        }
        assert!(
            Instant::now() < deadline,
            "`weaves ps` never listed {pids:?}: {out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The private directories named like fallbacks beside `rt` (`rt-XXXXXX`,
/// a directory of mode 0700; decoys are not).
fn fallbacks(rt: &Path) -> Vec<PathBuf> {
    let name = rt.file_name().unwrap().to_str().unwrap().to_owned();
    let mut v: Vec<PathBuf> = std::fs::read_dir(rt.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() == name.len() + 7 && n.starts_with(&format!("{name}-"))
        })
        .filter(|e| {
            std::fs::symlink_metadata(e.path())
                .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700)
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// Squats `rt` with `squat`, then checks that two runs keep a monitor in
/// one private fallback that `ps` and `inspect` find.
fn runs_keep_their_monitor(test: &str, squat: impl FnOnce(&Path)) {
    let dir = scratch_dir(test);
    let rt = dir.join("rt");
    squat(&rt);
    // The second starts once the first serves: it must reuse its fallback.
    // (Two runs starting at the same instant may each make one; `ps` scans
    // them all.)
    let first = start(&rt, &dir, "first");
    let p1 = first.child.id();
    wait_listed(&rt, &[p1]);
    let second = start(&rt, &dir, "second");
    let p2 = second.child.id();
    let ps_stderr = wait_listed(&rt, &[p1, p2]);
    // `ps` says the configured directory is passed over, in one line.
    assert_eq!(ps_stderr.len(), 1, "{ps_stderr:?}");
    assert!(ps_stderr[0].contains("refusing the control-socket directory"));

    // One fallback, private, holding both sockets.
    let made = fallbacks(&rt);
    assert_eq!(made.len(), 1, "one fallback for both runs: {made:?}");
    let meta = std::fs::symlink_metadata(&made[0]).unwrap();
    // SAFETY: getuid cannot fail.
    assert_eq!(meta.uid(), unsafe { libc::getuid() });
    for pid in [p1, p2] {
        assert!(made[0].join(format!("{pid}.sock")).exists());
    }

    // `inspect` reaches a run through it, by id.
    let i = json_of(&rt, &["inspect", &p1.to_string(), "--json"]);
    assert_eq!(i["name"], "squatted");

    // Each run warned once, naming the squatted directory and the fallback.
    for run in [&first, &second] {
        let text = std::fs::read_to_string(&run.stderr).unwrap();
        let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{text}");
        assert!(warnings[0].contains(&rt.display().to_string()), "{text}");
        assert!(
            warnings[0].contains(&made[0].display().to_string()),
            "{text}"
        );
    }
}

#[test]
fn runtime_dir_others_may_enter_gets_a_private_fallback() {
    runs_keep_their_monitor("squat_mode_0777", |rt| {
        std::fs::create_dir(rt).unwrap();
        std::fs::set_permissions(rt, std::fs::Permissions::from_mode(0o777)).unwrap();
    });
}

#[test]
fn runtime_dir_owned_by_another_user_gets_a_private_fallback() {
    runs_keep_their_monitor("squat_other_owner", |rt| {
        std::fs::create_dir(rt).unwrap();
        std::fs::set_permissions(rt, std::fs::Permissions::from_mode(0o700)).unwrap();
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        if me == 0 {
            // Root may give it away, as a squatter would own it.
            std::os::unix::fs::chown(rt, Some(54_321), Some(54_321)).unwrap();
        } else {
            // Others cannot: a directory of ours others may enter squats it
            // just as well for this check.
            std::fs::set_permissions(rt, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    });
}

#[test]
fn runtime_dir_that_is_a_file_gets_a_private_fallback() {
    runs_keep_their_monitor("squat_file", |rt| {
        std::fs::write(rt, b"squatted\n").unwrap();
    });
}

#[test]
fn runtime_dir_that_is_a_symlink_gets_a_private_fallback() {
    runs_keep_their_monitor("squat_symlink", |rt| {
        let elsewhere = rt.with_file_name("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, rt).unwrap();
    });
}

/// Decoys named like a fallback but not private are never used or listed.
#[test]
fn decoy_fallbacks_are_passed_over() {
    runs_keep_their_monitor("squat_decoys", |rt| {
        std::fs::create_dir(rt).unwrap();
        std::fs::set_permissions(rt, std::fs::Permissions::from_mode(0o777)).unwrap();
        let decoy = rt.with_file_name("rt-AAAAAA");
        std::fs::create_dir(&decoy).unwrap();
        std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(rt.with_file_name("rt-BBBBBB"), b"a file").unwrap();
    });
}
