//! `weaves bench NAME`: built-in benchmarks that print ratios against
//! baselines measured in the same run, on the same machine.
//!
//! * `switch`: two strings on one worker that `sched_yield` to each other,
//!   against two threads ping-ponging through a mutex and condition variable
//!   (both pinned to one CPU) and two processes ping-ponging through pipes
//!   (both pinned to one CPU). Reported per switch (one round trip is two).
//! * `beads`: instantiating a module with 100 KiB of data as a bead, against
//!   `dlmopen` into a new namespace (glibc allows only a handful: the limit
//!   is reported) and against `fork` of the whole process.
//! * `mpi`: ping-pong latency and bandwidth between two in-process ranks
//!   against two MPICH processes (see `bench_mpi`).
//! * `checkpoint`: a full checkpoint of a large heap against `memcpy` of
//!   the same bytes, and incremental ones by fraction of pages changed (see
//!   `bench_checkpoint`).
//! * `swap`: calls into a bead before and after hot-swaps against native
//!   calls, and the swaps' blocked windows (see `bench_swap`).
//! * `flows`: the seed paper's Figure 5: a calibrated amount of work done by
//!   one flow, then split over n flows as strings, pthreads and processes,
//!   all on one CPU; reported as overhead over the one-flow baseline.
//! * `clustered`: the clustered counter's shared, distributed and adaptive
//!   implementations, one thread and eight (see `bench_clustered`).
//! * `parallel`: a CPU-bound pthread program's speedup on two workers
//!   against its native speedup on the same two CPUs (see `bench_parallel`).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use weaves_tapestry::{Plan, Tapestry};

use crate::build_c;

const FILES: &[(&str, &str)] = &[
    (
        "pingpong.c",
        include_str!("../../../examples/bench/pingpong.c"),
    ),
    (
        "data100k.c",
        include_str!("../../../examples/bench/data100k.c"),
    ),
    ("flow.c", include_str!("../../../examples/bench/flow.c")),
];
const MODULES: &[(&str, &str)] = &[
    ("pingpong.c", "pingpong.so"),
    ("data100k.c", "data100k.so"),
    ("flow.c", "flow.so"),
];

pub(crate) fn run(name: &str, json: bool, iterations: Option<u64>) -> Result<i32, String> {
    if name == "mpi" {
        return crate::bench_mpi::mpi(json, iterations);
    }
    if name == "checkpoint" {
        return crate::bench_checkpoint::checkpoint(json, iterations);
    }
    if name == "swap" {
        return crate::bench_swap::swap(json, iterations);
    }
    if name == "clustered" {
        return crate::bench_clustered::clustered(json, iterations);
    }
    if name == "wasm" {
        return crate::bench_wasm::wasm(json, iterations);
    }
    if name == "parallel" {
        return crate::bench_parallel::parallel(json, iterations);
    }
    if name == "dsm" {
        return crate::bench_dsm::dsm_bench(json, iterations);
    }
    if !["switch", "beads", "flows"].contains(&name) {
        return Err(format!(
            "not supported: benchmark `{name}` (available: switch, beads, flows, mpi, checkpoint, swap, clustered, wasm, parallel, dsm)"
        ));
    }
    let dir = build_c::cache_dir("bench")?;
    build_c::build(&dir, FILES, MODULES, true)?;
    match name {
        "switch" => switch(&dir, json, iterations.unwrap_or(1_000_000)),
        "beads" => crate::bench_more::beads(&dir, json, iterations.unwrap_or(1000)),
        _ => crate::bench_more::flows(&dir, json, iterations),
    }
}

/// Figures of the switch benchmark, in nanoseconds per switch.
struct Switch {
    weaves_ns: f64,
    pthread_ns: f64,
    process_ns: f64,
}

fn switch(dir: &std::path::Path, json: bool, n: u64) -> Result<i32, String> {
    let n = n.max(1000);
    let weaves_ns = strings_pingpong(dir, n)?;
    // The baselines are ~100x slower per switch: fewer round trips keep the
    // run short without hurting precision.
    let baseline_n = (n / 10).max(1000);
    let pthread_ns = pthread_pingpong(baseline_n);
    let process_ns = process_pingpong(baseline_n)?;
    let r = Switch {
        weaves_ns,
        pthread_ns,
        process_ns,
    };
    if json {
        outln!(
            "{{\"weaves_ns\": {:.1}, \"pthread_ns\": {:.1}, \"process_ns\": {:.1}, \"ratio_vs_pthread\": {:.4}, \"ratio_vs_process\": {:.4}, \"switches\": {}}}",
            r.weaves_ns,
            r.pthread_ns,
            r.process_ns,
            r.weaves_ns / r.pthread_ns,
            r.weaves_ns / r.process_ns,
            2 * n
        );
    } else {
        outln!("switch: one switch between two flows of control on one CPU");
        outln!("  strings (fibers, sched_yield)  {:>10.1} ns", r.weaves_ns);
        outln!(
            "  pthreads (mutex + condvar)     {:>10.1} ns   strings are {:.3}x",
            r.pthread_ns,
            r.weaves_ns / r.pthread_ns
        );
        outln!(
            "  processes (pipes)              {:>10.1} ns   strings are {:.3}x",
            r.process_ns,
            r.weaves_ns / r.process_ns
        );
    }
    Ok(0)
}

/// Two strings on one worker, each yielding `n` times: 2n switches.
fn strings_pingpong(dir: &std::path::Path, n: u64) -> Result<f64, String> {
    let text = format!(
        r#"
[tapestry]
name = "bench-switch"
workers = 1

[[module]]
name = "pingpong"
path = "pingpong.so"

[[bead]]
name = "b{{i}}"
module = "pingpong"
count = 2

[[weave]]
name = "w{{i}}"
count = 2
beads = ["b{{i}}"]

[[string]]
count = 2
weave = "w{{i}}"
entry = "pingpong_main"
args = ["{n}"]
"#
    );
    let plan = Plan::parse(&dir.join("switch.toml"), &text).map_err(|e| e.to_string())?;
    let mut tapestry = Tapestry::build(plan).map_err(|e| e.to_string())?;
    let report = tapestry.run().map_err(|e| e.to_string())?;
    if report.exit_status() != 0 {
        return Err("the ping-pong strings failed".into());
    }
    Ok(per_switch(report.strings_elapsed, 2 * n))
}

fn per_switch(elapsed: Duration, switches: u64) -> f64 {
    elapsed.as_nanos() as f64 / switches as f64
}

/// Pins the calling thread to the first CPU it may run on.
pub(crate) fn pin_to_one_cpu() {
    // SAFETY: cpu_set_t is plain data; the calls read/write the local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return;
        }
        let Some(first) = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set))
        else {
            return;
        };
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
    }
}

/// Two threads taking turns through a mutex and a condition variable.
fn pthread_pingpong(n: u64) -> f64 {
    let turn = Arc::new((Mutex::new(false), Condvar::new()));
    let other = {
        let turn = turn.clone();
        std::thread::spawn(move || {
            pin_to_one_cpu();
            let (lock, cv) = &*turn;
            for _ in 0..n {
                let mut mine = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*mine {
                    mine = cv.wait(mine).unwrap_or_else(|e| e.into_inner());
                }
                *mine = false;
                cv.notify_one();
            }
        })
    };
    let main_affinity = save_affinity();
    pin_to_one_cpu();
    let (lock, cv) = &*turn;
    let start = Instant::now();
    for _ in 0..n {
        let mut theirs = lock.lock().unwrap_or_else(|e| e.into_inner());
        *theirs = true;
        cv.notify_one();
        while *theirs {
            theirs = cv.wait(theirs).unwrap_or_else(|e| e.into_inner());
        }
    }
    let elapsed = start.elapsed();
    let _ = other.join();
    restore_affinity(main_affinity);
    per_switch(elapsed, 2 * n)
}

pub(crate) fn save_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: reading this thread's affinity into a zeroed set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

pub(crate) fn restore_affinity(set: Option<libc::cpu_set_t>) {
    if let Some(set) = set {
        // SAFETY: restoring a set read by save_affinity.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    }
}

/// Two processes passing a byte back and forth through two pipes.
fn process_pingpong(n: u64) -> Result<f64, String> {
    let mut a = [0i32; 2];
    let mut b = [0i32; 2];
    // SAFETY: creating two pipes into local arrays.
    if unsafe { libc::pipe(a.as_mut_ptr()) != 0 || libc::pipe(b.as_mut_ptr()) != 0 } {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let main_affinity = save_affinity();
    pin_to_one_cpu();
    // SAFETY: the child only reads and writes its pipes and calls _exit: all
    // async-signal-safe, as required after fork in a threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        restore_affinity(main_affinity);
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    let mut byte = [0u8; 1];
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            for _ in 0..n {
                if libc::read(a[0], byte.as_mut_ptr().cast(), 1) != 1
                    || libc::write(b[1], byte.as_ptr().cast(), 1) != 1
                {
                    libc::_exit(1);
                }
            }
            libc::_exit(0);
        }
    }
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: writing and reading one byte through our pipes.
        let ok = unsafe {
            libc::write(a[1], byte.as_ptr().cast(), 1) == 1
                && libc::read(b[0], byte.as_mut_ptr().cast(), 1) == 1
        };
        if !ok {
            break;
        }
    }
    let elapsed = start.elapsed();
    // SAFETY: reaping the child and closing our descriptors.
    unsafe {
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        for fd in [a[0], a[1], b[0], b[1]] {
            libc::close(fd);
        }
    }
    restore_affinity(main_affinity);
    Ok(per_switch(elapsed, 2 * n))
}
