//! Thread-local storage inside beads: per string and per bead, through
//! `__tls_get_addr` and through TLS descriptors, and C++ thread-local
//! machinery (std::call_once uses libstdc++'s own thread-locals).

mod common;

use common::*;

fn three_strings(module: &str, entry: &str, args: &str) -> String {
    format!(
        r#"
[tapestry]
name = "tls"

[[module]]
name = "m"
path = "@MODS@/{module}"

[[bead]]
name = "b{{i}}"
module = "m"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["b{{i}}"]

[[string]]
count = 3
weave = "w{{i}}"
entry = "{entry}"
args = {args}
"#
    )
}

#[test]
fn tls_descriptors_give_each_bead_its_own_thread_locals() {
    let out = run_tapestry(
        "tls_gnu2",
        &three_strings(
            "globals_gnu2.so",
            "globals_main",
            r#"["g", "g{i}", "{i}", "4"]"#,
        ),
    );
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "g0 value=7 static_calls=4 tls_hits=4",
            "g1 value=8 static_calls=4 tls_hits=4",
            "g2 value=9 static_calls=4 tls_hits=4",
        ]
    );
}

#[test]
fn cxx_call_once_and_thread_local_destructors() {
    let out = run_tapestry(
        "cxx_tls",
        &three_strings("cxx_tls.so", "cxx_tls_main", r#"["c", "c{i}"]"#),
    );
    out.expect_success();
    let lines = out.sorted_lines();
    assert_eq!(
        lines,
        [
            "cxx_tls c0: once_runs=1 tracer=c0",
            "cxx_tls c0: thread_local destroyed",
            "cxx_tls c1: once_runs=1 tracer=c1",
            "cxx_tls c1: thread_local destroyed",
            "cxx_tls c2: once_runs=1 tracer=c2",
            "cxx_tls c2: thread_local destroyed",
        ]
    );
    // Each string's thread_local is destroyed after that string printed.
    for tag in ["c0", "c1", "c2"] {
        let all = out.lines();
        let used = all
            .iter()
            .position(|l| l.starts_with(&format!("cxx_tls {tag}: once_runs")))
            .unwrap();
        let gone = all
            .iter()
            .position(|l| *l == format!("cxx_tls {tag}: thread_local destroyed"))
            .unwrap();
        assert!(used < gone, "{out}");
    }
}
