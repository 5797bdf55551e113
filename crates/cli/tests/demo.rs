//! `weaves demo` builds its bundled modules with the system C compiler and
//! runs the showcase: two apps over one shared stack bead, one over its own,
//! and a tuple space shared by both stacks.

mod common;

#[test]
fn demo_builds_and_shows_shared_and_private_stacks() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-test");
    let out = common::weaves_command()
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .expect("run weaves demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "app0  (string 1, weave host0) sent 5 packets through shared_stack  which saw 10 packets from 2 app(s); all stacks: 15",
            "app1  (string 2, weave host1) sent 5 packets through shared_stack  which saw 10 packets from 2 app(s); all stacks: 15",
            "app2  (string 3, weave host2) sent 5 packets through private_stack which saw  5 packets from 1 app(s); all stacks: 15",
        ]
    );
    assert!(dir.join("netstack.so").is_file() && dir.join("app.so").is_file());
}
