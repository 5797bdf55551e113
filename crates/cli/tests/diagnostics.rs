//! The C library's `error`, `error_at_line`, `err`, `errx`, `warn` and
//! `warnx` from bead code: the lines a native run prints, the status it
//! ends with — and only the calling string ends.

mod common;

use common::*;

/// The tapestry: one string per `(name, way)`, each in a bead of its own,
/// with the module's full path as `argv[0]` (as a native run has).
fn tapestry(workers: u32, strings: &[(&str, &str)]) -> String {
    let path = module("diagnostics").display().to_string();
    let runs: Vec<Vec<&str>> = strings
        .iter()
        .map(|(tag, how)| vec![path.as_str(), *tag, *how])
        .collect();
    let runs: Vec<&[&str]> = runs.iter().map(Vec::as_slice).collect();
    one_program_per_bead("diagnostics", "main", workers, &runs)
}

/// The bugs: `error(3, …)` in one bead called the C library's `exit` and
/// ended the whole tapestry with status 3 — another string's output was
/// lost — and every message began with the runtime's path instead of the
/// program's name.
#[test]
fn error_with_a_status_ends_only_its_string_and_names_the_program() {
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("diagnostics_error_{workers}"),
            &tapestry(workers, &[("B", "error"), ("G", "warn")]),
        );
        out.expect_failed_strings(3, &[("s0", 3)]);
        for line in ["B start", "G start", "G end"] {
            out.line(line);
        }
        let native_bad = run_native("diagnostics", &["B", "error"]);
        let native_good = run_native("diagnostics", &["G", "warn"]);
        assert_eq!(native_bad.code(), 3);
        for line in native_bad.stderr.lines().chain(native_good.stderr.lines()) {
            assert!(
                out.stderr.lines().any(|l| l == line),
                "`{line}` missing on {workers} worker(s)\n{out}"
            );
        }
    }
}

#[test]
fn err_and_errx_end_their_string_with_their_status_as_natively() {
    for (how, status) in [("err", 5), ("errx", 4)] {
        let native = run_native("diagnostics", &["X", how]);
        assert_eq!(native.code(), status);
        let out = run_tapestry(
            &format!("diagnostics_{how}"),
            &tapestry(2, &[("X", how), ("Y", "ok")]),
        );
        out.expect_failed_strings(status, &[("s0", status)]);
        out.line("Y end");
        let message = native.stderr.lines().next().unwrap();
        assert!(
            out.stderr.lines().any(|l| l == message),
            "`{message}`\n{out}"
        );
    }
}
