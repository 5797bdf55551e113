//! CPython installed as a system library (`libpython3.11.so.1.0`), declared
//! as a module, is one interpreter per bead: each imports the extension
//! modules the system installs in `lib-dynload` (`_bz2`, `_codecs_cn`,
//! `_json`), which load as beads bound to that interpreter, and keeps its
//! own `sys` state. Compared with native runs (output and exit status).
//!
//! The bug this pins: an extension module in a system directory went to
//! the system loader, where its `Py*` imports found no interpreter, and the
//! interpreter's neighbours (`libm.so.6`, `libz.so.1`) were pulled in as
//! private beads and refused.

mod common;

use std::path::Path;

use common::*;

const LIBPYTHON: &str = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0";

/// Each program's name and N (its exit status is N % 5).
const RUNS: [(&str, &str); 3] = [("p0", "10"), ("p1", "11"), ("p2", "12")];

#[test]
fn python_extension_modules_bind_to_their_programs_interpreter() {
    assert!(
        Path::new(LIBPYTHON).is_file() && module("py_host").is_file(),
        "CPython 3.11 not found: this test needs python3.11-dev (apt-get install python3.11-dev; scripts/test.sh does it)"
    );
    let mut expected = Vec::new();
    let mut statuses = Vec::new();
    for (name, n) in RUNS {
        let native = run_native("py_host", &[name, n]);
        expected.extend(native.stdout.lines().map(str::to_owned));
        statuses.push((name, native.code()));
    }
    expected.sort();
    assert!(expected.contains(&r#"p2 bz2 round trip 12 gbk d6d0 json "p2" count 12"#.to_owned()));
    assert_eq!(statuses, [("p0", 0), ("p1", 1), ("p2", 2)]);

    let mut t = format!(
        "[tapestry]\nname = \"python\"\nworkers = 2\n\n[[module]]\nname = \"host\"\npath = \"@MODS@/py_host\"\n\n[[module]]\nname = \"python\"\npath = \"{LIBPYTHON}\"\n"
    );
    for (i, (name, n)) in RUNS.iter().enumerate() {
        t.push_str(&format!(
            "\n[[bead]]\nname = \"h{i}\"\nmodule = \"host\"\n\n[[bead]]\nname = \"py{i}\"\nmodule = \"python\"\n\n[[weave]]\nname = \"w{i}\"\nbeads = [\"h{i}\", \"py{i}\"]\n\n[[string]]\nname = \"{name}\"\nweave = \"w{i}\"\nentry = \"main\"\nargs = [\"py_host\", \"{name}\", \"{n}\"]\n"
        ));
    }
    let out = run_tapestry("python_extension", &t);
    let code = out.code();
    assert!(code == 1 || code == 2, "exit status {code}\n{out}");
    out.expect_failed_strings(code, &statuses[1..]);
    assert_eq!(out.sorted_lines(), expected, "{out}");
}
