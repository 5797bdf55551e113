//! Checkpoint and restore: a computation killed with SIGKILL at several
//! moments and restored from its newest image ends exactly as an
//! uninterrupted run does; a damaged image is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::running::*;
use common::*;

/// A `[checkpoint]` table into `images` every `interval_ms`, or none.
fn checkpoint_table(interval_ms: Option<u32>) -> String {
    interval_ms.map_or(String::new(), |ms| {
        format!("[checkpoint]\ndir = \"images\"\ninterval_ms = {ms}\nkeep = 2\n")
    })
}

fn tapestry(out: &Path, with_checkpoints: bool) -> String {
    let table = checkpoint_table(with_checkpoints.then_some(30));
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
args = ["ckpt_compute", "{}", "{STEPS}", "400"]
"#,
        toml_escape(&module("ckpt_compute")),
        toml_escape(out)
    )
}

/// Steps of the computation: at about a millisecond each, long enough that
/// a run killed a few hundred milliseconds after its first image appeared
/// is still computing, even on a loaded machine whose first image is slow
/// to be written (with 400, one such run had finished its output).
const STEPS: u32 = 1200;

/// Runs a tapestry that checkpoints into `images`, and kills it with
/// SIGKILL once an image exists and `after_ms` have passed. Returns what
/// the killed run had printed.
fn kill_after(file: &Path, images: &Path, after_ms: u64) -> String {
    let mut child = common::weaves_command()
        .arg("run")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weaves run");
    let started = Instant::now();
    loop {
        let have_image = std::fs::read_dir(images)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".wvimg"))
            })
            .unwrap_or(false);
        if have_image && started.elapsed() >= Duration::from_millis(after_ms) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint image appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "the run was killed, not finished");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes the tapestry `text(out)` into a fresh `dir/kill{k}` and runs it
/// until killed after `after_ms` (see [`kill_after`]). Returns its output
/// file's path, its images directory, and what it had printed.
fn killed_run(
    dir: &Path,
    k: usize,
    after_ms: u64,
    text: impl Fn(&Path) -> String,
) -> (PathBuf, PathBuf, String) {
    let run_dir = dir.join(format!("kill{k}"));
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).expect("run dir");
    let out = run_dir.join("out.txt");
    let file = write_tapestry(&run_dir, "t.toml", &text(&out));
    let images = run_dir.join("images");
    let before = kill_after(&file, &images, after_ms);
    (out, images, before)
}

fn restore(path: &Path) -> Outcome {
    let mut cmd = common::weaves_command();
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
    assert!(
        reference.stdout.contains(&format!("{STEPS} steps")),
        "{reference}"
    );

    for (k, kill_after_ms) in [70u64, 160, 260].into_iter().enumerate() {
        let (out, images, _) = killed_run(&dir, k, kill_after_ms, |out| tapestry(out, true));
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

    // An incremental image whose parent is gone is refused too, naming it.
    // (The newest may be full: a chain is compacted after 8 deltas.)
    let mut all: Vec<_> = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wvimg"))
        .collect();
    all.sort();
    let (delta, parent) = all
        .iter()
        .rev()
        .find_map(|p| {
            Some((
                p.clone(),
                image_header(p)["parent"]["file"].as_str()?.to_owned(),
            ))
        })
        .expect("an incremental image among those kept");
    std::fs::remove_file(images.join(&parent)).expect("remove the parent");
    let _ = std::fs::remove_file(&out);
    let msg = restore(&delta)
        .expect_error(&["is incremental", &parent, "missing", "nothing was restored"])
        .to_owned();
    assert!(!msg.contains("panicked"), "{msg}");
    assert!(!out.exists(), "a refused image must not run anything");
}

fn team(out: &Path, with_checkpoints: bool) -> String {
    let table = checkpoint_table(with_checkpoints.then_some(25));
    format!(
        r#"
[tapestry]
name = "team"
workers = 2
{table}
[[module]]
name = "team"
path = "@MODS@/ckpt_team.so"

[[module]]
name = "ledger"
path = "@MODS@/ckpt_ledger.so"

[[bead]]
name = "ledger"
module = "ledger"

[[bead]]
name = "producer"
module = "team"

[[bead]]
name = "consumer"
module = "team"

[[bead]]
name = "holder"
module = "team"

[[weave]]
name = "producing"
beads = ["producer", "ledger"]

[[weave]]
name = "consuming"
beads = ["consumer", "ledger"]

[[weave]]
name = "holding"
beads = ["holder", "ledger"]

[[binding]]
from = "producer.out"
to = "consumer.in"

[[string]]
weave = "producing"
entry = "team_producer"
args = ["producer", "150", "400"]

[[string]]
weave = "consuming"
entry = "team_consumer"
args = ["consumer", "{}", "1500"]

[[string]]
weave = "holding"
entry = "team_holder"
args = ["holder", "40", "3000"]

[[string]]
weave = "holding"
entry = "team_auditor"
args = ["auditor", "55"]
"#,
        toml_escape(out)
    )
}

/// An image's header (its first section, JSON).
fn image_header(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).expect("image");
    assert_eq!(&bytes[..8], b"WVCKPT01");
    assert_eq!(&bytes[8..12], b"HEAD");
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[24..24 + len]).expect("header")
}

/// The tapestry part of an image's header.
fn image_state(path: &Path) -> serde_json::Value {
    image_header(path)["tapestry"].clone()
}

/// Must-show: a tapestry of four strings on two workers — a producer and a
/// consumer joined by a message queue, a string that holds a shared bead's
/// lock while it sleeps, and one that waits for the others — killed at
/// several moments and restored: every line is printed exactly once over
/// the killed and the restored run, and the consumer's file is whole.
/// Images are caught with messages queued and strings parked in sleeps,
/// lock waits and message waits.
#[test]
fn multi_string_tapestries_restore() {
    let dir = scratch_dir("ckpt_team");
    let reference_out = dir.join("reference.txt");
    let plain = write_tapestry(&dir, "plain.toml", &team(&reference_out, false));
    let reference = weaves_run(&plain, None);
    reference.expect_success();
    let expected_file = std::fs::read(&reference_out).expect("reference output");
    assert!(
        reference
            .stdout
            .contains("consumer: got 150 in order (0 out of order)"),
        "{reference}"
    );

    let mut queued_seen = 0;
    for (k, kill_after_ms) in [60u64, 110, 170].into_iter().enumerate() {
        let (out, images, before) = killed_run(&dir, k, kill_after_ms, |out| team(out, true));
        let newest = std::fs::read_dir(&images)
            .expect("images")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wvimg"))
            .max()
            .expect("an image");
        let state = image_state(&newest);
        let queued: usize = state["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .map(|q| q["messages"].as_array().map_or(0, |m| m.len()))
            .sum();
        queued_seen += queued;

        let restored = restore(&images);
        restored.expect_success();
        // stdout is a pipe: what the killed run printed is out, and lines
        // printed after the newest image are printed again by the restored
        // run (at least once, never lost). Every restored line is one of
        // the reference's; together nothing is missing; and the final
        // reports, which prove the queue and the shared bead came back
        // whole, come from the restored run.
        let reference_lines = reference.sorted_lines();
        let mut unused = reference_lines.clone();
        for line in restored.stdout.lines() {
            let at = unused.iter().position(|l| l == line).unwrap_or_else(|| {
                panic!(
                    "killed at {kill_after_ms} ms: the restored run printed `{line}` more \
                     often than an uninterrupted run\nrestored:\n{restored}\nreference:\n{reference}"
                )
            });
            unused.remove(at);
        }
        for line in &unused {
            assert!(
                before.lines().any(|l| l == line),
                "killed at {kill_after_ms} ms: `{line}` was printed by neither run\n\
                 before:\n{before}\nrestored:\n{restored}"
            );
        }
        assert!(
            restored
                .stdout
                .contains("consumer: got 150 in order (0 out of order)"),
            "killed at {kill_after_ms} ms: the consumer's report must come from the restored \
             run (it was killed before the end)\n{restored}"
        );
        assert!(
            (before.to_string() + &restored.stdout).contains("auditor: ledger has 55 entries"),
            "killed at {kill_after_ms} ms\n{restored}"
        );
        let got = std::fs::read(&out).expect("restored output");
        assert_eq!(
            got, expected_file,
            "consumer's file after restore differs (kill at {kill_after_ms} ms)"
        );
    }
    assert!(
        queued_seen > 0,
        "no image caught messages in the queue; the test does not test queues"
    );
}

/// Must-show: with 256 MiB of heap of which 1 MiB changes between
/// checkpoints, each image after the first holds only the changed pages
/// (well under 8 MiB), and restoring the newest (reading its whole chain)
/// ends with the same heap as the run that took them.
#[test]
fn incremental_images_hold_only_what_changed() {
    let dir = scratch_dir("ckpt_incremental");
    let _ = std::fs::remove_dir_all(dir.join("images"));
    let text = format!(
        r#"
[tapestry]
name = "big"
workers = 1

[checkpoint]
dir = "images"
keep = 1

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
args = ["ckpt_big", "256", "3", "1024"]
"#,
        toml_escape(&module("ckpt_big.so"))
    );
    let file = write_tapestry(&dir, "big.toml", &text);
    let mut cmd = common::weaves_command();
    cmd.arg("run").arg("--stats").arg(&file);
    let run = run_command(cmd, "weaves run --stats big.toml".into());
    run.expect_success();
    let sum = run.line("ckpt_big: 256 MiB, 3 rounds, checksum").to_owned();
    let taken: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("weaves: checkpoint "))
        .collect();
    assert_eq!(taken.len(), 4, "one full and three incremental\n{run}");
    let number = |line: &str, after: &str| -> u64 {
        line.split(after)
            .nth(1)
            .and_then(|r| {
                r.trim_start_matches([' ', ','])
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no number after `{after}` in `{line}`"))
    };
    assert!(taken[0].contains(": full,"), "{}", taken[0]);
    assert!(number(taken[0], "full,") >= 65536, "{}", taken[0]);
    for line in &taken[1..] {
        assert!(line.contains(": incremental,"), "{line}");
        let pages = number(line, "incremental,");
        assert!((256..=300).contains(&pages), "1 MiB changed: {line}");
        let bytes = number(line, "pages,");
        assert!(bytes < 8 << 20, "a delta must be under 8 MiB: {line}");
    }
    // keep = 1 keeps the newest image and the chain it builds on.
    let images = dir.join("images");
    let on_disk: Vec<u64> = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.metadata().expect("size").len())
        .collect();
    assert_eq!(on_disk.len(), 4, "the chain is kept whole: {on_disk:?}");
    assert_eq!(on_disk.iter().filter(|&&b| b < 8 << 20).count(), 3);

    let restored = restore(&images);
    restored.expect_success();
    assert_eq!(
        restored.lines(),
        vec!["ckpt_big: restored after round 3", sum.as_str()],
        "{restored}"
    );

    // A long chain is compacted: after 8 deltas the newest image is
    // rewritten whole, and what it replaced is pruned.
    let _ = std::fs::remove_dir_all(&images);
    let long = text.replace(r#""256", "3", "1024""#, r#""8", "10", "64""#);
    let file = write_tapestry(&dir, "long.toml", &long);
    let run = weaves_run(&file, None);
    run.expect_success();
    let sum = run.line("ckpt_big: 8 MiB, 10 rounds, checksum").to_owned();
    let mut kept: Vec<_> = std::fs::read_dir(&images)
        .expect("images")
        .flatten()
        .map(|e| e.path())
        .collect();
    kept.sort();
    let names: Vec<_> = kept
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "ckpt-000009.wvimg",
            "ckpt-000010.wvimg",
            "ckpt-000011.wvimg"
        ],
        "the compacted image and the deltas on it"
    );
    assert!(
        image_header(&kept[0])["parent"].is_null(),
        "compacted: full"
    );
    assert_eq!(
        image_header(&kept[2])["parent"]["file"],
        "ckpt-000010.wvimg"
    );
    let restored = restore(&images);
    restored.expect_success();
    assert_eq!(
        restored.lines(),
        vec!["ckpt_big: restored after round 10", sum.as_str()],
        "{restored}"
    );
}

const TRY_BEAD: &str = r#"
[[module]]
name = "try"
path = "@MODS@/rollback_try.so"

[[bead]]
name = "t"
module = "try"

[[weave]]
name = "w"
beads = ["t"]
"#;

/// Must-show: a weave-aware module takes a checkpoint, tries a path that
/// changes a global, the heap and a file, rolls back, and takes another
/// path: what it prints and writes after the rollback shows each as it
/// was at the checkpoint. The in-memory image of a tapestry without a
/// checkpoint directory is used.
#[test]
fn rollback_restores_state_and_another_path_is_taken() {
    let dir = scratch_dir("ckpt_rollback_try");
    let out = dir.join("try.out");
    let text = format!(
        "[tapestry]\nname = \"try\"\nworkers = 1\n{TRY_BEAD}\n[[string]]\nweave = \"w\"\n\
         entry = \"try_main\"\nargs = [\"try\", \"{}\"]\n",
        toml_escape(&out)
    );
    let file = write_tapestry(&dir, "try.toml", &text);
    let mut cmd = common::weaves_command();
    cmd.arg("run").arg("--checkpointable").arg(&file);
    let run = run_command(cmd, "weaves run --checkpointable try.toml".into());
    run.expect_success();
    assert_eq!(
        run.lines(),
        vec![
            "try: path A: balance -150, attempts 1, note 'spent 250'",
            "try: overdrawn; rolling back",
            "try: rolled back: balance 100, attempts 0, note 'untouched'",
            "try: path B: balance 50",
        ],
        "{run}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("output file"),
        "before\npath B\n",
        "the file is cut back to its size at the checkpoint"
    );

    // Without a checkpoint to go back to, wv_rollback refuses and returns.
    let plain = format!(
        "[tapestry]\nname = \"try\"\nworkers = 1\n{TRY_BEAD}\n[[string]]\nweave = \"w\"\n\
         entry = \"try_main\"\nargs = [\"try\", \"{}\"]\n",
        toml_escape(&out)
    );
    let file = write_tapestry(&dir, "plain.toml", &plain);
    let refused = weaves_run(&file, None);
    assert_ne!(refused.code(), 0, "{refused}");
    assert!(
        refused
            .stderr
            .contains("wv_checkpoint: not supported: this tapestry is not checkpointable"),
        "{refused}"
    );
    assert!(refused.stdout.is_empty(), "{refused}");
}

/// `weaves rollback ID DIR` rewinds a running tapestry to its newest image:
/// it keeps its id, its string resumes from the checkpoint, and its output
/// file is cut back and written on as if the later ticks never happened.
#[test]
fn weaves_rollback_rewinds_a_running_tapestry() {
    let scratch = scratch_dir("ckpt_rollback_cli");
    let out = scratch.join("ticks.out");
    let _ = std::fs::remove_dir_all(scratch.join("images"));
    let text = format!(
        "[tapestry]\nname = \"ticker\"\nworkers = 1\n\n[checkpoint]\ndir = \"images\"\n{TRY_BEAD}\n\
         [[string]]\nweave = \"w\"\nentry = \"ticker_main\"\nargs = [\"ticker\", \"{}\", \"30\"]\n",
        toml_escape(&out)
    );
    let (running, summary) = start_running("ckpt_rollback_cli", &text);
    let id = summary["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&out).is_ok_and(|t| t.contains("tick 15\n")) {
        assert!(
            Instant::now() < deadline,
            "the ticker never reached tick 15"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let images = running.dir.join("images");
    let rolled = weaves_cmd(&running.rt, &["rollback", &id, images.to_str().unwrap()]);
    rolled.expect_success();
    assert!(rolled.stdout.starts_with("rolled back to"), "{rolled}");
    let ps = json_of(&running.rt, &["ps", "--json"]);
    assert_eq!(
        ps[0]["id"].as_str(),
        Some(id.as_str()),
        "the tapestry keeps its id: {ps}"
    );
    let (status, stdout) = running.finish();
    assert!(status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec!["ticker: resumed at tick 5", "ticker: 30 ticks"]
    );
    let expected: String = (0..30).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(std::fs::read_to_string(&out).expect("ticks"), expected);
}
