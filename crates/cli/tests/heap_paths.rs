//! Both interposition paths put a bead's memory in the arena: the bead's
//! own `malloc` calls (bound by the binder) and allocations system
//! libraries make on its behalf (glibc's strdup/fopen, libstdc++'s
//! operator new), which reach the `malloc` the weaves executable exports.

mod common;

use common::*;

#[test]
fn direct_and_indirect_allocations_land_in_the_arena() {
    let out = run_tapestry(
        "heap_paths",
        &one_string_per_bead("heap_paths.so", 2, "heap_paths_main", r#"["heap", "h{i}"]"#),
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "heap h0: malloc=arena strdup=arena fopen=arena new=arena string=arena vector=arena",
            "heap h1: malloc=arena strdup=arena fopen=arena new=arena string=arena vector=arena",
        ]
    );
}
