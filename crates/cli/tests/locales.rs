//! A program's locale is its own: three programs setting different
//! locales at once (yielding between steps, on one and two workers) print
//! what three separate processes print — `setlocale`'s names, `MB_CUR_MAX`,
//! multibyte decoding, `localeconv`, and a thread locale from `uselocale`.
//! As a PIE and as a shared object.
//!
//! The bug these pin: glibc's global locale is one per process, so one
//! bead's `setlocale(LC_CTYPE, "C.UTF-8")` changed how every other bead
//! decoded characters.

mod common;

use common::*;

const RUNS: [(&str, &str); 3] = [("a", "C.UTF-8"), ("b", "C"), ("c", "C.UTF-8")];

fn check(test: &str, module: &str, entry: &str, workers: u32) {
    let native: Vec<Vec<&str>> = RUNS.iter().map(|(n, l)| vec![*n, *l]).collect();
    let native: Vec<&[&str]> = native.iter().map(Vec::as_slice).collect();
    let expected = native_lines("locales", &native);
    assert!(expected.contains(
        &"b: after LC_CTYPE: LC_ALL C, LC_CTYPE C, MB_CUR_MAX 1, mblen -1, point '.'".to_owned()
    ));
    assert!(expected.contains(
        &"a: after LC_ALL: LC_ALL C.UTF-8, LC_CTYPE C.UTF-8, MB_CUR_MAX 6, mblen 2, point '.'"
            .to_owned()
    ));
    let argv: Vec<Vec<&str>> = RUNS.iter().map(|(n, l)| vec!["locales", *n, *l]).collect();
    let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
    let out = run_tapestry(test, &one_program_per_bead(module, entry, workers, &argv));
    out.expect_success();
    assert_eq!(out.sorted_lines(), expected, "{out}");
}

#[test]
fn each_program_has_its_own_locale_pie_one_worker() {
    check("locales_pie_1", "locales", "main", 1);
}

#[test]
fn each_program_has_its_own_locale_pie_two_workers() {
    check("locales_pie_2", "locales", "main", 2);
}

#[test]
fn each_program_has_its_own_locale_shared_object_two_workers() {
    check("locales_so_2", "locales.so", "locales_main", 2);
}
