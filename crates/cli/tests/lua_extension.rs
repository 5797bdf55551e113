//! An interpreter installed as a system library, declared as a module, is
//! one interpreter per bead, and its `dlopen` of a C extension module — one
//! the test builds, and the system's own `cjson` from
//! `/usr/lib/x86_64-linux-gnu/lua/5.4` — loads the extension into the
//! calling bead's weave: the extension's `lua_*` imports bind to that
//! bead's interpreter, and each program has the extension's statics to
//! itself. Compared with native runs of the same
//! program (output and exit status).
//!
//! The bugs these pin: declaring `/usr/lib/x86_64-linux-gnu/liblua5.4.so.0`
//! as a module pulled its neighbour `libm.so.6` in as a private bead
//! ("not supported: static TLS"), and an extension loaded by the system
//! loader (any found in a system directory) could not find `lua_gettop`.

mod common;

use std::path::Path;

use common::*;

const LIBLUA: &str = "/usr/lib/x86_64-linux-gnu/liblua5.4.so.0";

/// Each program's name and the N it sums to (its exit status is N % 7).
const RUNS: [(&str, &str); 3] = [("l0", "10"), ("l1", "11"), ("l2", "12")];

/// The system's cjson module for Lua 5.4 (Debian's lua-cjson).
const CJSON: &str = "/usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so";

fn require_lua() {
    assert!(
        Path::new(LIBLUA).is_file() && Path::new(CJSON).is_file() && module("lua_host").is_file(),
        "Lua 5.4 not found: this test needs liblua5.4-dev and lua-cjson (apt-get install liblua5.4-dev lua-cjson; scripts/test.sh does it)"
    );
}

/// Three programs (`host_module` and a bead of the system's liblua each),
/// each in its own weave, on `workers` workers.
fn tapestry(host_module: &str, workers: u32) -> String {
    let mut t = format!(
        r#"
[tapestry]
name = "lua"
workers = {workers}

[[module]]
name = "host"
path = "@MODS@/{host_module}"

[[module]]
name = "lua"
path = "{LIBLUA}"
"#
    );
    for (i, (name, n)) in RUNS.iter().enumerate() {
        t.push_str(&format!(
            r#"
[[bead]]
name = "h{i}"
module = "host"

[[bead]]
name = "lua{i}"
module = "lua"

[[weave]]
name = "w{i}"
beads = ["h{i}", "lua{i}"]

[[string]]
name = "{name}"
weave = "w{i}"
entry = "main"
args = ["lua_host", "{name}", "{n}", "@MODS@"]
"#
        ));
    }
    t
}

fn check(test: &str, host_module: &str, workers: u32) {
    require_lua();
    let dir = modules_dir().to_str().unwrap().to_owned();
    let mut expected = Vec::new();
    let mut statuses = Vec::new();
    for (name, n) in RUNS {
        let native = run_native("lua_host", &[name, n, &dir]);
        expected.extend(native.stdout.lines().map(str::to_owned));
        statuses.push((name, native.code()));
    }
    expected.sort();
    // Each program's extension counts its own calls from 1.
    assert!(expected.contains(&"l2: sum 1..12 = 78 after 12 calls".to_owned()));
    // The system-installed extension module loaded natively too.
    assert!(expected.contains(&r#"l1: cjson ["l1",11,66], back l1 66"#.to_owned()));
    assert_eq!(statuses, [("l0", 3), ("l1", 4), ("l2", 5)]);

    let out = run_tapestry(test, &tapestry(host_module, workers));
    // The tapestry's status is the first failed string's.
    let code = out.code();
    assert!((3..=5).contains(&code), "exit status {code}\n{out}");
    out.expect_failed_strings(code, &statuses);
    assert_eq!(out.sorted_lines(), expected, "{out}");
}

#[test]
fn lua_extension_binds_to_its_pie_hosts_interpreter_one_worker() {
    check("lua_pie_1", "lua_host", 1);
}

#[test]
fn lua_extension_binds_to_its_pie_hosts_interpreter_two_workers() {
    check("lua_pie_2", "lua_host", 2);
}

#[test]
fn lua_extension_binds_to_its_shared_object_hosts_interpreter_two_workers() {
    check("lua_so_2", "lua_host.so", 2);
}
