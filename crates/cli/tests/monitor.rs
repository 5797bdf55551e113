//! The monitor: `weaves ps` and `weaves inspect` report a running
//! tapestry accurately, over its control socket.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A tapestry that runs for a few seconds: two sleeper beads whose strings
/// loop, and an app bead wired to a counter bead whose string ends at once.
const TAPESTRY: &str = r#"
[tapestry]
name = "watched"
workers = 2

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "sleepy{i}"
module = "sleeper"
count = 2

[[bead]]
name = "front"
module = "app"

[[bead]]
name = "tally"
module = "counter"

# A sensor whose readings nobody takes: they wait in sink.in.
[[module]]
name = "sensor"
path = "@MODS@/sensor.so"

[[module]]
name = "display"
path = "@MODS@/display.so"

[[bead]]
name = "probe"
module = "sensor"

[[bead]]
name = "sink"
module = "display"

[[weave]]
name = "probing"
beads = ["probe"]

[[binding]]
from = "probe.out"
to = "sink.in"

[[string]]
name = "prober"
weave = "probing"
entry = "sensor_main"
args = ["sensor", "7"]

[[weave]]
name = "nap{i}"
count = 2
beads = ["sleepy{i}"]

[[weave]]
name = "wired"
beads = ["front", "tally"]

[[string]]
name = "napper{i}"
count = 2
weave = "nap{i}"
entry = "sleeper_main"
args = ["sleeper", "n{i}", "400", "10000"]

[[string]]
name = "quick"
weave = "wired"
entry = "app_main"
args = ["app", "q", "5"]
"#;

/// A `weaves` command that uses `rt` as its control-socket directory.
fn weaves(rt: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weaves"));
    cmd.env("WEAVES_RUNTIME_DIR", rt);
    cmd
}

fn json_of(rt: &Path, args: &[&str]) -> Value {
    let out = run_command(
        {
            let mut c = weaves(rt);
            c.args(args);
            c
        },
        format!("weaves {}", args.join(" ")),
    );
    out.expect_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

struct Running {
    child: Child,
    rt: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the tapestry and waits until `weaves ps` lists it.
fn start(test: &str) -> (Running, Value) {
    let dir = scratch_dir(test);
    let file = write_tapestry(&dir, "watched.toml", TAPESTRY);
    let rt = dir.join("rt");
    let child = weaves(&rt)
        .arg("run")
        .arg(&file)
        .stdout(Stdio::null())
        .spawn()
        .expect("weaves run starts");
    let running = Running { child, rt };
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

#[test]
fn ps_and_inspect_report_a_running_tapestry() {
    let (running, ps) = start("ps_and_inspect");
    let pid = running.child.id();
    assert_eq!(ps["id"], pid.to_string(), "{ps}");
    assert_eq!(ps["pid"], pid, "{ps}");
    assert_eq!(ps["name"], "watched");
    assert_eq!(ps["beads"], 6);
    assert_eq!(ps["weaves"], 4);
    assert_eq!(ps["strings"], 4);
    assert_eq!(ps["workers"], 2);

    // By name; wait until the quick strings have ended (they run in
    // microseconds, but the machine may be busy).
    let deadline = Instant::now() + Duration::from_secs(10);
    let inspection = loop {
        let i = json_of(&running.rt, &["inspect", "watched", "--json"]);
        let ended = |name: &str| {
            i["strings"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
                .unwrap_or_else(|| panic!("string {name} is listed"))["state"]
                == "done"
        };
        if ended("quick") && ended("prober") {
            break i;
        }
        assert!(Instant::now() < deadline, "quick strings never ended: {i}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(inspection["id"], pid.to_string());

    // Modules: paths and build ids.
    let modules = inspection["modules"].as_array().expect("modules");
    let names: Vec<&str> = modules
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sleeper", "app", "counter", "sensor", "display"]);
    for m in modules {
        let path = m["path"].as_str().unwrap();
        assert!(Path::new(path).is_file(), "{m}");
        let id = m["build_id"].as_str().expect("gcc gives modules build ids");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{m}"
        );
        assert_eq!(m["kind"], "shared object");
    }
    assert_eq!(modules[0]["beads"], 2);

    // Beads: distinct bases in the arena, private data, weaves, wiring.
    let beads = inspection["beads"].as_array().expect("beads");
    assert_eq!(beads.len(), 6);
    let mut bases: Vec<u64> = beads
        .iter()
        .map(|b| {
            let hex = b["base"].as_str().unwrap().trim_start_matches("0x");
            u64::from_str_radix(hex, 16).unwrap()
        })
        .collect();
    assert!(bases.iter().all(|&b| b >= 0x2000_0000_0000), "{bases:?}");
    bases.sort_unstable();
    bases.dedup();
    assert_eq!(bases.len(), 6, "every bead has its own base");
    let front = beads.iter().find(|b| b["name"] == "front").expect("front");
    assert_eq!(front["module"], "app");
    assert_eq!(front["weaves"], serde_json::json!(["wired"]));
    assert!(front["data_bytes"].as_u64().unwrap() > 0);
    let wires = front["imports"]["beads"].as_array().unwrap();
    let mut wired: Vec<(String, String)> = wires
        .iter()
        .map(|w| {
            assert_eq!(w["via"], "bead");
            (
                w["symbol"].as_str().unwrap().to_owned(),
                w["bead"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    wired.sort();
    assert_eq!(
        wired,
        [
            ("counter_get".to_owned(), "tally".to_owned()),
            ("counter_next".to_owned(), "tally".to_owned())
        ]
    );
    // app allocates in its heap (its own, in the arena).
    assert!(front["heap_reserved"].as_u64().unwrap() > 0, "{front}");

    // Weaves in lookup order.
    let wired_weave = inspection["weaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "wired")
        .unwrap();
    assert_eq!(wired_weave["beads"], serde_json::json!(["front", "tally"]));

    // Strings: the nappers are alive (asleep, or running), the quick one
    // ended with status 0.
    let strings = inspection["strings"].as_array().unwrap();
    assert_eq!(strings.len(), 4);
    for s in strings {
        assert_eq!(s["mode"], "fiber");
        assert!(s["cpu_ms"].as_f64().unwrap() >= 0.0);
        if s["name"] == "quick" || s["name"] == "prober" {
            assert_eq!(s["status"], 0);
        } else {
            assert!(
                ["parked", "running", "queued"].contains(&s["state"].as_str().unwrap()),
                "{s}"
            );
            assert!(s["status"].is_null());
        }
    }
    let quick = strings.iter().find(|s| s["name"] == "quick").unwrap();
    assert_eq!(quick["weave"], "wired");
    assert!(quick["cpu_ms"].as_f64().unwrap() > 0.0, "{quick}");

    // The message binding and its queue: seven readings and the end
    // marker, none taken.
    assert_eq!(
        inspection["bindings"],
        serde_json::json!([
            {"from": "probe.out", "to": "sink.in", "queued": 8, "delivered": 0}
        ])
    );
}

#[test]
fn the_socket_goes_when_the_tapestry_ends() {
    let (mut running, ps) = start("socket_goes");
    let socket = running.rt.join(format!("{}.sock", ps["pid"]));
    assert!(socket.exists());
    let status = running.child.wait().expect("weaves run ends");
    assert!(status.success());
    assert!(!socket.exists(), "{} is left behind", socket.display());
    assert_eq!(
        json_of(&running.rt, &["ps", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn inspecting_an_unknown_tapestry_is_one_clear_error() {
    let dir = scratch_dir("inspect_unknown");
    let mut cmd = weaves(&dir.join("rt"));
    cmd.args(["inspect", "nosuch"]);
    let out = run_command(cmd, "weaves inspect nosuch".into());
    out.expect_error(&["no running tapestry `nosuch`"]);
}

#[test]
fn a_socket_directory_others_may_enter_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("open_socket_dir");
    let rt = dir.join("rt");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = weaves(&rt);
    cmd.args(["ps"]);
    let out = run_command(cmd, "weaves ps".into());
    out.expect_error(&["refusing the control-socket directory", "chmod 700"]);
}
