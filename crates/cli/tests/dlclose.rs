//! `dlclose` of the last handle of a library bead code `dlopen`ed unloads
//! it, as natively: its destructor and exit handlers run then, and opening
//! it again gives fresh globals (its constructor runs again, its count
//! starts from 0). A library another one bound to stays until that one
//! goes; `RTLD_NODELETE` keeps it until the end. Compared with native runs.
//!
//! The bug these pin: a dlopened library's beads stayed loaded after its
//! last `dlclose`, so its destructor ran only when the tapestry ended and
//! a reopened library carried on with its old statics.

mod common;

use common::*;

fn check(test: &str, host_module: &str, entry: &str, workers: u32) {
    let dir = modules_dir().to_str().unwrap().to_owned();
    let names = ["r0", "r1", "r2"];
    let runs: Vec<Vec<&str>> = names.iter().map(|n| vec![*n, dir.as_str()]).collect();
    let runs: Vec<&[&str]> = runs.iter().map(Vec::as_slice).collect();
    let expected = native_lines("dl_reload", &runs);
    for line in [
        "r1: counted destructor after 4 calls",
        "r1: reopened: count 1",
        "r2: bound one loaded: 1, user step 2",
        "r2: bound one loaded after the user went: 0",
        "r0: nodelete kept: count 2",
    ] {
        assert!(
            expected.contains(&line.to_owned()),
            "native run lacks `{line}`"
        );
    }
    let argv: Vec<Vec<&str>> = names
        .iter()
        .map(|n| vec!["dl_reload", *n, dir.as_str()])
        .collect();
    let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
    let out = run_tapestry(
        test,
        &one_program_per_bead(host_module, entry, workers, &argv),
    );
    out.expect_success();
    assert_eq!(out.sorted_lines(), expected, "{out}");
}

#[test]
fn dlclosed_library_is_unloaded_and_reopens_fresh_pie_one_worker() {
    check("dlclose_pie_1", "dl_reload", "main", 1);
}

#[test]
fn dlclosed_library_is_unloaded_and_reopens_fresh_pie_two_workers() {
    check("dlclose_pie_2", "dl_reload", "main", 2);
}

#[test]
fn dlclosed_library_is_unloaded_and_reopens_fresh_shared_object_two_workers() {
    check("dlclose_so_2", "dl_reload.so", "main", 2);
}
