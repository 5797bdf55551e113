//! `weaves bench dsm [--json] [-n N]`: distributed shared memory over
//! loopback. Fault and lock latencies (medians, one probing thread on
//! node 1 of 2 under `lrc`), and the 400×400 matrix multiply (N×N with
//! `-n N`; static blocks of rows, each row written under a lock) on 1, 2,
//! 4, 8 and 16 nodes under each coherence mode, row- and column-major,
//! against the same program as plain pthreads in one process.

use std::path::{Path, PathBuf};
use std::process::Command;

const MATMUL: &str = include_str!("../tests/dsm/matmul.c");
const FAULTS: &str = include_str!("../tests/dsm/faults.c");

struct Run {
    nodes: u32,
    coherence: &'static str,
    layout: &'static str,
    seconds: f64,
    messages: u64,
    bytes: u64,
}

fn compile(dir: &Path, name: &str, text: &str, extra: &[&str]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, text).map_err(|e| format!("{}: {e}", src.display()))?;
    let out = dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-pthread"])
        .args(extra)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .map_err(|e| format!("bench dsm: cannot run {cc}: {e}"))?;
    if !status.success() {
        return Err(format!("bench dsm: {cc} {} failed", src.display()));
    }
    Ok(out)
}

/// `seconds=…` as the timed matrix multiply prints it on stderr.
fn seconds(stderr: &str) -> Option<f64> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("seconds="))
        .and_then(|v| v.trim().parse().ok())
}

fn dsm(
    dir: &Path,
    nodes: u32,
    coherence: &str,
    prog: &Path,
    args: &[&str],
) -> Result<(std::process::Output, serde_json::Value), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let json = dir.join("stats.json");
    let out = Command::new(exe)
        .args(["dsm", "-n", &nodes.to_string(), "--coherence", coherence])
        .arg("--stats-json")
        .arg(&json)
        .arg("--")
        .arg(prog)
        .args(args)
        .output()
        .map_err(|e| format!("bench dsm: cannot run weaves dsm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "bench dsm: weaves dsm -n {nodes} --coherence {coherence} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stats = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok((out, stats))
}

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

pub(crate) fn dsm_bench(json: bool, size: Option<u64>) -> Result<i32, String> {
    let n = size.unwrap_or(400).clamp(16, 2000).to_string();
    let dir = crate::build_c::cache_dir("dsm")?;
    let matmul = compile(&dir, "matmul_timed", MATMUL, &["-DTIMED"])?;
    let faults = compile(&dir, "faults", FAULTS, &[])?;

    let (probe, _) = dsm(&dir, 2, "lrc", &faults, &[])?;
    let line = String::from_utf8_lossy(&probe.stdout).into_owned();
    let (read_us, write_us, readonly_us, lock_us) = (
        field(&line, "read_fault_us"),
        field(&line, "write_fault_us"),
        field(&line, "write_fault_readonly_us"),
        field(&line, "lock_round_trip_us"),
    );

    let threads = "16";
    let native = Command::new(&matmul)
        .args([n.as_str(), threads, "row", "static"])
        .output()
        .map_err(|e| format!("bench dsm: cannot run {}: {e}", matmul.display()))?;
    let pthreads_seconds = seconds(&String::from_utf8_lossy(&native.stderr))
        .ok_or("bench dsm: the native matrix multiply printed no time")?;

    let mut runs = Vec::new();
    for nodes in [1u32, 2, 4, 8, 16] {
        for coherence in ["lrc", "sc"] {
            for layout in ["row", "col"] {
                let (out, stats) = dsm(
                    &dir,
                    nodes,
                    coherence,
                    &matmul,
                    &[n.as_str(), threads, layout, "static"],
                )?;
                if out.stdout != native.stdout && layout == "row" {
                    return Err(format!(
                        "bench dsm: the result on {nodes} nodes ({coherence}) differs from the native one"
                    ));
                }
                runs.push(Run {
                    nodes,
                    coherence,
                    layout,
                    seconds: seconds(&String::from_utf8_lossy(&out.stderr)).unwrap_or(f64::NAN),
                    messages: stats["total"]["messages"].as_u64().unwrap_or(0),
                    bytes: stats["total"]["bytes"].as_u64().unwrap_or(0),
                });
            }
        }
    }
    if json {
        let matmul: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "nodes": r.nodes, "coherence": r.coherence, "layout": r.layout,
                    "seconds": r.seconds, "messages": r.messages, "bytes": r.bytes,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({
                "read_fault_us": read_us,
                "write_fault_us": write_us,
                "write_fault_readonly_us": readonly_us,
                "lock_round_trip_us": lock_us,
                "pthreads_seconds": pthreads_seconds,
                "matmul": matmul,
            })
        );
        return Ok(0);
    }
    outln!("weaves bench dsm (loopback; medians of one probing thread on node 1 of 2, lrc)");
    outln!("  read fault (page homed on another node): {read_us:.1} µs   (DSM64: 1,909 µs; target ≤ 50)");
    outln!(
        "  first write to a fetched page:           {write_us:.1} µs   (DSM64: 45 µs; target ≤ 5)"
    );
    outln!("  write to a fetched page made read-only:  {readonly_us:.1} µs   (fault, twin, protection change)");
    outln!("  lock round trip:                         {lock_us:.1} µs");
    outln!("matrix multiply {n}×{n}, 16 threads, static blocks, locked per row; plain pthreads: {pthreads_seconds:.3} s");
    outln!("  nodes coherence layout   seconds  ×pthreads  messages       bytes");
    for r in &runs {
        outln!(
            "  {:>5} {:>9} {:>6} {:>9.3} {:>10.2} {:>9} {:>11}",
            r.nodes,
            r.coherence,
            r.layout,
            r.seconds,
            r.seconds / pthreads_seconds,
            r.messages,
            r.bytes
        );
    }
    Ok(0)
}
