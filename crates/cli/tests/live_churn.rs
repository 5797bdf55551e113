//! Live changes under load: beads, weaves and strings are added and removed
//! over and over while other strings sleep, allocate and call a shared bead,
//! and while other clients inspect and change the same tapestry.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use weaves_monitor::Client;

use common::running::*;

/// Three churning strings that share a counter bead, and 100 sleepers.
const BASE: &str = r#"
[tapestry]
name = "churn"
workers = 2

[[module]]
name = "churn"
path = "@MODS@/churn.so"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "shared"
module = "counter"

[[bead]]
name = "churn{i}"
module = "churn"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["churn{i}", "shared"]

[[string]]
name = "churner{i}"
weave = "w{i}"
count = 3
entry = "churn_main"
args = ["churn", "1000000", "1000"]

[[bead]]
name = "sleepy{i}"
module = "sleeper"
count = 100

[[weave]]
name = "nap{i}"
count = 100
beads = ["sleepy{i}"]

[[string]]
name = "napper{i}"
weave = "nap{i}"
count = 100
entry = "sleeper_main"
args = ["sleeper", "n", "1000000", "2000"]
"#;

/// A bead of `app` in a new weave with the shared counter, and a short
/// string that calls the counter, allocates in the new bead and prints.
fn fragment(prefix: &str) -> String {
    format!(
        r#"
[[bead]]
name = "{prefix}bead"
module = "app"

[[weave]]
name = "{prefix}weave"
beads = ["{prefix}bead", "shared"]

[[string]]
name = "{prefix}short"
weave = "{prefix}weave"
entry = "app_main"
args = ["app", "{prefix}", "3"]
"#
    )
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line")
}

/// Removes what `fragment(prefix)` added, once its string has ended.
fn remove_added(client: &mut Client, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    // The string may still be running: removal is refused until it ends.
    while let Err(e) = client.remove("string", &format!("{prefix}short")) {
        assert!(
            e.to_string().contains("is running"),
            "unexpected refusal: {e}"
        );
        assert!(Instant::now() < deadline, "`{prefix}short` never ended");
        std::thread::sleep(Duration::from_micros(200));
    }
    client
        .remove("weave", &format!("{prefix}weave"))
        .unwrap_or_else(|e| panic!("remove weave: {e}"));
    client
        .remove("bead", &format!("{prefix}bead"))
        .unwrap_or_else(|e| panic!("remove bead: {e}"));
}

/// Every weave lists beads that exist; every string that has not ended
/// runs in a weave that exists.
fn assert_consistent(i: &Value) {
    let names = |list: &str| -> Vec<String> {
        i[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let beads = names("beads");
    let weaves = names("weaves");
    for w in i["weaves"].as_array().unwrap() {
        for b in w["beads"].as_array().unwrap() {
            assert!(
                beads.iter().any(|x| x == b.as_str().unwrap()),
                "weave {} lists bead {b}, which inspect does not show",
                w["name"]
            );
        }
    }
    for s in i["strings"].as_array().unwrap() {
        if s["state"] != "done" {
            assert!(
                weaves.iter().any(|x| x == s["weave"].as_str().unwrap()),
                "live string {} runs in weave {}, which inspect does not show",
                s["name"],
                s["weave"]
            );
        }
    }
}

fn socket(rt: &Path, pid: u32) -> PathBuf {
    rt.join(format!("{pid}.sock"))
}

/// The bug: the runtime's own allocations (timers, wait lists) made while a
/// string ran for a bead landed in that bead's heap, so removing the bead
/// unmapped memory the scheduler still used, and the run died with SIGSEGV
/// within a few apply/remove cycles, usually without a word.
#[test]
fn apply_remove_cycles_under_load_never_crash_the_runtime() {
    let (mut running, ps) = start_running("apply_remove_cycles", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let pid = running.child.id();
    let sock = socket(&running.rt, pid);
    let cycle = write_file(&running.dir, "cycle.toml", &fragment("c"));
    let side = write_file(&running.dir, "side.toml", &fragment("x"));

    // 200 concurrent CLI calls beside the cycles: 100 inspections, and 25
    // apply/remove rounds of their own (4 calls each).
    let rt = running.rt.clone();
    let id2 = id.clone();
    let inspector = std::thread::spawn(move || {
        for _ in 0..100 {
            assert_consistent(&json_of(&rt, &["inspect", &id2, "--json"]));
        }
    });
    let rt = running.rt.clone();
    let id3 = id.clone();
    let changer = std::thread::spawn(move || {
        for _ in 0..25 {
            weaves_cmd(&rt, &["apply", &id3, &side]).expect_success();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !weaves_cmd(&rt, &["remove", &id3, "string", "xshort"])
                .status
                .success()
            {
                assert!(Instant::now() < deadline, "xshort never ended");
                std::thread::sleep(Duration::from_millis(2));
            }
            weaves_cmd(&rt, &["remove", &id3, "weave", "xweave"]).expect_success();
            weaves_cmd(&rt, &["remove", &id3, "bead", "xbead"]).expect_success();
        }
    });

    let mut client = Client::at(&sock).expect("connects to the control socket");
    let mut rss_at_100 = 0;
    for n in 1..=1000 {
        client
            .apply(Path::new(&cycle))
            .unwrap_or_else(|e| panic!("cycle {n}: apply: {e}"));
        remove_added(&mut client, "c");
        if n == 100 {
            rss_at_100 = rss_kib(pid);
        }
        assert!(
            running.child.try_wait().unwrap().is_none(),
            "the tapestry died in cycle {n}"
        );
    }
    let rss_at_1000 = rss_kib(pid);
    inspector.join().expect("inspections stay consistent");
    changer.join().expect("concurrent changes succeed");

    let i = client.inspect().expect("inspect after the cycles");
    let live = i.strings.iter().filter(|s| s.state != "done").count();
    assert_eq!(live, 103, "the churners and sleepers all still run");
    assert!(
        !i.beads
            .iter()
            .any(|b| b.name == "cbead" || b.name == "xbead"),
        "removed beads are gone"
    );
    assert!(
        rss_at_1000 * 10 <= rss_at_100 * 11,
        "resident memory grew from {rss_at_100} KiB after 100 cycles to {rss_at_1000} KiB after 1000"
    );
    let out = std::fs::read_to_string(&running.stdout).unwrap();
    let shorts = out.lines().filter(|l| l.starts_with("app c: ")).count();
    assert_eq!(shorts, 1000, "every short string printed its line");
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "the tapestry still runs"
    );
}

/// The bug: strings a script's `apply` added started only when the whole
/// script ended, so `wait` on one returned at once, and `remove weave` of
/// its weave succeeded — after which the string started in a weave that no
/// longer existed.
#[test]
fn script_apply_takes_effect_in_order() {
    let (running, ps) = start_running("script_apply_in_order", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    write_file(&running.dir, "add.toml", &fragment("s"));

    // In order: the string runs, `wait` waits for it, then everything it
    // used can go.
    let script = write_file(
        &running.dir,
        "in-order.wvs",
        "apply add.toml\nwait sshort\nremove string sshort\nremove weave sweave\nremove bead sbead\n",
    );
    weaves_cmd(&rt, &["script", &id, &script]).expect_success();
    let out = std::fs::read_to_string(&running.stdout).unwrap();
    assert!(
        out.lines().any(|l| l.starts_with("app s: calls=1 ")),
        "the applied string ran before `wait` returned:\n{out}"
    );
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert_consistent(&i);
    assert!(!i["weaves"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["name"] == "sweave"));

    // Removing the weave of a string that has started and still runs is
    // refused.
    write_file(
        &running.dir,
        "slow.toml",
        r#"
[[bead]]
name = "slowbead"
module = "sleeper"

[[weave]]
name = "slowweave"
beads = ["slowbead"]

[[string]]
name = "slowstring"
weave = "slowweave"
entry = "sleeper_main"
args = ["sleeper", "n", "100", "20000"]
"#,
    );
    let script = write_file(
        &running.dir,
        "too-soon.wvs",
        "apply slow.toml\nremove weave slowweave\n",
    );
    let refused = weaves_cmd(&rt, &["script", &id, &script]);
    assert!(!refused.status.success(), "{refused}");
    assert!(
        refused.stderr.contains("slowweave")
            && refused.stderr.contains("line 2")
            && refused.stderr.contains("slowstring"),
        "{refused}"
    );

    // In an atomic block the added string waits for the block's end, so
    // removing its weave inside the block is refused and nothing happens.
    let script = write_file(
        &running.dir,
        "atomic.wvs",
        "atomic {\n  apply add.toml\n  remove weave sweave\n}\n",
    );
    let refused = weaves_cmd(&rt, &["script", &id, &script]);
    assert!(!refused.status.success(), "{refused}");
    assert!(refused.stderr.contains("not started yet"), "{refused}");
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert_consistent(&i);
}
