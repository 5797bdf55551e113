//! `weaves dsm`: unmodified pthread programs across node processes give
//! what they give natively; counters, traces, node failures and layout
//! checks behave as documented (docs/dsm.md).

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// Builds `tests/dsm/NAME.c` as a default PIE (`cc -pthread`) into `dir`.
fn program(dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dsm")
        .join(format!("{name}.c"));
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-pthread"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("cannot run cc");
    assert!(status.success(), "cc {} failed", src.display());
    out
}

fn native(prog: &Path, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    run_command(cmd, format!("{} {}", prog.display(), args.join(" ")))
}

fn dsm(nodes: u32, options: &[&str], prog: &Path, args: &[&str]) -> Outcome {
    let mut cmd = weaves_command();
    // The suite runs many node processes on few cores: a node may not get
    // to run for a second, which is slowness here, not a hang.
    cmd.env("WEAVES_DSM_SILENCE_MS", "20000");
    cmd.arg("dsm")
        .arg("-n")
        .arg(nodes.to_string())
        .args(options)
        .arg("--")
        .arg(prog)
        .args(args);
    run_command(
        cmd,
        format!(
            "weaves dsm -n {nodes} {} -- {}",
            options.join(" "),
            prog.display()
        ),
    )
}

/// The program's output and status under `weaves dsm -n N` equal the
/// native run's, for N = 1, 2, 4, 8.
fn same_as_native(test: &str, name: &str, args: &[&str], options: &[&str]) {
    let dir = scratch_dir(test);
    let prog = program(&dir, name);
    let reference = native(&prog, args);
    reference.expect_success();
    for nodes in [1, 2, 4, 8] {
        let out = dsm(nodes, options, &prog, args);
        assert_eq!(out.code(), 0, "{out}");
        assert_eq!(out.stdout, reference.stdout, "on {nodes} nodes\n{out}");
    }
}

#[test]
fn dsm_mutex_counter_threads_on_every_node_equal_native() {
    same_as_native("dsm_counter", "counter", &["8"], &["--coherence", "sc"]);
}

#[test]
fn dsm_matmul_locked_per_row_equals_native() {
    same_as_native("dsm_matmul", "matmul", &["48", "6"], &["--coherence", "sc"]);
}

#[test]
fn dsm_barrier_stencil_equals_native() {
    same_as_native(
        "dsm_stencil",
        "stencil",
        &["2048", "4", "10"],
        &["--coherence", "sc"],
    );
}

#[test]
fn dsm_work_queue_with_condvars_equals_native() {
    same_as_native("dsm_queue", "queue", &["120", "4"], &["--coherence", "sc"]);
}

#[test]
fn dsm_thread_specific_data_and_once_equal_native() {
    same_as_native("dsm_tsd", "tsd", &["6"], &["--coherence", "sc"]);
}

#[test]
fn lrc_mutex_counter_equals_native() {
    same_as_native("lrc_counter", "counter", &["8"], &["--coherence", "lrc"]);
}

#[test]
fn lrc_matmul_locked_per_row_equals_native() {
    same_as_native(
        "lrc_matmul",
        "matmul",
        &["48", "6"],
        &["--coherence", "lrc"],
    );
}

#[test]
fn lrc_static_blocks_matmul_equals_native() {
    same_as_native(
        "lrc_matmul_static",
        "matmul",
        &["48", "6", "row", "static"],
        &["--coherence", "lrc"],
    );
}

#[test]
fn lrc_column_major_matmul_equals_native() {
    same_as_native(
        "lrc_matmul_col",
        "matmul",
        &["40", "5", "col"],
        &["--coherence", "lrc"],
    );
}

#[test]
fn lrc_barrier_stencil_equals_native() {
    same_as_native(
        "lrc_stencil",
        "stencil",
        &["2048", "4", "10"],
        &["--coherence", "lrc"],
    );
}

#[test]
fn lrc_work_queue_with_condvars_equals_native() {
    same_as_native("lrc_queue", "queue", &["120", "4"], &["--coherence", "lrc"]);
}

#[test]
fn lrc_thread_specific_data_and_once_equal_native() {
    same_as_native("lrc_tsd", "tsd", &["6"], &["--coherence", "lrc"]);
}

#[test]
fn lrc_false_sharing_writers_of_one_page_merge_their_diffs() {
    // Every thread writes its own slot of one page without a lock: the
    // diffs of all writers reach the home.
    same_as_native("lrc_per", "per", &["8"], &["--coherence", "lrc"]);
}

#[test]
fn blocks_freed_and_grown_on_other_nodes_go_back_to_their_home_sc() {
    same_as_native("dsm_handoff", "handoff", &["5"], &["--coherence", "sc"]);
}

#[test]
fn blocks_freed_and_grown_on_other_nodes_go_back_to_their_home_lrc() {
    same_as_native("lrc_handoff", "handoff", &["5"], &["--coherence", "lrc"]);
}

#[test]
fn dsm_packed_placement_equals_native() {
    same_as_native("dsm_packed", "counter", &["8"], &["--placement", "packed"]);
}

#[test]
fn unsynchronised_program_gives_native_results_under_sc() {
    same_as_native("dsm_racy", "racy", &["3"], &["--coherence", "sc"]);
}

/// POSIX semaphores (a bounded buffer) and reader-writer locks (readers
/// never see a half-written table), refused before.
#[test]
fn semaphores_and_rwlocks_equal_native_under_lrc() {
    same_as_native(
        "dsm_rwsem_lrc",
        "rwsem",
        &["100", "2"],
        &["--coherence", "lrc"],
    );
}

#[test]
fn semaphores_and_rwlocks_equal_native_under_sc() {
    same_as_native(
        "dsm_rwsem_sc",
        "rwsem",
        &["100", "2"],
        &["--coherence", "sc"],
    );
}

/// The bug: a page fetched for one thread's write was installed writable
/// (watched, its twin the fetched contents) and then twinned again after
/// another thread of the same node had written it, so that thread's
/// writes never reached the home (a 4-node matmul lost rows now and then).
#[test]
fn lrc_writes_of_two_threads_of_one_node_to_a_fresh_page_are_both_kept() {
    same_as_native(
        "lrc_slots",
        "slots",
        &["64", "8", "3"],
        &["--coherence", "lrc"],
    );
}

/// Under `lrc` a write to a page fetched for reading takes no fault where
/// the kernel notes writes itself (asynchronous write protection): the
/// probe's 256 first writes were 256 faults before. Its 256 writes after
/// the pages went back to read-only fault either way.
#[test]
fn lrc_first_writes_to_fetched_pages_take_no_fault() {
    let dir = scratch_dir("dsm_watched_writes");
    let prog = program(&dir, "faults");
    let json = dir.join("stats.json");
    let out = dsm(
        2,
        &["--coherence", "lrc", "--stats-json", json.to_str().unwrap()],
        &prog,
        &[],
    );
    out.expect_success();
    assert!(out.stdout.starts_with("read_fault_us="), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let node1 = &v["nodes"][1];
    let writes = node1["write_faults"].as_u64().unwrap();
    assert!(node1["read_faults"].as_u64().unwrap() >= 256, "{v}");
    if weaves_snapshot::WriteProtect::new().is_ok() {
        // Beyond the rewrites, a few pages of the program's own data go
        // back to read-only after a release that found them unwritten,
        // and fault once when written again.
        assert!(
            (256..256 + 16).contains(&writes),
            "{writes} write faults on node 1: {v}"
        );
    } else {
        assert!(writes >= 512, "{writes} write faults on node 1: {v}");
    }
}

#[test]
fn stats_json_counts_threads_locks_and_messages_per_node() {
    let dir = scratch_dir("dsm_stats_json");
    let prog = program(&dir, "counter");
    let json = dir.join("stats.json");
    let out = dsm(
        2,
        &["--stats", "--stats-json", json.to_str().unwrap()],
        &prog,
        &["4"],
    );
    out.expect_success();
    assert!(
        out.stderr.contains("read_faults"),
        "the table on stderr\n{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["node"], i as u64);
        for key in [
            "threads",
            "read_faults",
            "write_faults",
            "messages",
            "bytes",
            "twins",
            "diffs",
            "lock_acquires",
            "barrier_waits",
        ] {
            assert!(n[key].is_u64(), "node {i} lacks {key}: {v}");
        }
    }
    // Four threads, round-robin: two on each node; 1000 locked
    // increments each.
    assert_eq!(nodes[0]["threads"], 2);
    assert_eq!(nodes[1]["threads"], 2);
    assert_eq!(v["total"]["threads"], 4);
    assert_eq!(v["total"]["lock_acquires"], 4000);
    assert!(nodes[1]["read_faults"].as_u64().unwrap() > 0, "{v}");
    let total: u64 = nodes.iter().map(|n| n["messages"].as_u64().unwrap()).sum();
    assert_eq!(v["total"]["messages"], total);
}

#[test]
fn trace_file_has_a_header_and_one_line_per_fault() {
    let dir = scratch_dir("dsm_trace");
    let prog = program(&dir, "matmul");
    let trace = dir.join("run.trace");
    let json = dir.join("stats.json");
    let out = dsm(
        2,
        &[
            "--trace",
            trace.to_str().unwrap(),
            "--stats-json",
            json.to_str().unwrap(),
        ],
        &prog,
        &["32", "2"],
    );
    out.expect_success();
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"version": 1, "nodes": 2, "page_size": 4096, "coherence": "sc"})
    );
    let mut faults = 0u64;
    let mut last = 0u64;
    let mut on_node1 = 0;
    for l in lines {
        let f: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = f["t_us"].as_u64().unwrap();
        assert!(t >= last, "in time order: {l}");
        last = t;
        assert!(f["page"].is_u64());
        assert!(matches!(f["kind"].as_str(), Some("read" | "write")), "{l}");
        if f["node"] == 1 {
            on_node1 += 1;
        }
        faults += 1;
    }
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let counted = stats["total"]["read_faults"].as_u64().unwrap()
        + stats["total"]["write_faults"].as_u64().unwrap();
    assert_eq!(faults, counted, "one line per fault");
    assert!(on_node1 > 0);
}

/// The pid of the process that is node `node` of the run using `dir`.
fn node_pid(dir: &Path, node: u32) -> Option<i32> {
    let want = format!("--node\0{node}\0");
    let dir = dir.to_str().unwrap().to_owned();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains(&want) && cmd.contains(&dir) {
            return Some(pid);
        }
    }
    None
}

/// A run of `slow THREADS ROUNDS` on `nodes` nodes once every thread
/// started: the launcher, its output, and the rendezvous directory (where
/// [`node_pid`] finds the nodes).
fn slow_run_started(
    test: &str,
    nodes: u32,
    rounds: &str,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    PathBuf,
) {
    let dir = scratch_dir(test);
    let prog = program(&dir, "slow");
    let rendezvous = dir.join("rendezvous");
    std::fs::create_dir_all(&rendezvous).unwrap();
    let mut child = weaves_command()
        .env("WEAVES_DSM_SILENCE_MS", "20000")
        .args(["dsm", "-n", &nodes.to_string(), "--rendezvous"])
        .arg(&rendezvous)
        .arg("--")
        .arg(&prog)
        .args([nodes.to_string().as_str(), rounds])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "running\n");
    (child, stdout, rendezvous)
}

#[test]
fn kill_9_of_a_node_ends_every_other_node_with_one_line() {
    let (mut child, mut stdout, rendezvous) = slow_run_started("dsm_kill", 3, "5000");
    let victim = node_pid(&rendezvous, 2).expect("node 2 runs");
    // SAFETY: sending SIGKILL to a process this test started.
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_ne!(status.code(), Some(0), "{stderr}");
    assert!(
        !rest.contains("finished"),
        "no result after a node died: {rest}"
    );
    assert!(
        stderr.contains("weaves dsm: node 2 died (signal 9)"),
        "the launcher names the node and its signal: {stderr}"
    );
    for survivor in [0, 1] {
        assert!(
            stderr.lines().any(|l| l.starts_with("weaves dsm: node 2 ")
                && l.contains(&format!("while node {survivor} was"))),
            "node {survivor} says node 2 is gone and what it was doing: {stderr}"
        );
    }
}

/// The bug: killing the launcher (`timeout`, a batch system ending the
/// job) left its node processes running, orphaned, with nobody to report
/// to.
#[test]
fn nodes_end_when_their_launcher_is_killed() {
    // Far more rounds than the bound below lets it run.
    let (mut child, _stdout, rendezvous) = slow_run_started("dsm_launcher_killed", 2, "100000000");
    let nodes: Vec<i32> = (0..2)
        .map(|k| node_pid(&rendezvous, k).expect("the node runs"))
        .collect();
    // SAFETY: sending SIGKILL to a process this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    child.wait().unwrap();
    // The kernel delivers the nodes' death signal at once; a generous
    // bound keeps a loaded machine from failing the test.
    let gone = |pid: &i32| {
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.is_empty())
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !nodes.iter().all(gone) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        nodes.iter().all(gone),
        "node processes {nodes:?} outlived their launcher"
    );
}

#[test]
fn nodes_with_different_layouts_are_refused_at_bootstrap() {
    let dir = scratch_dir("dsm_layout");
    let prog = program(&dir, "counter");
    let other = program(&dir, "tsd");
    let rendezvous = dir.join("rendezvous");
    std::fs::create_dir_all(&rendezvous).unwrap();
    let node = |rank: &str, p: &Path| {
        let mut c = weaves_command();
        c.env("WEAVES_DSM_SILENCE_MS", "20000")
            .args(["dsm", "--launcher", "mpi", "--rendezvous"])
            .arg(&rendezvous)
            .arg("--")
            .arg(p)
            .env("PMI_RANK", rank)
            .env("PMI_SIZE", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let zero = node("0", &prog);
    let one = node("1", &other);
    let one = one.wait_with_output().unwrap();
    let zero = zero.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&one.stderr).into_owned() + &String::from_utf8_lossy(&zero.stderr);
    assert_ne!(one.status.code(), Some(0));
    assert_ne!(zero.status.code(), Some(0));
    assert!(said.contains("address layout differs"), "{said}");
    assert!(
        one.stdout.is_empty() && zero.stdout.is_empty(),
        "the program never ran"
    );
}

#[test]
fn mpich_mpirun_starts_the_nodes_as_weaves_dsm_does() {
    let dir = scratch_dir("dsm_mpirun");
    let prog = program(&dir, "queue");
    let reference = native(&prog, &["100", "4"]);
    let rendezvous = dir.join("rendezvous");
    std::fs::create_dir_all(&rendezvous).unwrap();
    let mut cmd = Command::new("mpirun");
    cmd.env("WEAVES_DSM_SILENCE_MS", "20000")
        .args(["-n", "4"])
        .arg(env!("CARGO_BIN_EXE_weaves"))
        .args(["dsm", "--launcher", "mpi", "--rendezvous"])
        .arg(&rendezvous)
        .arg("--")
        .arg(&prog)
        .args(["100", "4"])
        .env("WEAVES_RUNTIME_DIR", runtime_dir());
    let out = run_command(cmd, "mpirun -n 4 weaves dsm --launcher mpi".into());
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, reference.stdout, "{out}");
    let local = dsm(4, &[], &prog, &["100", "4"]);
    assert_eq!(local.stdout, out.stdout);
}
