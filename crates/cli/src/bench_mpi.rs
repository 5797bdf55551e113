//! `weaves bench mpi`: ping-pong latency and bandwidth between two ranks in
//! one process (`weaves mpirun`) against two processes of MPICH's own
//! `mpirun`, same program, same run; then Allreduce (8 B and 1 MiB) and
//! Alltoall (1 KiB per pair) on 16 ranks, each the median of its rounds
//! of the slowest rank's time, against 16 MPICH processes.

use std::path::Path;
use std::process::Command;

use crate::build_c;

const SOURCE: &str = include_str!("../../../examples/bench/mpi_pingpong.c");
const COLLS: &str = include_str!("../../../examples/bench/mpi_colls.c");

/// Ranks of the collectives part.
const COLL_RANKS: &str = "16";

/// Medians of the collectives, in microseconds per call.
struct Colls {
    allreduce8: f64,
    allreduce1m: f64,
    alltoall: f64,
}

/// The numbers of the line starting with `prefix` in a run's output, at
/// the word positions `at` (an error names the run if it failed or printed
/// no such line).
fn figures(
    label: &str,
    out: &std::process::Output,
    prefix: &str,
    at: &[usize],
) -> Result<Vec<f64>, String> {
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{label} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .ok_or_else(|| format!("{label} printed no figures: {text}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    at.iter()
        .map(|&i| {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("{label}: cannot read `{line}`"))
        })
        .collect()
}

fn parse_colls(label: &str, out: &std::process::Output) -> Result<Colls, String> {
    let v = figures(label, out, "colls ", &[2, 4, 6])?;
    Ok(Colls {
        allreduce8: v[0],
        allreduce1m: v[1],
        alltoall: v[2],
    })
}

struct Figures {
    latency_us: f64,
    bandwidth_mbps: f64,
}

fn parse(label: &str, out: &std::process::Output) -> Result<Figures, String> {
    let v = figures(label, out, "latency_us ", &[1, 3])?;
    Ok(Figures {
        latency_us: v[0],
        bandwidth_mbps: v[1],
    })
}

pub(crate) fn mpi(json: bool, rounds: Option<u64>) -> Result<i32, String> {
    let rounds = rounds.unwrap_or(20_000).max(100).to_string();
    let dir = build_c::cache_dir("bench-mpi")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let program = build_program(&dir, "mpi_pingpong", SOURCE)?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find weaves itself: {e}"))?;
    let ours = Command::new(me)
        .args(["mpirun", "-n", "2", "--workers", "2"])
        .arg(&program)
        .arg(&rounds)
        .output()
        .map_err(|e| format!("cannot run weaves mpirun: {e}"))?;
    let ours = parse("weaves mpirun", &ours)?;
    let theirs = Command::new("mpirun")
        .args(["-n", "2"])
        .arg(&program)
        .arg(&rounds)
        .output()
        .map_err(|e| format!("cannot run MPICH's mpirun (install mpich): {e}"))?;
    let theirs = parse("mpirun", &theirs)?;
    let colls_rounds = (rounds.parse::<u64>().unwrap_or(20_000) / 100)
        .clamp(10, 200)
        .to_string();
    let colls = build_program(&dir, "mpi_colls", COLLS)?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find weaves itself: {e}"))?;
    let our_colls = Command::new(me)
        .args(["mpirun", "-n", COLL_RANKS, "--workers", "2"])
        .arg(&colls)
        .arg(&colls_rounds)
        .output()
        .map_err(|e| format!("cannot run weaves mpirun: {e}"))?;
    let our_colls = parse_colls("weaves mpirun", &our_colls)?;
    let their_colls = Command::new("mpirun")
        .args(["-n", COLL_RANKS])
        .arg(&colls)
        .arg(&colls_rounds)
        .output()
        .map_err(|e| format!("cannot run MPICH's mpirun: {e}"))?;
    let their_colls = parse_colls("mpirun", &their_colls)?;
    let pair = |ours: f64, theirs: f64| serde_json::json!({ "weaves_us": ours, "mpich_us": theirs, "ratio": ours / theirs });
    if json {
        let v = serde_json::json!({
            "weaves_latency_us": ours.latency_us,
            "mpich_latency_us": theirs.latency_us,
            "latency_ratio": ours.latency_us / theirs.latency_us,
            "weaves_bandwidth_MBps": ours.bandwidth_mbps,
            "mpich_bandwidth_MBps": theirs.bandwidth_mbps,
            "bandwidth_ratio": ours.bandwidth_mbps / theirs.bandwidth_mbps,
            "ranks": COLL_RANKS.parse::<u32>().unwrap_or(16),
            "allreduce_8b": pair(our_colls.allreduce8, their_colls.allreduce8),
            "allreduce_1mib": pair(our_colls.allreduce1m, their_colls.allreduce1m),
            "alltoall_1kib": pair(our_colls.alltoall, their_colls.alltoall),
        });
        outln!("{v}");
    } else {
        outln!(
            "mpi: ping-pong between two ranks ({rounds} round trips of 8 bytes; 1 MiB messages)"
        );
        outln!(
            "  latency    weaves (one process) {:9.3} µs   MPICH (two processes) {:9.3} µs   weaves is {:.3}x",
            ours.latency_us,
            theirs.latency_us,
            ours.latency_us / theirs.latency_us
        );
        outln!(
            "  bandwidth  weaves (one process) {:9.1} MB/s MPICH (two processes) {:9.1} MB/s weaves is {:.2}x",
            ours.bandwidth_mbps,
            theirs.bandwidth_mbps,
            ours.bandwidth_mbps / theirs.bandwidth_mbps
        );
        outln!(
            "  collectives on {COLL_RANKS} ranks (median of {colls_rounds} rounds, slowest rank)"
        );
        for (what, o, t) in [
            (
                "Allreduce 8 B",
                our_colls.allreduce8,
                their_colls.allreduce8,
            ),
            (
                "Allreduce 1 MiB",
                our_colls.allreduce1m,
                their_colls.allreduce1m,
            ),
            ("Alltoall 1 KiB", our_colls.alltoall, their_colls.alltoall),
        ] {
            outln!(
                "  {what:<16} weaves {o:11.2} µs   MPICH (16 processes) {t:11.2} µs   weaves is {:.3}x",
                o / t
            );
        }
    }
    Ok(0)
}

/// Builds a benchmark program with MPICH's `mpicc` (once).
fn build_program(dir: &Path, name: &str, source: &str) -> Result<std::path::PathBuf, String> {
    let src = dir.join(format!("{name}.c"));
    if std::fs::read_to_string(&src).ok().as_deref() != Some(source) {
        std::fs::write(&src, source).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    let program = dir.join(name);
    let fresh = match (std::fs::metadata(&program), std::fs::metadata(&src)) {
        (Ok(p), Ok(s)) => p.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let status = Command::new("mpicc")
            .args(["-O2"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .status()
            .map_err(|e| format!("cannot run mpicc (install mpich libmpich-dev): {e}"))?;
        if !status.success() {
            return Err(format!("mpicc failed to build {name}"));
        }
        std::fs::rename(&tmp, &program).map_err(|e| format!("{}: {e}", program.display()))?;
    }
    Ok(program)
}
