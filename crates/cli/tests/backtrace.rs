//! Backtraces through bead code: glibc's `backtrace()` walks bead frames
//! (the unwinder finds each bead's .eh_frame through `_dl_find_object`), and
//! `backtrace_symbols()`/`dladdr()` name the bead's functions.

mod common;

use common::*;

#[test]
fn backtrace_names_bead_functions_in_order() {
    let out = run_tapestry(
        "backtrace",
        &one_string_per_bead("bt.so", 2, "bt_main", r#"["bt", "b{i}"]"#),
    );
    out.expect_success();
    for tag in ["b0", "b1"] {
        let prefix = format!("bt {tag}: frame ");
        let bead_frames: Vec<&str> = out
            .lines()
            .into_iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|f| f.contains("bt.so("))
            .collect();
        let names: Vec<&str> = bead_frames
            .iter()
            .map(|f| f.split('(').nth(1).unwrap().split('+').next().unwrap())
            .collect();
        assert_eq!(
            names,
            ["deep3", "deep2", "deep1", "bt_main"],
            "{tag}\n{out}"
        );
        assert!(
            out.lines()
                .contains(&format!("bt {tag}: dladdr deep3").as_str()),
            "{out}"
        );
    }
}
