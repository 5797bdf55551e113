//! `weaves bench wasm`: what the portable engine costs. A set of compute
//! kernels (fib, matrix multiply, sort, a small interpreter) built from C
//! to wasm32-wasi with the system clang, each run
//!
//! * plain and instrumented (Asyncify at its reconfiguration points) under
//!   wasmtime — the transform's overhead;
//! * instrumented under wasmi — the interpreter against the compiler;
//!
//! then the cost of one capture-and-resume (a string moved at every
//! reconfiguration point of a run, against the same run unmoved), and of
//! instantiating a bead of an already compiled module. Each time is the
//! best of the runs.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use weaves_wasm::{run, Control, EngineKind, Prepared, Wasi, WasmModule, DEFAULT_MAX_MEMORY};

const SOURCE: &str = include_str!("../../../examples/bench/wasm_kernels.c");
const KERNELS: &[(&str, &str)] = &[
    ("fib", "8"),
    ("matmul", "8"),
    ("sort", "2"),
    ("interp", "2"),
];

/// Builds the kernels with `clang --target=wasm32-wasi` (compiled `-O2`,
/// linked without `-O` so that clang runs no wasm-opt of its own).
fn build(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join("wasm_kernels.c");
    let out = dir.join("wasm_kernels.wasm");
    if std::fs::read_to_string(&src).ok().as_deref() == Some(SOURCE) && out.exists() {
        return Ok(out);
    }
    std::fs::write(&src, SOURCE).map_err(|e| format!("{}: {e}", src.display()))?;
    let obj = dir.join(format!("wasm_kernels.{}.o", std::process::id()));
    let tmp = dir.join(format!("wasm_kernels.{}.wasm", std::process::id()));
    let clang = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let o = Command::new("clang")
            .arg("--target=wasm32-wasi")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run clang (the Wasm benchmark builds its kernels with clang --target=wasm32-wasi and wasi-libc): {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "clang --target=wasm32-wasi failed: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
        Ok(())
    };
    clang(&[
        "-O2".as_ref(),
        "-c".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        obj.as_os_str(),
    ])?;
    let linked = clang(&[obj.as_os_str(), "-o".as_ref(), tmp.as_os_str()]);
    let _ = std::fs::remove_file(&obj);
    linked?;
    std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// One run of `kernel` (its output to /dev/null); its time and how many
/// moves it made.
fn time_run(
    m: &Prepared,
    kernel: &str,
    scale: &str,
    engine: EngineKind,
    control: std::sync::Arc<Control>,
) -> Result<(Duration, usize, usize), String> {
    let null = std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    let mut wasi = Wasi::new(
        ["wasm_kernels", kernel, scale]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        Vec::new(),
    );
    wasi.fds[1] = null.as_raw_fd();
    let t = Instant::now();
    let ended =
        run(m, "_start", wasi, engine, control).map_err(|e| format!("kernel {kernel}: {e}"))?;
    let elapsed = t.elapsed();
    if ended.status != 0 {
        return Err(format!(
            "kernel {kernel} exited with status {}",
            ended.status
        ));
    }
    Ok((
        elapsed,
        ended.moves.len(),
        ended.moves.first().map_or(0, |m| m.memory),
    ))
}

fn best(
    runs: u64,
    mut f: impl FnMut() -> Result<(Duration, usize, usize), String>,
) -> Result<(Duration, usize, usize), String> {
    let mut best = f()?;
    for _ in 1..runs {
        let r = f()?;
        if r.0 < best.0 {
            best = r;
        }
    }
    Ok(best)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn wasm(json: bool, iterations: Option<u64>) -> Result<i32, String> {
    let runs = iterations.unwrap_or(3).max(1);
    let path = build(&crate::build_c::cache_dir("bench-wasm")?)?;
    let module = WasmModule::load(&path, DEFAULT_MAX_MEMORY).map_err(|e| e.to_string())?;
    let plain = Prepared::untransformed(module.clone(), DEFAULT_MAX_MEMORY);
    let unchecked = Prepared::transformed(module.clone(), DEFAULT_MAX_MEMORY, false)?;
    unchecked.compile(EngineKind::Wasmtime)?;
    let t = Instant::now();
    let instrumented = Prepared::new(module, DEFAULT_MAX_MEMORY)?;
    let transform = t.elapsed();
    let mut compile = Vec::new();
    for e in EngineKind::ALL {
        let t = Instant::now();
        instrumented.compile(e)?;
        compile.push((e, t.elapsed()));
    }
    plain.compile(EngineKind::Wasmtime)?;

    let mut rows = Vec::new();
    for &(kernel, scale) in KERNELS {
        let p = best(runs, || {
            time_run(&plain, kernel, scale, EngineKind::Wasmtime, Control::new())
        })?
        .0;
        let i = best(runs, || {
            time_run(
                &instrumented,
                kernel,
                scale,
                EngineKind::Wasmtime,
                Control::new(),
            )
        })?
        .0;
        let u = best(runs, || {
            time_run(
                &unchecked,
                kernel,
                scale,
                EngineKind::Wasmtime,
                Control::new(),
            )
        })?
        .0;
        let w = best(1, || {
            time_run(
                &instrumented,
                kernel,
                scale,
                EngineKind::Wasmi,
                Control::new(),
            )
        })?
        .0;
        rows.push((kernel, p, i, w, u));
    }

    // A move at every reconfiguration point (wasmtime -> wasmtime: capture,
    // a new instance, restore, rewind), against the same run unmoved.
    let (still, _, _) = best(runs, || {
        time_run(
            &instrumented,
            "sort",
            "8",
            EngineKind::Wasmtime,
            Control::new(),
        )
    })?;
    let (moving, moves, memory) = best(runs, || {
        let c = Control::new();
        c.at_points(Box::new(|_| Some(EngineKind::Wasmtime)));
        time_run(&instrumented, "sort", "8", EngineKind::Wasmtime, c)
    })?;
    let per_move = moving.saturating_sub(still) / moves.max(1) as u32;

    // Instantiation: batches of 200 (the mean of each batch is one
    // sample), reported as the samples' minimum, median and maximum.
    let n = 200;
    let batches = 10;
    let mut instantiate = Vec::new();
    let mut spread = Vec::new();
    for e in EngineKind::ALL {
        let mut samples = Vec::new();
        for _ in 0..batches {
            let t = Instant::now();
            for _ in 0..n {
                instrumented.instantiate_once(e)?;
            }
            samples.push(t.elapsed() / n);
        }
        samples.sort();
        instantiate.push((e, samples[samples.len() / 2]));
        spread.push((e, samples[0], samples[samples.len() - 1]));
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;

    if json {
        let kernels: Vec<_> = rows
            .iter()
            .map(|(k, p, i, w, u)| {
                serde_json::json!({"kernel": k, "plain_ms": ms(*p), "instrumented_ms": ms(*i), "wasmi_ms": ms(*w),
                    "without_checks_ms": ms(*u), "without_checks_ratio": u.as_secs_f64() / p.as_secs_f64(),
                    "instrumented_ratio": i.as_secs_f64() / p.as_secs_f64(), "wasmi_ratio": w.as_secs_f64() / i.as_secs_f64()})
            })
            .collect();
        let v = serde_json::json!({
            "kernels": kernels,
            "transform_ms": ms(transform),
            "compile_ms": compile.iter().map(|(e, d)| (e.name(), ms(*d))).collect::<std::collections::BTreeMap<_, _>>(),
            "move_us": per_move.as_secs_f64() * 1e6,
            "move_memory_bytes": memory,
            "moves": moves,
            "instantiate_us": instantiate.iter().map(|(e, d)| (e.name(), us(*d))).collect::<std::collections::BTreeMap<_, _>>(),
            "instantiate_us_min_max": spread.iter().map(|(e, lo, hi)| (e.name(), [us(*lo), us(*hi)])).collect::<std::collections::BTreeMap<_, _>>(),
        });
        println!("{v}");
        return Ok(0);
    }
    println!("kernel    wasmtime plain   instrumented (ratio)   without checks (ratio)   wasmi (vs instrumented wasmtime)");
    for (k, p, i, w, u) in &rows {
        println!(
            "{k:<8} {:>10.2} ms {:>12.2} ms ({:.2}x) {:>12.2} ms ({:.2}x) {:>10.1} ms ({:.1}x)",
            ms(*p),
            ms(*i),
            i.as_secs_f64() / p.as_secs_f64(),
            ms(*u),
            u.as_secs_f64() / p.as_secs_f64(),
            ms(*w),
            w.as_secs_f64() / i.as_secs_f64()
        );
    }
    let geo = |f: fn(&(&str, Duration, Duration, Duration, Duration)) -> Duration| {
        (rows
            .iter()
            .map(|r| (f(r).as_secs_f64() / r.1.as_secs_f64()).ln())
            .sum::<f64>()
            / rows.len() as f64)
            .exp()
    };
    println!(
        "instrumented / plain under wasmtime, geometric mean: {:.2}x ({:.2}x without preemption checks)",
        geo(|r| r.2),
        geo(|r| r.4)
    );
    println!(
        "load: Asyncify {:.1} ms (a cache hit after the first run); compile: {}",
        ms(transform),
        compile
            .iter()
            .map(|(e, d)| format!("{e} {:.1} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "capture + resume (wasmtime -> new wasmtime instance): {:.1} us per move, {} KiB of linear memory ({moves} moves)",
        per_move.as_secs_f64() * 1e6,
        memory >> 10
    );
    println!(
        "instantiating a bead of a compiled module (median of {batches} batches of {n}; min-max): {}",
        instantiate
            .iter()
            .zip(&spread)
            .map(|((e, d), (_, lo, hi))| format!("{e} {:.1} us ({:.1}-{:.1})", us(*d), us(*lo), us(*hi)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(0)
}
