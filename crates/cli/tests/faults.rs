//! Faults in bead code: one diagnostic line naming string, weave, bead,
//! module and function; a fault in a bead private to its weave ends only that
//! string; a stack overflow names the string; a fault in a shared bead stops
//! the tapestry.
//!
//! The fault matrix (`tests/modules/faultmatrix.c`, the case chosen by
//! argv) runs every fault, trap, abort and heap misuse in a private bead
//! beside three unrelated strings, on one and on two workers. A bead's own
//! handlers (`sigrecover`) run for its own faults exactly as natively, and
//! never for another bead's. Initialisers and finalisers that fault fail the
//! run with one line.

mod common;

use common::*;

#[test]
fn faults_end_only_the_faulting_strings() {
    let out = run_tapestry(
        "faults_private",
        r#"
[tapestry]
name = "faults"

[[module]]
name = "crash"
path = "@MODS@/crash.so"

[[bead]]
name = "b{i}"
module = "crash"
count = 3

[[weave]]
name = "w{i}"
count = 3
beads = ["b{i}"]

[[string]]
name = "nullwriter"
weave = "w0"
entry = "crash_main"
args = ["crash", "null"]

[[string]]
name = "deep"
weave = "w1"
entry = "crash_main"
args = ["crash", "overflow"]
stack_kib = 256

[[string]]
name = "calm"
weave = "w2"
entry = "crash_main"
args = ["crash", "none"]
"#,
    );
    assert_eq!(
        out.code(),
        139,
        "first failing string's status is 128 + SIGSEGV\n{out}"
    );
    assert_eq!(
        out.sorted_lines(),
        [
            "crash none: before",
            "crash none: survived",
            "crash null: before",
            "crash overflow: before"
        ]
    );
    let err: Vec<&str> = out.stderr.lines().collect();
    assert!(
        err.iter().any(|l| l.contains("SIGSEGV")
            && contains_word(l, "nullwriter")
            && contains_word(l, "w0")
            && contains_word(l, "b0")
            && l.contains("crash.so")
            && l.contains("poke+0x")
            && l.contains("address 0x0")),
        "{out}"
    );
    assert!(
        err.iter().any(|l| l.contains("stack overflow")
            && contains_word(l, "deep")
            && l.contains("256 KiB")),
        "{out}"
    );
    assert!(
        err.iter()
            .any(|l| contains_word(l, "nullwriter") && l.contains("status 139")),
        "{out}"
    );
    assert!(
        err.iter()
            .any(|l| contains_word(l, "deep") && l.contains("status 139")),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn fault_in_a_shared_bead_stops_the_tapestry() {
    let out = run_tapestry(
        "faults_shared",
        r#"
[tapestry]
name = "faults-shared"

[[module]]
name = "crash"
path = "@MODS@/crash.so"

[[bead]]
name = "common"
module = "crash"

[[weave]]
name = "w{i}"
count = 2
beads = ["common"]

[[string]]
name = "nullwriter"
weave = "w0"
entry = "crash_main"
args = ["crash", "null"]
"#,
    );
    assert_eq!(out.code(), 139, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("SIGSEGV"))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    assert!(
        contains_word(line, "common") && line.contains("shared") && line.contains("poke+0x"),
        "{out}"
    );
}

/// What the three unrelated strings of the fault matrix print.
const CALM: &str = "fm calm: sum=2502500";

/// A tapestry where string `faulty` (weave `wf`, bead `f`) runs fault
/// matrix case `case` beside three unrelated strings `calm0..2`, each in a
/// weave and bead of its own.
fn beside_calm_strings(case: &str, workers: u32) -> String {
    format!(
        r#"
[tapestry]
name = "fault-matrix"
workers = {workers}

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "f"
module = "fm"

[[bead]]
name = "c{{i}}"
module = "fm"
count = 3

[[weave]]
name = "wf"
beads = ["f"]

[[weave]]
name = "wc{{i}}"
count = 3
beads = ["c{{i}}"]

[[string]]
name = "faulty"
weave = "wf"
entry = "fm_main"
args = ["fm", "{case}"]

[[string]]
name = "calm{{i}}"
count = 3
weave = "wc{{i}}"
entry = "fm_main"
args = ["fm", "calm"]
"#
    )
}

/// What a contained fault must look like.
struct Contained<'a> {
    case: &'a str,
    /// The faulting string's status, and the run's.
    status: i32,
    /// Text the diagnostic must contain (kind, signal, detail).
    says: &'a [&'a str],
    /// The bead function the diagnostic names.
    function: &'a str,
    /// Other stderr lines the C library prints itself (a prefix of each).
    library_says: &'a [&'a str],
}

/// Runs `c.case` beside three unrelated strings on one and on two workers:
/// the three finish with their usual output, the faulting string stops
/// where it faulted, stderr holds one diagnostic naming kind, string,
/// weave, bead, module and function (besides the failed string's status
/// line and what the C library printed itself), and the run fails with
/// the string's status.
fn assert_contained(test: &str, c: Contained<'_>) {
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("{test}_{workers}"),
            &beside_calm_strings(c.case, workers),
        );
        assert_eq!(out.code(), c.status, "{out}");
        let before = format!("fm {}: before", c.case);
        assert_eq!(
            out.sorted_lines(),
            sorted([before.as_str(), CALM, CALM, CALM]),
            "the unrelated strings finish, the faulting one stops\n{out}"
        );
        let ours: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !c.library_says.iter().any(|p| l.contains(p)))
            .collect();
        assert_eq!(ours.len(), 2, "one diagnostic and one status line\n{out}");
        let status_line = format!("exited with status {}", c.status);
        let diagnostic = ours
            .iter()
            .find(|l| !l.contains(&status_line))
            .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
        for word in ["faulty", "wf", "f"] {
            assert!(contains_word(diagnostic, word), "`{word}` not named\n{out}");
        }
        assert!(diagnostic.contains("faultmatrix.so"), "{out}");
        assert!(
            diagnostic.contains(&format!("{}+0x", c.function)),
            "function `{}` not named\n{out}",
            c.function
        );
        for text in c.says {
            assert!(diagnostic.contains(text), "`{text}` not said\n{out}");
        }
        for text in c.library_says {
            assert!(out.stderr.contains(text), "the C library's `{text}`\n{out}");
        }
        assert!(!out.stderr.contains("panicked"), "{out}");
    }
}

#[test]
fn abort_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "abort",
        Contained {
            case: "abort",
            status: 134,
            says: &["abort()"],
            function: "do_abort",
            library_says: &[],
        },
    );
}

#[test]
fn failed_assert_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "assert",
        Contained {
            case: "assert",
            status: 134,
            says: &["SIGABRT", "aborted"],
            function: "do_assert",
            library_says: &["Assertion `argc == 42' failed"],
        },
    );
}

#[test]
fn trap_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "trap",
        Contained {
            case: "trap",
            status: 132,
            says: &["SIGILL"],
            function: "do_trap",
            library_says: &[],
        },
    );
}

#[test]
fn breakpoint_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "breakpoint",
        Contained {
            case: "breakpoint",
            status: 133,
            says: &["SIGTRAP"],
            function: "do_breakpoint",
            library_says: &[],
        },
    );
}

#[test]
fn division_by_zero_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "divzero",
        Contained {
            case: "divzero",
            status: 136,
            says: &["SIGFPE (integer division by zero)"],
            function: "do_divzero",
            library_says: &[],
        },
    );
}

#[test]
fn null_dereference_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "null",
        Contained {
            case: "null",
            status: 139,
            says: &["SIGSEGV", "touched address 0x0"],
            function: "do_null",
            library_says: &[],
        },
    );
}

#[test]
fn stack_overflow_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "overflow",
        Contained {
            case: "overflow",
            status: 139,
            says: &["stack overflow", "stack_kib"],
            function: "do_overflow",
            library_says: &[],
        },
    );
}

#[test]
fn double_free_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "double_free",
        Contained {
            case: "double_free",
            status: 134,
            says: &["double free", "twice", "(heap of bead `f`)"],
            function: "do_double_free",
            library_says: &[],
        },
    );
}

#[test]
fn heap_overflow_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "heap_overflow",
        Contained {
            case: "heap_overflow",
            status: 134,
            says: &[
                "heap overflow detected",
                "a block of 24 bytes",
                "into the next block",
            ],
            function: "do_heap_overflow",
            library_says: &[],
        },
    );
}

#[test]
fn free_of_a_pointer_into_a_block_ends_only_its_string() {
    assert_contained(
        "middle_free",
        Contained {
            case: "middle_free",
            status: 134,
            says: &["invalid free", "not the start of a block"],
            function: "do_middle_free",
            library_says: &[],
        },
    );
}

#[test]
fn free_of_a_stack_pointer_ends_only_its_string() {
    assert_contained(
        "bogus_free",
        Contained {
            case: "bogus_free",
            status: 134,
            says: &["invalid free", "no heap handed out", "stack"],
            function: "do_bogus_free",
            library_says: &[],
        },
    );
}

#[test]
fn free_of_a_wild_pointer_that_crashes_the_c_library_ends_only_its_string() {
    assert_contained(
        "wild_free",
        Contained {
            case: "wild_free",
            status: 139,
            says: &["SIGSEGV", "called code that faulted"],
            function: "do_wild_free",
            library_says: &[],
        },
    );
}

#[test]
fn free_that_the_c_library_aborts_on_ends_only_its_string() {
    assert_contained(
        "libc_free",
        Contained {
            case: "libc_free",
            status: 134,
            says: &["SIGABRT", "aborted"],
            function: "do_libc_free",
            library_says: &["free(): invalid pointer"],
        },
    );
}

#[test]
fn raise_of_sigsegv_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "raise_segv",
        Contained {
            case: "raise_segv",
            status: 139,
            says: &["SIGSEGV", "raised it"],
            function: "do_raise_segv",
            library_says: &[],
        },
    );
}

#[test]
fn jump_to_garbage_in_a_private_bead_ends_only_its_string() {
    assert_contained(
        "jump",
        Contained {
            case: "jump",
            status: 139,
            says: &["SIGSEGV", "called code that faulted at 0x10"],
            function: "do_jump",
            library_says: &[],
        },
    );
}

/// Every case of the matrix at once, each in a weave of its own, beside the
/// three unrelated strings, on two workers.
#[test]
fn every_fault_at_once_ends_only_the_faulting_strings() {
    let cases = [
        ("abort", "abort()"),
        ("assert", "SIGABRT"),
        ("trap", "SIGILL"),
        ("breakpoint", "SIGTRAP"),
        ("divzero", "SIGFPE"),
        ("null", "SIGSEGV"),
        ("overflow", "stack overflow"),
        ("double_free", "double free"),
        ("heap_overflow", "heap overflow detected"),
        ("middle_free", "invalid free"),
        ("bogus_free", "invalid free"),
        ("wild_free", "SIGSEGV"),
        ("libc_free", "SIGABRT"),
        ("raise_segv", "SIGSEGV"),
        ("jump", "SIGSEGV"),
    ];
    let mut text = String::from(
        r#"
[tapestry]
name = "every-fault"
workers = 2

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "c{i}"
module = "fm"
count = 3

[[weave]]
name = "wc{i}"
count = 3
beads = ["c{i}"]

[[string]]
name = "calm{i}"
count = 3
weave = "wc{i}"
entry = "fm_main"
args = ["fm", "calm"]
"#,
    );
    for (case, _) in cases {
        text.push_str(&format!(
            "\n[[bead]]\nname = \"b_{case}\"\nmodule = \"fm\"\n\n[[weave]]\nname = \"w_{case}\"\nbeads = [\"b_{case}\"]\n\n[[string]]\nname = \"s_{case}\"\nweave = \"w_{case}\"\nentry = \"fm_main\"\nargs = [\"fm\", \"{case}\"]\n"
        ));
    }
    let out = run_tapestry("every_fault", &text);
    assert_ne!(out.code(), 0, "{out}");
    assert_eq!(out.lines_starting(CALM).len(), 3, "{out}");
    assert!(!out.stdout.contains("survived"), "{out}");
    for (case, says) in cases {
        let named: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| contains_word(l, &format!("s_{case}")) && !l.contains("exited with status"))
            .collect();
        assert_eq!(named.len(), 1, "one diagnostic for `{case}`\n{out}");
        assert!(
            named[0].contains(says)
                && contains_word(named[0], &format!("w_{case}"))
                && contains_word(named[0], &format!("b_{case}")),
            "`{case}`: {says}\n{out}"
        );
    }
}

#[test]
fn abort_in_a_shared_bead_stops_the_tapestry() {
    let out = run_tapestry(
        "abort_shared",
        r#"
[tapestry]
name = "abort-shared"

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "common"
module = "fm"

[[weave]]
name = "w{i}"
count = 2
beads = ["common"]

[[string]]
name = "aborter"
weave = "w0"
entry = "fm_main"
args = ["fm", "abort"]
"#,
    );
    assert_eq!(out.code(), 134, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("abort()"))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    assert!(
        contains_word(line, "common") && contains_word(line, "aborter") && line.contains("shared"),
        "{out}"
    );
}

#[test]
fn double_free_in_a_shared_bead_stops_the_tapestry() {
    let out = run_tapestry(
        "double_free_shared",
        r#"
[tapestry]
name = "double-free-shared"

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "common"
module = "fm"

[[weave]]
name = "w{i}"
count = 2
beads = ["common"]

[[string]]
name = "freer"
weave = "w1"
entry = "fm_main"
args = ["fm", "double_free"]
"#,
    );
    assert_eq!(out.code(), 134, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("double free"))
        .unwrap_or_else(|| panic!("no diagnostic\n{out}"));
    assert!(
        contains_word(line, "common") && contains_word(line, "freer") && line.contains("shared"),
        "{out}"
    );
}

/// `sigrecover` alone as a bead: the same output as natively.
#[test]
fn a_beads_own_sigsegv_handler_recovers_as_natively() {
    let native = run_native("sigrecover", &[]);
    native.expect_success();
    assert!(native.stdout.contains("round 2: recovered from signal 11"));
    let out = run_tapestry(
        "own_handler",
        r#"
[tapestry]
name = "own-handler"

[[module]]
name = "sr"
path = "@MODS@/sigrecover"

[[bead]]
name = "rec"
module = "sr"

[[weave]]
name = "w"
beads = ["rec"]

[[string]]
name = "recoverer"
weave = "w"
entry = "main"
args = ["sigrecover"]
"#,
    );
    out.expect_success();
    assert_eq!(out.stdout, native.stdout, "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

/// While `sigrecover`'s handler is installed, a bead of another weave
/// faults: the runtime diagnoses that fault, the handler never sees it,
/// and `sigrecover` goes on exactly as natively.
#[test]
fn another_beads_fault_never_reaches_a_beads_own_handler() {
    let native = run_native("sigrecover", &["linger"]);
    native.expect_success();
    for workers in [1, 2] {
        let out = run_tapestry(
            &format!("own_handler_foreign_{workers}"),
            &format!(
                r#"
[tapestry]
name = "own-handler-foreign"
workers = {workers}

[[module]]
name = "sr"
path = "@MODS@/sigrecover"

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "rec"
module = "sr"

[[bead]]
name = "crasher"
module = "fm"

[[weave]]
name = "wr"
beads = ["rec"]

[[weave]]
name = "wx"
beads = ["crasher"]

[[string]]
name = "recoverer"
weave = "wr"
entry = "main"
args = ["sigrecover", "linger"]

[[string]]
name = "late"
weave = "wx"
entry = "fm_main"
args = ["fm", "late_null"]
"#
            ),
        );
        out.expect_failed_strings(139, &[("late", 139)]);
        let recoverer: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with("fm "))
            .collect();
        assert_eq!(
            recoverer,
            native.stdout.lines().collect::<Vec<_>>(),
            "{out}"
        );
        assert!(
            out.stderr.lines().any(|l| l.contains("SIGSEGV")
                && contains_word(l, "late")
                && contains_word(l, "crasher")
                && l.contains("do_null+0x")),
            "{out}"
        );
        assert!(!contains_word(&out.stderr, "recoverer"), "{out}");
    }
}

/// libgfortran installs SIGSEGV handlers (for its backtraces) when a
/// Fortran program starts. They are the Fortran bead's own: a C bead's
/// fault in another weave gets the runtime's diagnostic, and the Fortran
/// string finishes.
#[test]
fn a_fortran_beads_runtime_does_not_take_other_beads_faults() {
    let out = run_tapestry(
        "fortran_handlers",
        r#"
[tapestry]
name = "fortran-handlers"
workers = 1

[[module]]
name = "fc"
path = "@MODS@/fortran_common"

[[module]]
name = "fm"
path = "@MODS@/faultmatrix.so"

[[bead]]
name = "fortran"
module = "fc"

[[bead]]
name = "crasher"
module = "fm"

[[weave]]
name = "wf"
beads = ["fortran"]

[[weave]]
name = "wx"
beads = ["crasher"]

[[string]]
name = "fort"
weave = "wf"
entry = "main"
args = ["fortran_common", "f0"]

[[string]]
name = "late"
weave = "wx"
entry = "fm_main"
args = ["fm", "late_null"]
"#,
    );
    out.expect_failed_strings(139, &[("late", 139)]);
    out.line("f0: n=5 total=55");
    assert!(!out.stderr.contains("Program received signal"), "{out}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("SIGSEGV") && contains_word(l, "crasher")),
        "{out}"
    );
}

/// One bead module, one weave, one string running `entry`.
fn single(module: &str, entry: &str) -> String {
    format!(
        r#"
[tapestry]
name = "single"

[[module]]
name = "m"
path = "@MODS@/{module}"

[[bead]]
name = "b"
module = "m"

[[weave]]
name = "w"
beads = ["b"]

[[string]]
name = "s"
weave = "w"
entry = "{entry}"
"#
    )
}

#[test]
fn an_initialiser_that_aborts_is_reported_in_one_line() {
    let out = run_tapestry("ctor_abort", &single("ctor_abort.so", "ctor_abort_main"));
    let line = out.expect_error(&["b"]);
    assert!(
        line.contains("in its initialiser")
            && line.contains("abort()")
            && line.contains("set_up+0x"),
        "{out}"
    );
    out.expect_absent("main ran");
}

#[test]
fn a_fault_in_a_finaliser_fails_the_run() {
    let out = run_tapestry("dtor_fault", &single("dtor_fault.so", "dtor_fault_main"));
    assert_eq!(out.code(), 139, "{out}");
    out.line("dtor_fault: main ran");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        contains_word(lines[0], "b")
            && lines[0].contains("in its finaliser")
            && lines[0].contains("SIGSEGV")
            && lines[0].contains("tear_down+0x"),
        "{out}"
    );
}
