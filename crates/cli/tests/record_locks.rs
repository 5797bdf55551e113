//! POSIX record locks with the bead as the process: two programs in one
//! tapestry exclude each other as two processes do, and a waiting program
//! parks instead of blocking its worker.

mod common;

use std::process::Command;

use common::*;

/// The bug: record locks belong to the process, so two beads both got a
/// write lock on one file (private copies of an embedded database writing
/// one file lost rows).
#[test]
fn record_locks_exclude_between_beads_as_between_processes() {
    let dir = scratch_dir("record_locks");
    let native_file = dir.join("native.lock");
    let _ = std::fs::remove_file(&native_file);
    let f = native_file.display().to_string();
    // Natively: two processes at once.
    let spawn = |args: [&str; 3]| {
        Command::new(module("locker"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("native locker runs")
    };
    let holder = spawn(["a", "holder", &f]);
    let waiter = spawn(["b", "waiter", &f]);
    let holder = holder.wait_with_output().unwrap();
    let waiter = waiter.wait_with_output().unwrap();
    assert!(holder.status.success() && waiter.status.success());
    let mut expected: Vec<String> = String::from_utf8_lossy(&holder.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&waiter.stdout).lines())
        .map(str::to_owned)
        .collect();
    expected.sort();
    assert!(
        expected.iter().any(|l| l == "b: waiter trylock busy"),
        "{expected:?}"
    );

    for workers in [1, 2] {
        let file = dir.join(format!("weaves{workers}.lock"));
        let _ = std::fs::remove_file(&file);
        let out = run_tapestry(
            &format!("record_locks_{workers}"),
            &format!(
                r#"
[tapestry]
name = "locks"
workers = {workers}

[[module]]
name = "locker"
path = "@MODS@/locker"

[[bead]]
name = "p{{i}}"
module = "locker"
count = 2

[[weave]]
name = "w{{i}}"
count = 2
beads = ["p{{i}}"]

[[string]]
name = "holder"
weave = "w0"
args = ["locker", "a", "holder", "{file}"]

[[string]]
name = "waiter"
weave = "w1"
args = ["locker", "b", "waiter", "{file}"]
"#,
                file = toml_escape(&file)
            ),
        );
        out.expect_success();
        assert_eq!(out.sorted_lines(), expected, "{workers} worker(s)");
    }
}
