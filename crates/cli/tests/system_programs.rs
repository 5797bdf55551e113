//! Programs nobody here wrote: the system's own coreutils, grep, sed and
//! gzip (Debian's builds, default PIE executables), each run as three beads
//! and compared with three native runs — same lines, same exit status.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The input the programs read: a few lines with repeats and tabs.
const INPUT: &str = "banana\tyellow\napple\tred\ncherry\tdark red\napple\tgreen\nfig\tpurple\n";

fn system_program(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Runs `program args` natively and as three beads (on one worker, so that
/// the output of each bead is written whole: see the unlocked stdio row in
/// docs/process-semantics.md) and compares.
fn as_natively(test: &str, program: &str, args: &[&str]) {
    let path = system_program(program).unwrap_or_else(|| panic!("{program} is not installed"));
    let dir = scratch_dir(test);
    let input = dir.join("input.txt");
    std::fs::write(&input, INPUT).unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("INPUT", &input.display().to_string()))
        .collect();
    let mut native = Command::new(&path);
    native.args(&args);
    let native = run_command(native, format!("{program} natively"));
    native.expect_success();
    let mut expected: Vec<String> = Vec::new();
    for _ in 0..3 {
        expected.extend(native.stdout.lines().map(str::to_owned));
    }
    expected.sort();
    let argv: Vec<String> = std::iter::once(format!("\"{program}\""))
        .chain(
            args.iter()
                .map(|a| format!("\"{}\"", a.replace('\\', "\\\\"))),
        )
        .collect();
    let text = format!(
        "[tapestry]\nname = \"{test}\"\nworkers = 1\n\n[[module]]\nname = \"m\"\npath = \"{}\"\n\n\
         [[bead]]\nname = \"b{{i}}\"\nmodule = \"m\"\ncount = 3\n\n\
         [[weave]]\nname = \"w{{i}}\"\ncount = 3\nbeads = [\"b{{i}}\"]\n\n\
         [[string]]\nname = \"s{{i}}\"\ncount = 3\nweave = \"w{{i}}\"\nargs = [{}]\n",
        path.display(),
        argv.join(", ")
    );
    let file = write_tapestry(&dir, "t.toml", &text);
    let out = weaves_run(&file, None);
    out.expect_success();
    if native.stdout.ends_with('\n') {
        assert_eq!(out.sorted_lines(), expected, "{program} {args:?}");
    } else {
        // Output without a final newline (gzip's): the three copies are
        // identical, so their concatenation in any order is known.
        assert_eq!(out.stdout, native.stdout.repeat(3), "{program} {args:?}");
    }
}

#[test]
fn coreutils_sort_wc_cut_od_and_checksums_run_as_natively() {
    as_natively("sys_sort", "sort", &["-k2", "INPUT"]);
    as_natively("sys_wc", "wc", &["INPUT"]);
    as_natively("sys_cut", "cut", &["-f2", "INPUT"]);
    as_natively("sys_sha", "sha256sum", &["INPUT"]);
    as_natively("sys_od", "od", &["-c", "INPUT"]);
    as_natively("sys_seq", "seq", &["-w", "1", "3", "12"]);
}

/// The bug: gnulib programs close their standard descriptors at exit and
/// fail if that fails; `close(0)`/`close(1)` were refused with `EPERM`, so
/// `gzip -c` and `tr` as beads exited 1 ("gzip: stdout: Operation not
/// permitted").
#[test]
fn programs_that_close_their_standard_streams_at_exit_succeed() {
    as_natively("sys_gzip", "gzip", &["-c", "-n", "INPUT"]);
    as_natively("sys_tr", "tr", &["a-z", "A-Z"]);
    as_natively("sys_base64", "base64", &["INPUT"]);
}

/// The bug: `uniq FILE` reopens stdin on the file (`freopen(FILE, "r",
/// stdin)`), which was refused with `EPERM` for every program. Now a
/// program with its own copy of `stdin` (a PIE) gets the file as a new
/// stream in its variable; every other string keeps the shared stdin.
#[test]
fn uniq_with_a_file_reopens_stdin_for_its_program_only() {
    as_natively("sys_uniq", "uniq", &["-c", "INPUT"]);
}

#[test]
fn grep_and_sed_run_as_natively() {
    as_natively("sys_grep", "grep", &["-n", "an", "INPUT"]);
    as_natively("sys_sed", "sed", &["-e", "s/a/A/g", "-e", "2d", "INPUT"]);
}

/// The bug: a program's own copies of `program_invocation_name` and
/// `program_invocation_short_name` held the runtime's, so `tar` began its
/// messages with the runtime's path. Now they are the string's `argv[0]`,
/// and `tar` fails as natively: the same lines, status 2, only its string.
#[test]
fn tar_names_itself_in_its_messages_and_fails_with_status_2() {
    let path = system_program("tar").expect("tar is not installed");
    let path = path.display().to_string();
    let mut native = Command::new(&path);
    native.args(["-tf", "/dev/null"]);
    let native = run_command(native, "tar natively".into());
    assert_eq!(native.code(), 2);
    let text = format!(
        "[tapestry]\nname = \"tar\"\n\n[[module]]\nname = \"m\"\npath = \"{path}\"\n\n\
         [[bead]]\nname = \"b\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w\"\nbeads = [\"b\"]\n\n\
         [[string]]\nname = \"s\"\nweave = \"w\"\nargs = [\"{path}\", \"-tf\", \"/dev/null\"]\n"
    );
    let out = run_tapestry("sys_tar", &text);
    out.expect_failed_strings(2, &[("s", 2)]);
    for line in native.stderr.lines() {
        assert!(out.stderr.lines().any(|l| l == line), "`{line}`\n{out}");
    }
}
