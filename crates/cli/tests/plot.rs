//! `weaves plot TRACE -o FILE`: the picture of a DSM access-pattern trace.
//! The traces here are written by the tests, so what must appear is known.

mod common;

use std::path::{Path, PathBuf};

use common::{run_command, scratch_dir, weaves_command, Outcome};

const READ_FILL: &str = "fill=\"#1F64C8\"";
const WRITE_FILL: &str = "fill=\"#D62728\"";

/// Writes a trace of `nodes` nodes with the given `(t_us, node, page, kind)` faults.
fn write_trace(dir: &Path, nodes: u32, faults: &[(u64, u32, u64, &str)]) -> PathBuf {
    let mut text =
        format!("{{\"version\":1,\"nodes\":{nodes},\"page_size\":4096,\"coherence\":\"lrc\"}}\n");
    for (t_us, node, page, kind) in faults {
        text.push_str(&format!(
            "{{\"t_us\":{t_us},\"node\":{node},\"page\":{page},\"kind\":\"{kind}\"}}\n"
        ));
    }
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

fn plot(trace: &Path, out: &Path) -> Outcome {
    let mut cmd = weaves_command();
    cmd.arg("plot").arg(trace).arg("-o").arg(out);
    run_command(cmd, format!("weaves plot {}", trace.display()))
}

fn sample_faults() -> Vec<(u64, u32, u64, &'static str)> {
    let mut faults = Vec::new();
    for i in 0..7 {
        faults.push((100 * i, (i % 2) as u32, 536_870_912 + i, "read"));
    }
    for i in 0..3 {
        faults.push((50 + 100 * i, 1, 1_000 + i, "write"));
    }
    faults
}

#[test]
fn plot_svg_draws_one_dot_per_fault_in_its_kinds_colour_and_a_band_per_node() {
    let dir = scratch_dir("plot_svg_dots");
    let trace = write_trace(&dir, 2, &sample_faults());
    let out = dir.join("pattern.svg");
    let outcome = plot(&trace, &out);
    outcome.expect_success();
    let svg = std::fs::read_to_string(&out).unwrap();
    let dots = |fill: &str| {
        svg.lines()
            .filter(|l| l.contains("<circle") && l.contains(fill))
            .count()
    };
    // One dot per fault, and one in the legend for each kind.
    assert_eq!(dots(READ_FILL), 7 + 1, "{svg}");
    assert_eq!(dots(WRITE_FILL), 3 + 1, "{svg}");
    for caption in ["node 0", "node 1", "read fault", "write fault", "time (ms)"] {
        assert!(svg.contains(caption), "no `{caption}` in the picture");
    }
    assert!(
        outcome
            .stderr
            .contains("10 faults on 10 pages from 2 node(s)"),
        "{outcome}"
    );
}

#[test]
fn plot_png_is_a_png_as_tall_as_its_bands() {
    let dir = scratch_dir("plot_png");
    let trace = write_trace(&dir, 4, &sample_faults());
    let out = dir.join("pattern.png");
    plot(&trace, &out).expect_success();
    let png = std::fs::read(&out).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 40 + 170 * 4));
}

#[test]
fn plot_refuses_a_trace_of_another_format_version_in_one_line() {
    let dir = scratch_dir("plot_version");
    let trace = dir.join("v2.jsonl");
    std::fs::write(
        &trace,
        "{\"version\":2,\"nodes\":1,\"page_size\":4096,\"coherence\":\"sc\"}\n",
    )
    .unwrap();
    plot(&trace, &dir.join("x.png")).expect_error(&["version", "2", "supported"]);
    assert!(!dir.join("x.png").exists());
}

#[test]
fn plot_names_the_line_of_a_malformed_record() {
    let dir = scratch_dir("plot_malformed");
    let trace = write_trace(&dir, 2, &sample_faults());
    let mut text = std::fs::read_to_string(&trace).unwrap();
    text.push_str("{\"t_us\":5,\"node\":9,\"page\":1,\"kind\":\"read\"}\n");
    std::fs::write(&trace, text).unwrap();
    let outcome = plot(&trace, &dir.join("x.svg"));
    let line = outcome.expect_error(&["node", "9"]);
    assert!(line.contains("trace.jsonl:12:"), "{line}");
}

#[test]
fn plot_refuses_an_output_format_it_does_not_draw() {
    let dir = scratch_dir("plot_format");
    let trace = write_trace(&dir, 1, &[(1, 0, 1, "write")]);
    plot(&trace, &dir.join("x.pdf")).expect_error(&["not", "supported", "png"]);
}
