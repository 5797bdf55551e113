//! The C library state a program believes is its own is per bead: three
//! programs doing the same at once (yielding between steps, on one and two
//! workers) print what three separate processes print, with the same exit
//! statuses. As a PIE and as a shared object. Their `atexit` and `on_exit`
//! handlers run at the end of each program (`on_exit`'s with its status).
//!
//! The bugs these pin: `strtok`'s position, the `struct tm` of `localtime`
//! and `gmtime`, the text of `asctime`/`ctime`, `tmpnam(NULL)`'s name,
//! `getmntent`'s entry and the `getpwent`/`getgrent`/`gethostent` walks
//! were one per process, so a bead's `strtok` went on through another bead's string,
//! results changed under a bead when another called the same function, and
//! each walk of `/etc/passwd` saw only part of it; `on_exit` handlers ran
//! when the whole process ended, with its status, not the program's.

mod common;

use common::*;

/// Each program's name and N (its word, mount-line count and exit status).
const RUNS: [(&str, &str); 3] = [("a", "3"), ("b", "4"), ("c", "5")];

fn check(test: &str, module: &str, entry: &str, workers: u32) {
    let mut expected = Vec::new();
    let mut statuses = Vec::new();
    for (name, n) in RUNS {
        let native = run_native("libc_state", &[name, n]);
        expected.extend(native.stdout.lines().map(str::to_owned));
        statuses.push((name, native.code()));
    }
    expected.sort();
    assert!(expected.contains(&"c: token c-w4".to_owned()));
    assert!(expected.contains(&"b: exit handler".to_owned()));
    assert!(expected.contains(&"c: on_exit handler, status 5, argument c".to_owned()));
    assert_eq!(statuses, [("a", 3), ("b", 4), ("c", 5)]);

    let argv: Vec<Vec<&str>> = RUNS
        .iter()
        .map(|(name, n)| vec!["libc_state", *name, *n])
        .collect();
    let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
    let mut text = one_program_per_bead(module, entry, workers, &argv);
    // Strings named after their programs, so statuses can be matched.
    for (i, (name, _)) in RUNS.iter().enumerate() {
        text = text.replace(&format!("name = \"s{i}\""), &format!("name = \"{name}\""));
    }
    let out = run_tapestry(test, &text);
    let code = out.code();
    assert!((3..=5).contains(&code), "exit status {code}\n{out}");
    out.expect_failed_strings(code, &statuses);
    assert_eq!(out.sorted_lines(), expected, "{out}");
}

#[test]
fn libc_state_is_per_bead_pie_one_worker() {
    check("libc_pie_1", "libc_state", "main", 1);
}

#[test]
fn libc_state_is_per_bead_pie_two_workers() {
    check("libc_pie_2", "libc_state", "main", 2);
}

#[test]
fn libc_state_is_per_bead_shared_object_one_worker() {
    check("libc_so_1", "libc_state.so", "libc_state_main", 1);
}

#[test]
fn libc_state_is_per_bead_shared_object_two_workers() {
    check("libc_so_2", "libc_state.so", "libc_state_main", 2);
}
