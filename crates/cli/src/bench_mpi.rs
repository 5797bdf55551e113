//! `weaves bench mpi`: ping-pong latency and bandwidth between two ranks in
//! one process (`weaves mpirun`) against two processes of MPICH's own
//! `mpirun`, same program, same run.

use std::path::Path;
use std::process::Command;

use crate::build_c;

const SOURCE: &str = include_str!("../../../examples/bench/mpi_pingpong.c");

struct Figures {
    latency_us: f64,
    bandwidth_mbps: f64,
}

fn parse(label: &str, out: &std::process::Output) -> Result<Figures, String> {
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
        .find(|l| l.starts_with("latency_us "))
        .ok_or_else(|| format!("{label} printed no figures: {text}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> Result<f64, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("{label}: cannot read `{line}`"))
    };
    Ok(Figures {
        latency_us: num(1)?,
        bandwidth_mbps: num(3)?,
    })
}

pub(crate) fn mpi(json: bool, rounds: Option<u64>) -> Result<i32, String> {
    let rounds = rounds.unwrap_or(20_000).max(100).to_string();
    let dir = build_c::cache_dir("bench-mpi")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let program = build_pingpong(&dir)?;
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
    if json {
        outln!(
            "{{\"weaves_latency_us\": {:.3}, \"mpich_latency_us\": {:.3}, \"latency_ratio\": {:.4}, \"weaves_bandwidth_MBps\": {:.1}, \"mpich_bandwidth_MBps\": {:.1}, \"bandwidth_ratio\": {:.3}}}",
            ours.latency_us,
            theirs.latency_us,
            ours.latency_us / theirs.latency_us,
            ours.bandwidth_mbps,
            theirs.bandwidth_mbps,
            ours.bandwidth_mbps / theirs.bandwidth_mbps
        );
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
    }
    Ok(0)
}

/// Builds the ping-pong program with MPICH's `mpicc` (once).
fn build_pingpong(dir: &Path) -> Result<std::path::PathBuf, String> {
    let src = dir.join("mpi_pingpong.c");
    if std::fs::read_to_string(&src).ok().as_deref() != Some(SOURCE) {
        std::fs::write(&src, SOURCE).map_err(|e| format!("{}: {e}", src.display()))?;
    }
    let program = dir.join("mpi_pingpong");
    let fresh = match (std::fs::metadata(&program), std::fs::metadata(&src)) {
        (Ok(p), Ok(s)) => p.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        let tmp = dir.join(format!(".mpi_pingpong.{}", std::process::id()));
        let status = Command::new("mpicc")
            .args(["-O2"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .status()
            .map_err(|e| format!("cannot run mpicc (install mpich libmpich-dev): {e}"))?;
        if !status.success() {
            return Err("mpicc failed to build the ping-pong program".into());
        }
        std::fs::rename(&tmp, &program).map_err(|e| format!("{}: {e}", program.display()))?;
    }
    Ok(program)
}
