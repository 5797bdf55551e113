//! getopt's state is per bead: several beads parsing their own options at
//! once — interleaved inside clustered options, through `__posix_getopt`
//! (a PIE built with `-D_POSIX_C_SOURCE`) and `getopt_long` (a shared
//! object) — print exactly what each program prints natively.

mod common;

use common::*;

/// Native stdout lines (sorted), stderr lines and exit codes of `runs`.
fn native(program: &str, runs: &[&[&str]]) -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut codes = Vec::new();
    for args in runs {
        // argv[0] is the tag: run through `sh -c 'exec -a TAG …'`.
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-c")
            .arg("exec -a \"$0\" \"$@\"")
            .arg(args[0])
            .arg(module(program))
            .args(&args[1..]);
        let o = run_command(cmd, format!("{program} natively"));
        out.extend(o.stdout.lines().map(str::to_owned));
        err.extend(o.stderr.lines().map(str::to_owned));
        codes.push(o.code());
    }
    out.sort();
    (out, err, codes)
}

fn compare(test: &str, program: &str, module: &str, entry: &str, runs: &[&[&str]]) {
    let (out, err, codes) = native(program, runs);
    for workers in [1, 2] {
        let run = run_tapestry(
            &format!("{test}_{workers}"),
            &one_program_per_bead(module, entry, workers, runs),
        );
        assert_eq!(run.sorted_lines(), out, "{run}");
        for line in &err {
            assert!(
                run.stderr.contains(line.as_str()),
                "missing `{line}`:\n{run}"
            );
        }
        let first_failure = codes.iter().copied().find(|&c| c != 0).unwrap_or(0);
        assert_eq!(run.code(), first_failure, "{run}");
    }
}

/// The bug: glibc redirects `getopt` to `__posix_getopt` under
/// `-D_POSIX_C_SOURCE`, which was not bound per bead (optarg stayed NULL),
/// and `optind`/the position inside `-abc` were shared by every bead.
#[test]
fn posix_getopt_state_is_per_bead() {
    compare(
        "posix_getopt",
        "getopts_posix",
        "getopts_posix",
        "main",
        &[
            &["p0", "-abc", "-n", "5", "file1", "file2"],
            &["p1", "-c", "-ba", "-n7", "x", "-a"],
            &["p2", "-bac", "-n", "12"],
            &["p3", "-ax", "-b", "--", "-c"],
        ],
    );
}

#[test]
fn getopt_long_state_is_per_bead() {
    compare(
        "getopt_long",
        "getopts_long",
        "getopts_long.so",
        "getopts_main",
        &[
            &[
                "l0",
                "--verbose",
                "-ab",
                "file",
                "--count=3",
                "--col",
                "more",
            ],
            &["l1", "-c", "--count", "9", "y", "-a", "--colour=red"],
            &["l2", "--verb", "-ba", "--nope", "z"],
            &["l3", "-vn"],
        ],
    );
}
