//! Thread-local storage inside beads: per string and per bead, through
//! `__tls_get_addr` and through TLS descriptors, and C++ thread-local
//! machinery (std::call_once uses libstdc++'s own thread-locals).

mod common;

use common::*;

fn three_strings(module: &str, entry: &str, args: &str) -> String {
    one_string_per_bead(module, 3, entry, args)
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

/// Regression: the TLS descriptor resolver preserves vector registers
/// (ymm1 always; ymm16 where the CPU has AVX-512, else reported n/a).
#[test]
fn tls_descriptor_calls_preserve_vector_registers() {
    let out = run_tapestry(
        "tlsdesc_vec",
        &three_strings("tlsdesc_vec.so", "tlsdesc_vec_main", r#"["t", "t{i}"]"#),
    );
    out.expect_success();
    let lines = out.sorted_lines();
    assert_eq!(lines.len(), 3, "{out}");
    for (i, line) in lines.iter().enumerate() {
        let expected_prefix = format!("tlsdesc t{i}: ymm1=ok ymm16=");
        assert!(line.starts_with(&expected_prefix), "{out}");
        assert!(line.ends_with("=ok") || line.ends_with("=n/a"), "{out}");
    }
}
