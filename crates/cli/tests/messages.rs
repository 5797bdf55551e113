//! Message interfaces (POLYLITH): `[[binding]]`s connect beads' interfaces;
//! `wv_send` queues, `wv_recv` parks until a message comes.

mod common;

use common::*;

fn pipeline(workers: u32, readings: u32, extra: &str) -> String {
    format!(
        r#"
[tapestry]
name = "polylith"
workers = {workers}

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

[[string]]
weave = "showing"
entry = "display_main"
args = ["display", "{readings}"]

[[string]]
weave = "computing"
entry = "compute_main"

[[string]]
weave = "sensing"
entry = "sensor_main"
args = ["sensor", "{readings}"]
{extra}"#
    )
}

const BINDINGS: &str = r#"
[[binding]]
from = "sensor.out"
to = "compute.in"

[[binding]]
from = "compute.out"
to = "display.in"
"#;

fn expect_all_delivered(out: &Outcome, readings: u32) {
    out.expect_success();
    let sum = 3.0 * f64::from(readings) * f64::from(readings - 1) / 2.0;
    assert_eq!(
        out.sorted_lines(),
        sorted([
            format!("compute compute v1: handled {readings}").as_str(),
            format!(
                "display: {readings} readings in order, 0 bad, sum {sum:.1}, v1 {readings} v2 0, queued after end 0"
            )
            .as_str(),
            format!("sensor sensor: sent {readings}").as_str(),
        ]),
        "{out}"
    );
}

/// The receivers start first and park; every reading arrives once, in
/// order, transformed by compute.
#[test]
fn sensor_compute_display_on_one_worker() {
    let out = run_tapestry("pipeline_one_worker", &pipeline(1, 1000, BINDINGS));
    expect_all_delivered(&out, 1000);
}

#[test]
fn sensor_compute_display_on_two_workers() {
    let out = run_tapestry("pipeline_two_workers", &pipeline(2, 5000, BINDINGS));
    expect_all_delivered(&out, 5000);
}

/// Replicated pipelines: `{i}` works in bindings as everywhere else.
#[test]
fn replicated_bindings() {
    let text = r#"
[tapestry]
name = "pipelines"
workers = 2

[[module]]
name = "sensor"
path = "@MODS@/sensor.so"

[[module]]
name = "display"
path = "@MODS@/display.so"

[[bead]]
name = "s{i}"
module = "sensor"
count = 3

[[bead]]
name = "d{i}"
module = "display"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["s{i}", "d{i}"]

[[binding]]
from = "s{i}.out"
to = "d{i}.in"
count = 3

[[string]]
weave = "w{i}"
entry = "s{i}:sensor_main"
args = ["sensor", "{i}0"]
count = 3
"#;
    let out = run_tapestry("replicated_bindings", text);
    out.expect_success();
    let sensors = out.lines_starting("sensor ");
    assert_eq!(
        sorted(sensors),
        [
            "sensor s0: sent 0",
            "sensor s1: sent 10",
            "sensor s2: sent 20"
        ]
    );
}

#[test]
fn sending_on_an_unbound_interface_fails_with_enotconn() {
    let out = run_tapestry("unbound_send", &pipeline(1, 3, ""));
    // Nothing is bound: the sensor's wv_send and the receivers' wv_recv
    // fail at once (ENOTCONN) instead of waiting forever.
    assert_ne!(out.code(), 0, "{out}");
    assert!(
        out.stderr
            .contains("sensor: wv_send: Transport endpoint is not connected"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("display: wv_recv: Transport endpoint is not connected"),
        "{out}"
    );
}

#[test]
fn a_binding_to_an_unknown_bead_names_it_and_its_line() {
    let text = pipeline(1, 3, BINDINGS).replace("to = \"display.in\"", "to = \"dispaly.in\"");
    let out = run_tapestry("binding_unknown_bead", &text);
    out.expect_error(&["unknown bead `dispaly`", "display", "line"]);
}

#[test]
fn a_binding_end_without_an_interface_is_refused() {
    let text = pipeline(1, 3, BINDINGS).replace("from = \"sensor.out\"", "from = \"sensor\"");
    let out = run_tapestry("binding_no_interface", &text);
    out.expect_error(&["`sensor` is not `bead.interface`", "line"]);
}

#[test]
fn an_interface_bound_twice_is_a_conflict() {
    let twice = format!("{BINDINGS}\n[[binding]]\nfrom = \"sensor.out\"\nto = \"display.in\"\n");
    let out = run_tapestry("binding_twice", &pipeline(1, 3, &twice));
    out.expect_error(&["conflicting bindings", "`sensor.out` is bound already"]);
}
