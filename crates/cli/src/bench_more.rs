//! `weaves bench beads` and `weaves bench flows` (see `bench.rs`).

use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use weaves_tapestry::{Plan, Tapestry};

use crate::bench::{pin_to_one_cpu, restore_affinity, save_affinity};

fn build(dir: &Path, name: &str, text: &str) -> Result<Tapestry, String> {
    let plan = Plan::parse(&dir.join(name), text).map_err(|e| e.to_string())?;
    Tapestry::build(plan).map_err(|e| e.to_string())
}

/// Bead instantiation vs dlmopen vs fork, per instance, in microseconds.
pub(crate) fn beads(dir: &Path, json: bool, n: u64) -> Result<i32, String> {
    let n = n.clamp(10, 100_000);
    // dlmopen: each call makes a new link-map namespace; glibc has a fixed,
    // small number of them.
    let path = CString::new(dir.join("data100k.so").as_os_str().as_encoded_bytes())
        .map_err(|e| e.to_string())?;
    let mut handles = Vec::new();
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: loading a small, self-contained module into a new namespace.
        let h = unsafe {
            libc::dlmopen(
                libc::LM_ID_NEWLM,
                path.as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            )
        };
        if h.is_null() {
            break;
        }
        handles.push(h);
    }
    let dlmopen_elapsed = start.elapsed();
    let dlmopen_limit = handles.len();
    for h in handles {
        // SAFETY: closing handles dlmopen returned.
        unsafe { libc::dlclose(h) };
    }
    let dlmopen_us = dlmopen_elapsed.as_secs_f64() * 1e6 / dlmopen_limit.max(1) as f64;

    // fork: a whole process per instance.
    let forks = n.min(200);
    let start = Instant::now();
    for _ in 0..forks {
        // SAFETY: the child exits at once with _exit (async-signal-safe).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above.
            unsafe { libc::_exit(0) };
        }
        if pid > 0 {
            let mut status = 0;
            // SAFETY: reaping our child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
    let fork_us = start.elapsed().as_secs_f64() * 1e6 / forks as f64;
    // Last: the baselines above ran in a process without 1,000 beads mapped
    // (fork's cost grows with the mappings it copies).
    let text = format!("[tapestry]\nname = \"bench-beads\"\n\n[[module]]\nname = \"m\"\npath = \"data100k.so\"\n\n[[bead]]\nname = \"b{{i}}\"\nmodule = \"m\"\ncount = {n}\n");
    let mut tapestry = build(dir, "beads.toml", &text)?;
    let weaves_us = tapestry.stats().per_bead().as_secs_f64() * 1e6;
    if let Some(fault) = tapestry.finalise().map_err(|e| e.to_string())?.first() {
        return Err(fault.to_string());
    }

    if json {
        outln!(
            "{{\"beads\": {n}, \"weaves_us\": {weaves_us:.2}, \"dlmopen_us\": {dlmopen_us:.2}, \"dlmopen_limit\": {dlmopen_limit}, \"fork_us\": {fork_us:.2}, \"ratio_vs_dlmopen\": {:.4}, \"ratio_vs_fork\": {:.4}}}",
            weaves_us / dlmopen_us,
            weaves_us / fork_us
        );
    } else {
        outln!("beads: one instance of a module with 100 KiB of data");
        outln!("  weaves bead (map, bind, relocate, init)  {weaves_us:>9.2} µs   ({n} beads)");
        outln!("  dlmopen (new namespace)                  {dlmopen_us:>9.2} µs   beads are {:.3}x; glibc allowed only {dlmopen_limit} namespaces", weaves_us / dlmopen_us);
        outln!(
            "  fork (whole process)                     {fork_us:>9.2} µs   beads are {:.3}x",
            weaves_us / fork_us
        );
    }
    Ok(0)
}

type Work = unsafe extern "C" fn(u64);

/// The seed paper's Figure 5: overhead of splitting a fixed amount of work
/// over n flows, on one CPU.
pub(crate) fn flows(dir: &Path, json: bool, only: Option<u64>) -> Result<i32, String> {
    let path = CString::new(dir.join("flow.so").as_os_str().as_encoded_bytes())
        .map_err(|e| e.to_string())?;
    // SAFETY: loading our own bundled module in the host, to run the very
    // same loop as the strings do.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a C string describing the failure.
        let why = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) }
            .to_string_lossy()
            .into_owned();
        return Err(format!(
            "cannot load {}: {why}",
            dir.join("flow.so").display()
        ));
    }
    // SAFETY: looking up a function the module defines with this signature.
    let work: Work = unsafe {
        let f = libc::dlsym(handle, c"flow_work".as_ptr());
        if f.is_null() {
            return Err("flow.so lacks flow_work".into());
        }
        std::mem::transmute::<*mut libc::c_void, Work>(f)
    };
    let saved = save_affinity();
    pin_to_one_cpu();
    // Calibrate: about 200 ms of work for the baseline.
    let probe = 2_000_000u64;
    let t = timed(|| unsafe_work(work, probe));
    let total = ((probe as f64) * 0.2 / t.as_secs_f64()).max(1e6) as u64;
    let baseline = timed(|| unsafe_work(work, total));
    let counts: Vec<u64> = match only {
        Some(n) => vec![n.max(1)],
        None => vec![1, 10, 100, 1000],
    };
    let mut rows = Vec::new();
    for &n in &counts {
        let each = total / n;
        let threads = timed(|| {
            let hs: Vec<_> = (0..n)
                .map(|_| std::thread::spawn(move || unsafe_work(work, each)))
                .collect();
            for h in hs {
                let _ = h.join();
            }
        });
        let processes = timed(|| {
            let mut pids = Vec::new();
            for _ in 0..n {
                // SAFETY: the child runs the loop and _exits.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    unsafe_work(work, each);
                    // SAFETY: leaving the child without running anything else.
                    unsafe { libc::_exit(0) };
                }
                pids.push(pid);
            }
            for pid in pids {
                let mut status = 0;
                // SAFETY: reaping our children.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        });
        let text = format!(
            "[tapestry]\nname = \"bench-flows\"\nworkers = 1\n\n[[module]]\nname = \"m\"\npath = \"flow.so\"\n\n[[bead]]\nname = \"b\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w{{i}}\"\ncount = {n}\nbeads = [\"b\"]\n\n[[string]]\ncount = {n}\nweave = \"w{{i}}\"\nentry = \"flow_main\"\nargs = [\"flow\", \"{each}\"]\nstack_kib = 64\n"
        );
        let mut tapestry = build(dir, "flows.toml", &text)?;
        let report = tapestry.run().map_err(|e| e.to_string())?;
        rows.push((n, threads, processes, report.strings_elapsed));
    }
    restore_affinity(saved);
    let pct = |t: Duration| (t.as_secs_f64() / baseline.as_secs_f64() - 1.0) * 100.0;
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|(n, th, pr, st)| format!("{{\"n\": {n}, \"strings_overhead_pct\": {:.2}, \"pthread_overhead_pct\": {:.2}, \"process_overhead_pct\": {:.2}}}", pct(*st), pct(*th), pct(*pr)))
            .collect();
        outln!(
            "{{\"baseline_ms\": {:.2}, \"flows\": [{}]}}",
            baseline.as_secs_f64() * 1e3,
            items.join(", ")
        );
    } else {
        outln!("flows: {:.1} ms of work as one flow, then split over n flows, one CPU; overhead over the one flow", baseline.as_secs_f64() * 1e3);
        outln!(
            "  {:>6}  {:>10}  {:>10}  {:>10}",
            "n",
            "strings",
            "pthreads",
            "processes"
        );
        for (n, th, pr, st) in &rows {
            outln!(
                "  {n:>6}  {:>9.2}%  {:>9.2}%  {:>9.2}%",
                pct(*st),
                pct(*th),
                pct(*pr)
            );
        }
    }
    Ok(0)
}

fn unsafe_work(work: Work, iterations: u64) {
    // SAFETY: flow_work only loops and stores to its own global.
    unsafe { work(iterations) }
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}
