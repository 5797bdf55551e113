//! Reconfiguration scripts: the POLYLITH example (sensor -> compute ->
//! display) has `compute` replaced by a new version while readings flow;
//! queued readings move with it, and none is lost or repeated. Atomic
//! blocks that fail their check change nothing.

mod common;

use common::running::*;
use serde_json::Value;

const READINGS: u32 = 3000;

fn pipeline() -> String {
    format!(
        r#"
[tapestry]
name = "polylith"
workers = 2

[[module]]
name = "sensor"
path = "@MODS@/sensor.so"

[[module]]
name = "compute"
path = "@MODS@/compute.so"

[[module]]
name = "display"
path = "@MODS@/display.so"

[[bead]]
name = "sensor"
module = "sensor"

[[bead]]
name = "compute"
module = "compute"

[[bead]]
name = "display"
module = "display"

[[weave]]
name = "sensing"
beads = ["sensor"]

[[weave]]
name = "computing"
beads = ["compute"]

[[weave]]
name = "showing"
beads = ["display"]

[[binding]]
from = "sensor.out"
to = "compute.in"

[[binding]]
from = "compute.out"
to = "display.in"

[[string]]
name = "display"
weave = "showing"
entry = "display_main"
args = ["display", "{READINGS}"]

[[string]]
name = "compute"
weave = "computing"
entry = "compute_main"

# A reading every 0.5 ms: the stream flows while the script runs.
[[string]]
name = "sensor"
weave = "sensing"
entry = "sensor_main"
args = ["sensor", "{READINGS}", "500"]
"#
    )
}

const V2: &str = r#"
[[module]]
name = "compute_v2"
path = "@MODS@/compute_v2.so"

[[bead]]
name = "compute2"
module = "compute_v2"

[[weave]]
name = "computing2"
beads = ["compute2"]

[[string]]
name = "compute2"
weave = "computing2"
entry = "compute_main"
"#;

const REPLACE: &str = "\
# Replace compute by version 2 without losing or repeating a reading.
atomic {
  apply v2.toml
  stop compute
  bind sensor.out compute2.in
  move-queue compute.in compute2.in
  bind compute2.out display.in
}
unbind compute.out
remove weave computing
remove bead compute
";

fn delivered(i: &Value, from: &str) -> u64 {
    i["bindings"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["from"] == from))
        .and_then(|b| b["delivered"].as_u64())
        .unwrap_or(0)
}

/// Must-show: replace a running bead by a new module version, moving its
/// queued messages; the display checks every sequence number.
#[test]
fn compute_is_replaced_mid_stream_and_no_reading_is_lost_or_repeated() {
    let (running, ps) = start_running("replace_compute", &pipeline());
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let dir = running.dir.clone();
    write_file(&dir, "v2.toml", V2);
    let script = write_file(&dir, "replace.wvs", REPLACE);
    // Let some readings through version 1 first.
    inspect_until(&rt, &id, "delivered readings through compute v1", |i| {
        delivered(i, "compute.out") >= 100
    });
    let out = weaves_cmd(&rt, &["script", &id, &script]);
    out.expect_success();
    let lines = out.lines();
    assert_eq!(lines[0], "line 3: apply v2.toml", "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("line 6: moved ") && l.ends_with(" message(s)")),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"line 11: remove bead compute"), "{out}");

    let i = json_of(&rt, &["inspect", &id, "--json"]);
    let names: Vec<&str> = i["beads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sensor", "display", "compute2"]);
    assert_eq!(string_state(&i, "compute"), "stopped");
    let bindings: Vec<(String, String)> = i["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["from"].as_str().unwrap().to_owned(),
                b["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        bindings,
        [
            ("sensor.out".to_owned(), "compute2.in".to_owned()),
            ("compute2.out".to_owned(), "display.in".to_owned())
        ]
    );

    let (status, stdout) = running.finish();
    assert!(status.success(), "{stdout}");
    let display = stdout
        .lines()
        .find(|l| l.starts_with("display: "))
        .unwrap_or_else(|| panic!("no display line: {stdout}"));
    assert!(
        display.starts_with(&format!("display: {READINGS} readings in order, 0 bad, ")),
        "{display}"
    );
    let v1 = number_after(display, "v1 ");
    let v2 = number_after(display, "v2 ");
    assert!(v1 >= 100 && v2 > 0, "{display}");
    assert_eq!(v1 + v2, i64::from(READINGS), "{display}");
    assert!(
        stdout.contains(&format!("compute compute2 v2: handled {v2}")),
        "{stdout}"
    );
}

#[test]
fn an_atomic_block_that_fails_its_check_changes_nothing() {
    let (running, ps) = start_running("atomic_refused", &pipeline());
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let dir = running.dir.clone();
    write_file(&dir, "v2.toml", V2);
    // A fragment whose bead cannot bind: found only by the dry run.
    write_file(
        &dir,
        "unbound.toml",
        "[[module]]\nname = \"app\"\npath = \"@MODS@/missing_data.so\"\n[[bead]]\nname = \"lonely\"\nmodule = \"app\"\n[[weave]]\nname = \"alone\"\nbeads = [\"lonely\"]\n",
    );
    let before = stable(json_of(&rt, &["inspect", &id, "--json"]));
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "typo.wvs",
            "atomic {\n  apply v2.toml\n  stop compute\n  bind sensor.out compute3.in\n}\n",
            &[
                "line 4",
                "no bead `compute3`",
                "nothing in the atomic block took effect",
            ],
        ),
        (
            "unbound.wvs",
            "atomic {\n  apply v2.toml\n  bind sensor.out compute2.in\n  apply unbound.toml\n}\n",
            &[
                "unresolved symbols",
                "bead `lonely`",
                "no_such_variable",
                "nothing in the atomic block took effect",
            ],
        ),
        (
            "busy.wvs",
            "atomic {\n  unbind compute.out\n  remove weave computing\n}\n",
            &[
                "line 3",
                "weave `computing` still has running strings: compute",
            ],
        ),
        (
            "syntax.wvs",
            "atomic {\n  apply v2.toml\n  frobnicate compute\n}\n",
            &["line 3", "unknown command `frobnicate`"],
        ),
        (
            "unclosed.wvs",
            "atomic {\n  apply v2.toml\n",
            &["line 1", "never closed"],
        ),
    ];
    for (file, text, mentions) in cases {
        let script = write_file(&dir, file, text);
        weaves_cmd(&rt, &["script", &id, &script]).expect_error(mentions);
        let after = stable(json_of(&rt, &["inspect", &id, "--json"]));
        assert_eq!(before, after, "{file} changed the tapestry");
    }
    let (status, stdout) = running.finish();
    assert!(status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "display: {READINGS} readings in order, 0 bad, sum"
        )),
        "{stdout}"
    );
}

/// Outside atomic blocks, lines take effect one by one: an error says
/// which lines did.
#[test]
fn a_failing_line_outside_atomic_blocks_reports_what_took_effect() {
    let (running, ps) = start_running("script_partial", &pipeline());
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let dir = running.dir.clone();
    let script = write_file(
        &dir,
        "partial.wvs",
        "bind sensor.probe display.in\nremove bead nosuch\n",
    );
    let out = weaves_cmd(&rt, &["script", &id, &script]);
    out.expect_error(&[
        "line 2",
        "no bead `nosuch`",
        "these took effect: line 1: bind sensor.probe display.in",
    ]);
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert!(
        i["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["from"] == "sensor.probe" && b["to"] == "display.in"),
        "{i}"
    );
}
