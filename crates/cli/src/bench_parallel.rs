//! `weaves bench parallel`: how much of a pthread program's native speedup
//! it keeps as a tapestry.
//!
//! One compiled module (`examples/bench/parallel.c`): N CPU-bound threads
//! with a barrier between phases. It runs natively (loaded with `dlopen`
//! into this process, its threads the C library's) and as a tapestry on
//! `workers = 2`, both restricted to the same two CPUs, with 1 thread and
//! with N (2, then 3: more threads than CPUs). Each speedup is the 1-thread
//! time over the N-thread time of the same environment; the figure of
//! merit is the weaves speedup over the native one, side by side in each
//! run, the median of several runs.

use std::ffi::{c_char, CString};
use std::path::Path;
use std::time::{Duration, Instant};

use weaves_tapestry::{Plan, Tapestry};

use crate::bench::{restore_affinity, save_affinity};
use crate::build_c;

const FILES: &[(&str, &str)] = &[(
    "parallel.c",
    include_str!("../../../examples/bench/parallel.c"),
)];
const MODULES: &[(&str, &str)] = &[("parallel.c", "parallel.so")];

/// Phases (barriers) per run.
const PHASES: u32 = 20;
/// Seconds the one-thread run takes natively.
const TARGET_SECONDS: f64 = 0.4;
/// Thread counts compared with one thread.
const THREADS: [u32; 2] = [2, 3];

type Main = unsafe extern "C" fn(i32, *mut *mut c_char) -> i32;

/// The speedups of one thread count, over the runs.
struct Row {
    threads: u32,
    native: Vec<f64>,
    weaves: Vec<f64>,
}

pub(crate) fn parallel(json: bool, runs: Option<u64>) -> Result<i32, String> {
    let runs = runs.unwrap_or(3).clamp(1, 100) as usize;
    let dir = build_c::cache_dir("bench")?;
    build_c::build(&dir, FILES, MODULES, true)?;
    let main = load_main(&dir.join("parallel.so"))?;
    let cpus = two_cpus()?;
    let saved = save_affinity();
    set_affinity(&cpus);
    let measured = measure(&dir, main, runs);
    restore_affinity(saved);
    let (units, rows) = measured?;
    report(json, &cpus, units, runs, &rows);
    Ok(0)
}

fn measure(dir: &Path, main: Main, runs: usize) -> Result<(u64, Vec<Row>), String> {
    // Calibrate: about TARGET_SECONDS of work for one native thread.
    let probe = 20_000_000u64;
    let t = native(main, 1, probe)?;
    let units = ((probe as f64) * TARGET_SECONDS / t.as_secs_f64()).max(1e7) as u64;
    let mut rows: Vec<Row> = THREADS
        .iter()
        .map(|&threads| Row {
            threads,
            native: Vec::new(),
            weaves: Vec::new(),
        })
        .collect();
    for _ in 0..runs {
        let native_one = native(main, 1, units)?;
        let weaves_one = weaves(dir, 1, units)?;
        for row in &mut rows {
            let n = native(main, row.threads, units)?;
            let w = weaves(dir, row.threads, units)?;
            row.native.push(native_one.as_secs_f64() / n.as_secs_f64());
            row.weaves.push(weaves_one.as_secs_f64() / w.as_secs_f64());
        }
    }
    Ok((units, rows))
}

fn args(threads: u32, units: u64) -> Vec<String> {
    vec![
        "parallel".into(),
        threads.to_string(),
        units.to_string(),
        PHASES.to_string(),
    ]
}

/// The program run natively: its threads are the C library's, on the CPUs
/// this thread may use.
fn native(main: Main, threads: u32, units: u64) -> Result<Duration, String> {
    let owned: Vec<CString> = args(threads, units)
        .into_iter()
        .map(|a| CString::new(a).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    let start = Instant::now();
    // SAFETY: `parallel_main` takes (argc, argv) as C's main does; `argv`
    // holds `owned.len()` valid C strings and a null, alive for the call.
    let status = unsafe { main(owned.len() as i32, argv.as_mut_ptr()) };
    let elapsed = start.elapsed();
    if status != 0 {
        return Err(format!("the native parallel run failed with {status}"));
    }
    Ok(elapsed)
}

/// The same module as a tapestry of one string on two workers (which
/// inherit this thread's CPUs).
fn weaves(dir: &Path, threads: u32, units: u64) -> Result<Duration, String> {
    let argv: Vec<String> = args(threads, units)
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let text = format!(
        r#"
[tapestry]
name = "bench-parallel"
workers = 2

[[module]]
name = "parallel"
path = "parallel.so"

[[bead]]
name = "p"
module = "parallel"

[[weave]]
name = "w"
beads = ["p"]

[[string]]
name = "main"
weave = "w"
entry = "parallel_main"
args = [{}]
"#,
        argv.join(", ")
    );
    let plan = Plan::parse(&dir.join("parallel.toml"), &text).map_err(|e| e.to_string())?;
    let mut tapestry = Tapestry::build(plan).map_err(|e| e.to_string())?;
    let report = tapestry.run().map_err(|e| e.to_string())?;
    if report.exit_status() != 0 {
        return Err(format!(
            "the parallel tapestry failed with {}",
            report.exit_status()
        ));
    }
    Ok(report.strings_elapsed)
}

fn load_main(path: &Path) -> Result<Main, String> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: loading our own bundled module in the host, to run the very
    // same code natively.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a C string describing the failure.
        let why = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) }
            .to_string_lossy()
            .into_owned();
        return Err(format!("cannot load {}: {why}", path.display()));
    }
    // SAFETY: looking up a function the module defines with this signature.
    unsafe {
        let f = libc::dlsym(handle, c"parallel_main".as_ptr());
        if f.is_null() {
            return Err("parallel.so lacks parallel_main".into());
        }
        Ok(std::mem::transmute::<*mut libc::c_void, Main>(f))
    }
}

/// The first two CPUs this process may run on.
fn two_cpus() -> Result<Vec<usize>, String> {
    let set = save_affinity().ok_or("cannot read the CPU affinity")?;
    // SAFETY: CPU_ISSET reads a set sched_getaffinity filled in.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .take(2)
        .collect();
    if cpus.len() < 2 {
        return Err("not supported: `bench parallel` needs two CPUs to run on".into());
    }
    Ok(cpus)
}

fn set_affinity(cpus: &[usize]) {
    // SAFETY: building a CPU set in a zeroed local and applying it to this
    // thread (threads it starts inherit it).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(json: bool, cpus: &[usize], units: u64, runs: usize, rows: &[Row]) {
    if json {
        let rows: Vec<String> = rows
            .iter()
            .map(|r| {
                let (n, w) = (median(&r.native), median(&r.weaves));
                format!(
                    "{{\"threads\": {}, \"native_speedup\": {n:.4}, \"weaves_speedup\": {w:.4}, \"ratio\": {:.4}, \"native_runs\": [{}], \"weaves_runs\": [{}]}}",
                    r.threads,
                    w / n,
                    list(&r.native),
                    list(&r.weaves)
                )
            })
            .collect();
        outln!(
            "{{\"cpus\": [{}], \"workers\": 2, \"units\": {units}, \"phases\": {PHASES}, \"runs\": {runs}, \"rows\": [{}]}}",
            cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
            rows.join(", ")
        );
        return;
    }
    outln!(
        "parallel: CPU-bound threads, a barrier between {PHASES} phases, on CPUs {} and {} (workers = 2)",
        cpus[0],
        cpus[1]
    );
    outln!("  speedup over one thread, median of {runs} run(s)");
    outln!("  threads   native   weaves   weaves/native");
    for r in rows {
        let (n, w) = (median(&r.native), median(&r.weaves));
        outln!(
            "  {:>7}   {:>5.2}x   {:>5.2}x   {:>13.3}",
            r.threads,
            n,
            w,
            w / n
        );
    }
    for r in rows {
        outln!(
            "  runs, {} threads: native [{}]  weaves [{}]",
            r.threads,
            list(&r.native),
            list(&r.weaves)
        );
    }
}
