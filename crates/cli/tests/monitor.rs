//! The monitor: `weaves ps` and `weaves inspect` report a running
//! tapestry accurately, over its control socket.

mod common;

use std::path::Path;

use common::running::*;
use common::*;

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

#[test]
fn ps_and_inspect_report_a_running_tapestry() {
    let (running, ps) = start_running("ps_and_inspect", TAPESTRY);
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
    let inspection = inspect_until(&running.rt, "watched", "ended the quick strings", |i| {
        string_state(i, "quick") == "done" && string_state(i, "prober") == "done"
    });
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
    let (running, ps) = start_running("socket_goes", TAPESTRY);
    let rt = running.rt.clone();
    let socket = rt.join(format!("{}.sock", ps["pid"]));
    assert!(socket.exists());
    let (status, _) = running.finish();
    assert!(status.success());
    assert!(!socket.exists(), "{} is left behind", socket.display());
    assert_eq!(json_of(&rt, &["ps", "--json"]), serde_json::json!([]));
}

#[test]
fn inspecting_an_unknown_tapestry_is_one_clear_error() {
    let dir = scratch_dir("inspect_unknown");
    let out = weaves_cmd(&dir.join("rt"), &["inspect", "nosuch"]);
    out.expect_error(&["no running tapestry `nosuch`"]);
}

/// Such a directory is never used: `ps` says so in one line and lists only
/// private fallbacks (tests/squatted_runtime_dir.rs has runs using them).
#[test]
fn a_socket_directory_others_may_enter_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("open_socket_dir");
    let rt = dir.join("rt");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = weaves_cmd(&rt, &["ps"]);
    out.expect_success();
    assert_eq!(out.stdout.trim(), "no running tapestries", "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("refusing the control-socket directory"),
        "{out}"
    );
    assert!(lines[0].contains("chmod 700"), "{out}");
}
