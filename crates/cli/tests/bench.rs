//! `weaves bench switch --json` runs all three measurements in one run and
//! reports them with the documented keys (no assertion on the figures:
//! speed is shown by the benchmark, not tested).

mod common;

#[test]
fn bench_switch_reports_all_keys() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    let out = common::weaves_command()
        .args(["bench", "switch", "--json", "-n", "20000"])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .expect("run weaves bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in ["weaves_ns", "pthread_ns", "process_ns", "ratio_vs_pthread"] {
        let at = stdout
            .find(&format!("\"{key}\": "))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"));
        let rest = &stdout[at + key.len() + 4..];
        let value: f64 = rest
            .split([',', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(value > 0.0, "{key} = {value}");
    }
    assert!(stdout.contains("\"switches\": 40000"), "{stdout}");
}

fn bench_json(args: &[&str]) -> String {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    let out = common::weaves_command()
        .args(args)
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .expect("run weaves bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn number(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    json[at + key.len() + 4..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn bench_beads_reports_all_baselines() {
    let json = bench_json(&["bench", "beads", "--json", "-n", "50"]);
    assert_eq!(number(&json, "beads"), 50.0);
    for key in [
        "weaves_us",
        "dlmopen_us",
        "fork_us",
        "ratio_vs_dlmopen",
        "ratio_vs_fork",
    ] {
        assert!(number(&json, key) > 0.0, "{key}: {json}");
    }
    // glibc allows a few namespaces (15 on the machines we know), never 50.
    let limit = number(&json, "dlmopen_limit");
    assert!((0.0..50.0).contains(&limit), "{json}");
}

#[test]
fn bench_flows_reports_each_kind_of_flow() {
    let json = bench_json(&["bench", "flows", "--json", "-n", "10"]);
    assert!(number(&json, "baseline_ms") > 0.0, "{json}");
    assert_eq!(number(&json, "n"), 10.0);
    for key in [
        "strings_overhead_pct",
        "pthread_overhead_pct",
        "process_overhead_pct",
    ] {
        number(&json, key);
    }
}

/// One run: a speedup per thread count for the native program and for
/// the tapestry, side by side, and their ratio.
#[test]
fn bench_parallel_reports_native_and_weaves_speedups() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("bench parallel needs two CPUs; this machine has {cpus}");
        return;
    }
    let json = bench_json(&["bench", "parallel", "--json", "-n", "1"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(v["runs"], 1, "{json}");
    assert_eq!(v["workers"], 2, "{json}");
    let rows = v["rows"].as_array().expect(&json);
    let threads: Vec<u64> = rows.iter().filter_map(|r| r["threads"].as_u64()).collect();
    assert_eq!(threads, [2, 3], "{json}");
    for r in rows {
        for key in ["native_speedup", "weaves_speedup", "ratio"] {
            assert!(r[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {json}");
        }
        assert_eq!(r["weaves_runs"].as_array().map(Vec::len), Some(1), "{json}");
    }
}

#[test]
fn unknown_benchmark_is_a_clear_error() {
    let out = common::weaves_command()
        .args(["bench", "nosuch"])
        .output()
        .unwrap();
    // weaves' own error, not a string's status (docs/exit-status.md).
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nosuch") && err.contains("switch") && err.lines().count() == 1,
        "{err}"
    );
}

/// `weaves bench mpi` measures both sides in one run (it needs MPICH,
/// which scripts/test.sh installs).
#[test]
fn bench_mpi_reports_both_sides() {
    let json = bench_json(&["bench", "mpi", "--json", "-n", "500"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "weaves_latency_us",
        "mpich_latency_us",
        "latency_ratio",
        "weaves_bandwidth_MBps",
        "mpich_bandwidth_MBps",
        "bandwidth_ratio",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {json}");
    }
    assert_eq!(v["ranks"], 16, "{json}");
    for coll in ["allreduce_8b", "allreduce_1mib", "alltoall_1kib"] {
        for key in ["weaves_us", "mpich_us", "ratio"] {
            assert!(
                v[coll][key]
                    .as_f64()
                    .is_some_and(|x| x > 0.0 && x.is_finite()),
                "{coll}.{key}: {json}"
            );
        }
    }
}

/// `weaves bench checkpoint` takes a full image and four incremental ones;
/// the incremental images hold the pages changed, no more.
#[test]
fn bench_checkpoint_reports_full_and_incremental() {
    let json = bench_json(&["bench", "checkpoint", "--json", "-n", "16"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let pages = 16 * 256;
    assert!(v["full"]["pages"].as_u64().unwrap() >= pages, "{json}");
    for key in ["pause_ms", "total_ms", "pause_gbps", "write_gbps"] {
        assert!(v["full"][key].as_f64().unwrap() > 0.0, "{key}: {json}");
    }
    assert!(v["memcpy_ms"].as_f64().unwrap() > 0.0, "{json}");
    let inc = v["incremental"].as_array().expect("incremental");
    assert_eq!(inc.len(), 4, "{json}");
    for d in inc {
        assert_eq!(d["incremental"], true, "{json}");
        let want = (d["dirty_fraction"].as_f64().unwrap() * pages as f64).max(1.0) as u64;
        let got = d["pages"].as_u64().unwrap();
        // The changed pages, plus a few of the bead's own (stack, globals).
        assert!(got >= want && got <= want + 32, "{d} (want about {want})");
    }
}

#[test]
fn bench_swap_reports_calls_and_swap_windows() {
    let json = bench_json(&["bench", "swap", "--json", "-n", "20000"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["native_ns", "before_swap_ns", "after_swap_ns"] {
        let x = v[key].as_f64().unwrap_or(f64::NAN);
        assert!(x.is_finite() && x > 0.0, "{key}: {json}");
    }
    assert_eq!(v["swaps"], 20, "{json}");
    assert!(v["state_bytes"].as_u64().unwrap() >= 1 << 20, "{json}");
    for key in ["blocked_us", "transfer_us", "forward_us"] {
        let d = &v[key];
        let (min, max) = (d["min"].as_f64().unwrap(), d["max"].as_f64().unwrap());
        assert!(
            min > 0.0 && min <= d["p50"].as_f64().unwrap() && d["p90"].as_f64().unwrap() <= max,
            "{key}: {json}"
        );
    }
}

/// `weaves bench clustered` reports every implementation, one thread and
/// eight, with ratios against shared (figures checked for sense, not speed).
#[test]
fn bench_clustered_reports_each_implementation() {
    let json = bench_json(&["bench", "clustered", "--json", "-n", "2000"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["adds_per_thread"], 2000, "{json}");
    assert_eq!(v["threads"], 8, "{json}");
    let positive = |x: &serde_json::Value| x.as_f64().is_some_and(|x| x.is_finite() && x > 0.0);
    for spread in ["median", "min", "max"] {
        assert!(positive(&v["atomic_ns"][spread]), "{json}");
    }
    for section in ["single_ns", "multi_mops"] {
        for kind in ["shared", "distributed", "adaptive"] {
            let s = &v[section][kind];
            assert!(
                ["median", "min", "max"].iter().all(|k| positive(&s[k])),
                "{section}.{kind}: {json}"
            );
            assert!(s["min"].as_f64() <= s["median"].as_f64(), "{json}");
            assert!(s["median"].as_f64() <= s["max"].as_f64(), "{json}");
        }
    }
    for ratios in ["single_ratio_vs_shared", "multi_ratio_vs_shared"] {
        assert_eq!(v[ratios]["shared"].as_f64(), Some(1.0), "{json}");
        assert!(positive(&v[ratios]["distributed"]), "{json}");
        assert!(positive(&v[ratios]["adaptive"]), "{json}");
    }
    // Alone, the adaptive counter never finds its lock contended.
    assert_eq!(v["adaptive_alone_ends"], "shared", "{json}");
    let rounds = v["rounds"].as_u64().unwrap();
    assert_eq!(
        v["adaptive_together_swaps"].as_array().unwrap().len() as u64,
        rounds,
        "{json}"
    );
}
