//! `weaves bench swap`: what hot-swapping costs.
//!
//! * **Calls**: ns per call from a client into the `swap_counter` bead (a
//!   call that also updates 1 MiB of state now and then), natively (both
//!   loaded by the system loader, calling through the PLT), in a tapestry
//!   before any swap, and in the same tapestry after 20 swaps. A swappable
//!   bead is an ordinary bead: the ratios should be 1.00 within noise.
//! * **Swaps**: 20 swaps back and forth between two versions while another
//!   string calls the bead in a tight loop, state moved by symbol (1 MiB):
//!   the blocked window (new calls wait) and the phases, as a distribution.
//!   That string calls only while the swaps run, so that the timed rounds
//!   before and after them run alone, as the native ones do.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use weaves_monitor::{Handler, Request};
use weaves_tapestry::{LiveView, Plan, Tapestry};

use crate::build_c;

const SWAPS: usize = 20;
const ROUNDS: usize = 9;

fn sources() -> [(&'static str, &'static str); 2] {
    [
        (
            "swap_counter.c",
            include_str!("../../../tests/modules/swap_counter.c"),
        ),
        (
            "swap_calls.c",
            include_str!("../../../examples/bench/swap_calls.c"),
        ),
    ]
}

pub(crate) fn swap(json: bool, calls: Option<u64>) -> Result<i32, String> {
    let n = calls.unwrap_or(2_000_000).clamp(1000, 1 << 32);
    let dir = build_c::cache_dir("bench")?;
    build_c::build_with(
        &dir,
        &sources(),
        &[
            ("swap_counter.c", "swap_ctr_v1.so", &["-DVERSION=1"][..]),
            ("swap_counter.c", "swap_ctr_v2.so", &["-DVERSION=2"][..]),
            ("swap_calls.c", "swap_calls.so", &[][..]),
        ],
        true,
    )?;
    let native = native_rounds(&dir, n)?;
    let run = in_tapestry(&dir, n)?;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (native_ns, before_ns, after_ns) =
        (median(&native), median(&run.before), median(&run.after));
    let dist = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        serde_json::json!({ "min": v[0], "p50": at(0.5), "p90": at(0.9), "max": v[v.len() - 1] })
    };
    let blocked = dist(&run.blocked);
    let transfer = dist(&run.transfer);
    let forward = dist(&run.forward);
    if json {
        let v = serde_json::json!({
            "calls_per_round": n,
            "rounds": ROUNDS,
            "native_ns": native_ns,
            "before_swap_ns": before_ns,
            "after_swap_ns": after_ns,
            "ratio_before_vs_native": before_ns / native_ns,
            "ratio_after_vs_before": after_ns / before_ns,
            "swaps": SWAPS,
            "state_bytes": run.bytes,
            "blocked_us": blocked,
            "transfer_us": transfer,
            "forward_us": forward,
            "calls_blocked": run.calls_blocked,
        });
        outln!("{v}");
        return Ok(0);
    }
    outln!("swap: calls into a bead, and swapping it while another string calls it");
    outln!("  calls (median of {ROUNDS} rounds of {n})");
    outln!("    native (system loader, PLT)   {native_ns:>8.2} ns");
    outln!(
        "    bead, before any swap          {before_ns:>8.2} ns   {:.3}x native",
        before_ns / native_ns
    );
    outln!(
        "    bead, after {SWAPS} swaps           {after_ns:>8.2} ns   {:.3}x before",
        after_ns / before_ns
    );
    let line = |what: &str, d: &serde_json::Value| {
        outln!(
            "    {what:<30} min {:>8.1}  p50 {:>8.1}  p90 {:>8.1}  max {:>8.1} us",
            d["min"].as_f64().unwrap_or(0.0),
            d["p50"].as_f64().unwrap_or(0.0),
            d["p90"].as_f64().unwrap_or(0.0),
            d["max"].as_f64().unwrap_or(0.0)
        )
    };
    outln!(
        "  {SWAPS} swaps, {} KiB of state moved by symbol each, a string calling throughout",
        run.bytes / 1024
    );
    line("blocked window", &blocked);
    line("  of which transfer", &transfer);
    line("forward phase (not blocking)", &forward);
    Ok(0)
}

/// Rounds of calls with both modules loaded by the system loader.
fn native_rounds(dir: &Path, n: u64) -> Result<Vec<f64>, String> {
    let open = |file: &str| -> Result<*mut libc::c_void, String> {
        let path = CString::new(dir.join(file).as_os_str().as_encoded_bytes())
            .map_err(|e| e.to_string())?;
        // SAFETY: loading a module built above; RTLD_GLOBAL so that the
        // client's imports resolve to it, as in a native program.
        let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if h.is_null() {
            return Err(format!("cannot load {file} natively"));
        }
        Ok(h)
    };
    let _counter = open("swap_ctr_v1.so")?;
    let calls = open("swap_calls.so")?;
    // SAFETY: the handle is live; the name is NUL-terminated.
    let f = unsafe { libc::dlsym(calls, c"swap_bench_rounds".as_ptr()) };
    if f.is_null() {
        return Err("swap_calls.so has no swap_bench_rounds".into());
    }
    // SAFETY: `void swap_bench_rounds(long n, int rounds, double *out)`
    // (examples/bench/swap_calls.c).
    let f: extern "C" fn(i64, i32, *mut f64) = unsafe { std::mem::transmute(f) };
    let mut out = vec![0f64; ROUNDS];
    f(n as i64, ROUNDS as i32, out.as_mut_ptr());
    // The modules stay loaded: closing them buys nothing in a process that
    // ends after the benchmark.
    Ok(out)
}

/// What the tapestry part measured.
struct Run {
    before: Vec<f64>,
    after: Vec<f64>,
    blocked: Vec<f64>,
    transfer: Vec<f64>,
    forward: Vec<f64>,
    bytes: u64,
    calls_blocked: u64,
}

fn in_tapestry(dir: &Path, n: u64) -> Result<Run, String> {
    let work = dir.join(format!("swap-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = measure(dir, &work, n);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn measure(dir: &Path, work: &Path, n: u64) -> Result<Run, String> {
    let f = |name: &str| work.join(name).display().to_string();
    let text = format!(
        r#"
[tapestry]
name = "bench-swap"
workers = 2

[[module]]
name = "ctr"
path = "swap_ctr_v1.so"

[[module]]
name = "calls"
path = "swap_calls.so"

[[bead]]
name = "counter"
module = "ctr"

[[bead]]
name = "client"
module = "calls"

[[weave]]
name = "w"
beads = ["client", "counter"]

[[string]]
name = "timed"
weave = "w"
entry = "swap_bench_main"
args = ["timed", "0", "{n}", "{ROUNDS}", "{before}", "{ready}", "{go}", "{after}"]

[[string]]
name = "load"
weave = "w"
entry = "swap_load_main"
args = ["load", "1", "{ready}", "{stop}"]
"#,
        before = f("before"),
        ready = f("ready"),
        go = f("go"),
        after = f("after"),
        stop = f("stop"),
    );
    let plan = Plan::parse(&dir.join("swap.toml"), &text).map_err(|e| e.to_string())?;
    let mut tapestry = Tapestry::build(plan).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready, go, stop) = (work.join("ready"), work.join("go"), work.join("stop"));
    let versions = [dir.join("swap_ctr_v2.so"), dir.join("swap_ctr_v1.so")];
    let report = tapestry
        .run_monitored(move |view: Arc<LiveView>| {
            std::thread::spawn(move || {
                let swaps = swaps_when(&view, &ready, &versions);
                let _ = std::fs::write(&stop, "");
                // The loading string ends within 4096 calls of the stop.
                std::thread::sleep(Duration::from_millis(20));
                let _ = std::fs::write(&go, "");
                let _ = tx.send(swaps);
            })
        })
        .map_err(|e| e.to_string())?;
    let swaps = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "the swaps never finished".to_string())??;
    if report.exit_status() != 0 {
        return Err("the benchmark's strings failed".into());
    }
    let rounds = |p: PathBuf| -> Result<Vec<f64>, String> {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let v: Vec<f64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if v.len() != ROUNDS {
            return Err(format!("{}: {} rounds, not {ROUNDS}", p.display(), v.len()));
        }
        Ok(v)
    };
    let field = |k: &str| swaps.iter().map(|s| s[k].as_f64().unwrap_or(0.0)).collect();
    let phase = |k: &str| {
        swaps
            .iter()
            .map(|s| s["phases_us"][k].as_f64().unwrap_or(0.0))
            .collect()
    };
    Ok(Run {
        before: rounds(work.join("before"))?,
        after: rounds(work.join("after"))?,
        blocked: field("blocked_us"),
        transfer: phase("transfer"),
        forward: phase("forward"),
        bytes: swaps
            .first()
            .and_then(|s| s["bytes_transferred"].as_u64())
            .unwrap_or(0),
        calls_blocked: swaps
            .iter()
            .map(|s| s["calls_blocked"].as_u64().unwrap_or(0))
            .sum(),
    })
}

/// Once the timed string is ready, swaps the counter back and forth.
fn swaps_when(
    view: &LiveView,
    ready: &Path,
    versions: &[PathBuf; 2],
) -> Result<Vec<serde_json::Value>, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        if std::time::Instant::now() > deadline {
            return Err("the timed string never got ready".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = Vec::new();
    for k in 0..SWAPS {
        let r = view.handle(Request::Swap {
            bead: "counter".into(),
            path: versions[k % 2].display().to_string(),
            transfer: "by-symbol".into(),
            timeout_ms: 5000,
        });
        match (r.ok, r.result) {
            (true, Some(v)) => out.push(v),
            _ => return Err(r.error.unwrap_or_else(|| "a swap failed".into())),
        }
    }
    Ok(out)
}
