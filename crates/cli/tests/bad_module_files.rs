//! A module path that is not a regular ELF file — `/dev/zero`,
//! `/dev/urandom`, a FIFO, a directory, a socket, a huge sparse file — is
//! refused at once, in one line naming the tapestry (or fragment) file and
//! the line of the path, by `weaves run` and by `weaves apply` alike.
//!
//! The bug these pin: the loader read the whole file before looking at it,
//! so `/dev/zero` grew memory without bound, `/dev/urandom` and a FIFO hung,
//! and a 2 GiB sparse file was read whole before "not an ELF file".

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::running::*;
use common::*;

/// How long a refusal may take here. The loader answers in milliseconds
/// (each case prints its time); the bound is loose so that a busy machine
/// never fails the test, and tight enough to catch a hang or a read of
/// gigabytes.
const REFUSE_WITHIN: Duration = Duration::from_secs(5);

/// Line 6 of this text is the module's `path`.
fn tapestry_with_module(path: &Path) -> String {
    format!(
        r#"[tapestry]
name = "bad-file"

[[module]]
name = "app"
path = "{}"

[[bead]]
name = "a0"
module = "app"

[[weave]]
name = "w0"
beads = ["a0"]

[[string]]
weave = "w0"
entry = "sleeper_main"
args = ["sleeper", "n", "1", "1000"]
"#,
        toml_escape(path)
    )
}

/// Runs `cmd`, killing it if it outlives [`REFUSE_WITHIN`] (then failing).
fn run_bounded(mut cmd: Command, what: &str) -> (Outcome, Duration) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("weaves starts");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > REFUSE_WITHIN {
            let _ = child.kill();
            let out = child.wait_with_output().expect("killed child");
            panic!(
                "{what}: still running after {REFUSE_WITHIN:?} (hung or reading the whole file)\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().expect("output");
    (
        Outcome {
            what: what.to_owned(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        elapsed,
    )
}

/// The bad files, each with a word its refusal must contain. Made in `dir`
/// (the socket's listener is returned so that it stays bound).
fn bad_files(dir: &Path) -> (Vec<(&'static str, PathBuf, &'static str)>, UnixListener) {
    let fifo = dir.join("module.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let directory = dir.join("module.d");
    std::fs::create_dir(&directory).unwrap();
    let sparse = dir.join("sparse.so");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let socket = dir.join("module.sock");
    let listener = UnixListener::bind(&socket).expect("bind a socket");
    (
        vec![
            ("dev_zero", PathBuf::from("/dev/zero"), "character device"),
            (
                "dev_urandom",
                PathBuf::from("/dev/urandom"),
                "character device",
            ),
            ("fifo", fifo, "FIFO"),
            ("directory", directory, "directory"),
            ("sparse_2gib", sparse, "ELF"),
            ("socket", socket, "socket"),
        ],
        listener,
    )
}

#[test]
fn run_refuses_devices_fifos_directories_sockets_and_huge_files_at_once() {
    let dir = scratch_dir("bad_files_run");
    let (cases, _keep) = bad_files(&dir);
    for (name, path, kind) in &cases {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, tapestry_with_module(path)).unwrap();
        let mut cmd = weaves_command();
        cmd.arg("run").arg(&file);
        let (out, took) = run_bounded(cmd, &format!("weaves run {name}.toml"));
        let line = out.expect_error(&[&format!("{name}.toml"), "line 6", "app"]);
        assert!(line.contains(&path.display().to_string()), "{out}");
        assert!(line.contains(kind), "{name}: expected `{kind}`\n{out}");
        eprintln!(
            "{name}: refused in {:.1} ms: {line}",
            took.as_secs_f64() * 1e3
        );
    }
}

/// Must show 6 of "contain faults", the same through `weaves apply`: each
/// fragment is refused in one line naming it, and the tapestry is left as
/// it was.
#[test]
fn apply_refuses_devices_fifos_directories_sockets_and_huge_files_at_once() {
    let base = r#"
[tapestry]
name = "target"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "sleepy"
module = "sleeper"

[[weave]]
name = "nap"
beads = ["sleepy"]

[[string]]
name = "napper"
weave = "nap"
entry = "sleeper_main"
args = ["sleeper", "n", "600", "10000"]
"#;
    let (running, ps) = start_running("bad_files_apply", base);
    let id = ps["id"].as_str().unwrap().to_owned();
    let before = stable(json_of(&running.rt, &["inspect", &id, "--json"]));
    let (cases, _keep) = bad_files(&running.dir);
    for (name, path, kind) in &cases {
        // Line 3 of the fragment is the module's `path`.
        let fragment = running.dir.join(format!("{name}.toml"));
        std::fs::write(
            &fragment,
            format!(
                "[[module]]\nname = \"extra\"\npath = \"{}\"\n\n[[bead]]\nname = \"e0\"\nmodule = \"extra\"\n",
                toml_escape(path)
            ),
        )
        .unwrap();
        let mut cmd = weaves(&running.rt);
        cmd.arg("apply").arg(&id).arg(&fragment);
        let (out, took) = run_bounded(cmd, &format!("weaves apply {name}.toml"));
        let line = out.expect_error(&[&format!("{name}.toml"), "line 3", "extra"]);
        assert!(line.contains(kind), "{name}: expected `{kind}`\n{out}");
        eprintln!(
            "{name}: refused in {:.1} ms: {line}",
            took.as_secs_f64() * 1e3
        );
    }
    let after = stable(json_of(&running.rt, &["inspect", &id, "--json"]));
    assert_eq!(before, after, "a refused fragment changed the tapestry");
}

/// A module file followed by 2 GiB of holes: its headers claim only the
/// first kilobytes, and those are all that is read; it loads and runs.
#[test]
fn module_padded_to_2gib_loads_without_reading_the_padding() {
    let dir = scratch_dir("padded_module");
    let padded = dir.join("padded_sleeper.so");
    std::fs::copy(module("sleeper.so"), &padded).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&padded)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let file = dir.join("padded.toml");
    std::fs::write(&file, tapestry_with_module(&padded)).unwrap();
    let mut cmd = weaves_command();
    cmd.arg("run").arg(&file);
    let (out, took) = run_bounded(cmd, "weaves run padded.toml");
    eprintln!("padded module ran in {:.1} ms", took.as_secs_f64() * 1e3);
    out.expect_success();
}
