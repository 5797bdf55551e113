//! Threads that system libraries start for a program: libstdc++'s
//! `std::thread`, `std::async`, condition variables and `call_once` are
//! strings of the bead's weave whose waits park; libgomp's are thread-mode
//! strings (more in `openmp.rs`).

mod common;

use common::running::*;
use common::*;

/// Runs `module` (built as a PIE and as a shared object) as three beads on
/// one and on two workers, each with its own tag, and compares the lines
/// and exit status with three native runs of the PIE.
fn as_natively(program: &str, test: &str) {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines(program, &runs);
    assert!(expected.iter().any(|l| l == "a failures 0"), "{expected:?}");
    for file in [program.to_owned(), format!("{program}.so")] {
        for workers in [1, 2] {
            let argv: Vec<Vec<&str>> = runs.iter().map(|r| [&[program][..], r].concat()).collect();
            let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
            let out = run_tapestry(
                &format!("{test}_{}_{workers}", file.replace('.', "_")),
                &one_program_per_bead(&file, "main", workers, &argv),
            );
            out.expect_success();
            assert_eq!(
                out.sorted_lines(),
                expected,
                "{file} on {workers} worker(s)"
            );
        }
    }
}

/// The bug: libstdc++ called `pthread_create` through its own import
/// slots, bound to the C library, so `std::async` made OS threads outside
/// the scheduler and the tapestry crashed (`SIGSEGV … outside bead code`);
/// and a PIE's inline `std::call_once` wrote libstdc++'s `__once_callable`
/// at an offset from the thread pointer that named nothing (libstdc++'s
/// thread-locals were in dynamic TLS), so libstdc++ called a null function.
#[test]
fn cxx_threads_futures_condvars_and_call_once_run_as_natively() {
    as_natively("cxx_threads", "cxx");
}

/// libgomp's team threads are thread-mode strings (see `openmp.rs`): a
/// `parallel for`, `critical`, `barrier`, `single` and omp locks give the
/// native answer in several beads, with `omp_set_num_threads` per program.
#[test]
fn openmp_team_runs_as_natively() {
    as_natively("omp_team", "omp");
}

/// Threads libstdc++ starts are strings of the caller's weave, listed by
/// `inspect`; waiting on a condition variable (libstdc++'s
/// `pthread_cond_wait`) or a future (its futex through `syscall`) parks
/// them: with one worker, the main thread still runs and releases them.
#[test]
fn cxx_threads_are_strings_whose_waits_park() {
    let dir = scratch_dir("cxx_threads_held");
    let go = dir.join("go");
    let text = format!(
        "[tapestry]\nname = \"held\"\nworkers = 1\n\n[[module]]\nname = \"m\"\npath = \"@MODS@/cxx_threads\"\n\n[[bead]]\nname = \"b\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w\"\nbeads = [\"b\"]\n\n[[string]]\nname = \"s\"\nweave = \"w\"\nentry = \"main\"\nargs = [\"cxx_threads\", \"h\", \"{}\"]\n",
        toml_escape(&go)
    );
    let (running, ps) = start_running("cxx_threads_held", &text);
    let id = ps["id"].as_str().expect("an id").to_owned();
    let threads = |i: &serde_json::Value| -> Vec<(String, String)> {
        i["strings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| {
                        s["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("s/thread"))
                    })
                    .map(|s| {
                        (
                            s["weave"].as_str().unwrap_or_default().to_owned(),
                            s["state"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let i = inspect_until(&running.rt, &id, "three parked threads", |i| {
        let t = threads(i);
        t.len() == 3 && t.iter().all(|(w, s)| w == "w" && s == "parked")
    });
    assert_eq!(threads(&i).len(), 3);
    std::fs::write(&go, "").expect("the file that releases them");
    let (status, out) = running.finish();
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out.trim(), format!("h held until {}: 42", go.display()));
}
