//! PIE executables whose own thread-local variables are reached at fixed
//! offsets from the thread pointer (local-exec TLS): C programs with
//! `__thread`, and every Rust executable (its standard library keeps its
//! thread state that way). The loader moves those accesses to `%gs`, which
//! the runtime points at the running string's block.

mod common;

use common::*;

/// Runs `program` as three beads on one and on two workers and compares
/// its lines and status with three native runs.
fn as_natively(program: &str, test: &str) {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines(program, &runs);
    assert!(expected.iter().any(|l| l == "a failures 0"), "{expected:?}");
    for workers in [1, 2] {
        let argv: Vec<Vec<&str>> = runs.iter().map(|r| [&[program][..], r].concat()).collect();
        let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
        let out = run_tapestry(
            &format!("{test}_{workers}"),
            &one_program_per_bead(program, "main", workers, &argv),
        );
        out.expect_success();
        assert_eq!(
            out.sorted_lines(),
            expected,
            "{program} on {workers} worker(s)"
        );
    }
}

/// The bug: a PIE with `__thread` variables was refused at load ("a PIE
/// executable with thread-local variables … build the code as a -fPIC
/// shared object instead").
#[test]
fn a_c_pie_with_thread_locals_runs_as_several_beads_as_natively() {
    as_natively("tls_pie", "tls_pie");
}

/// The same source without optimisation reaches its thread-locals through
/// `mov %fs:0,R` and register offsets instead of `%fs:-N`.
#[test]
fn an_unoptimised_c_pie_with_thread_locals_runs_as_natively() {
    as_natively("tls_pie_O0", "tls_pie_O0");
}

/// The bugs: every Rust executable was refused (its standard library uses
/// local-exec thread-locals); past that, it hung before `main` in
/// `pthread_getattr_np`, which read a string's pthread id as a glibc
/// thread descriptor.
#[test]
fn a_rust_executable_with_threads_and_channels_runs_as_natively() {
    as_natively("rust_threads", "rust_threads");
}

/// A C++ PIE's own `thread_local` objects move to `%gs` while its inline
/// `std::call_once` keeps reaching libstdc++'s thread-locals through `%fs`.
/// The bug: their destructors, registered through libstdc++'s
/// `__cxa_thread_atexit`, went to the C library's list for the worker
/// thread and ran when the tapestry ended, on reused blocks ("dtor 103"
/// three times instead of 101, 102, 103).
#[test]
fn a_cxx_pie_with_thread_local_objects_runs_as_natively() {
    as_natively("tls_pie_cxx", "tls_pie_cxx");
}
