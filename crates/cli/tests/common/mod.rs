//! Shared helpers for the black-box CLI tests.
//!
//! Every test binary (`tests/*.rs`) includes this module with `mod common;`. It
//!
//! * builds the real test modules from `tests/modules/` once per test binary
//!   (`tests/modules/build.sh`, into a directory of the target's tmpdir that
//!   belongs to this binary alone, so test binaries run in parallel never race);
//! * writes tapestry files into a per-test scratch directory, replacing
//!   `@MODS@` in the text with the absolute path of the built modules;
//! * runs `weaves` (or a module natively) under a time limit and hands back its
//!   exit status, stdout and stderr as an [`Outcome`] with assertion helpers.
//!
//! Output from strings that run concurrently may interleave by lines in any
//! order, so the helpers look lines up by prefix and compare sorted lines;
//! nothing here depends on the order of lines from different strings.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod running;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Longest a single `weaves` (or native) run may take before the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The workspace root (where `tests/modules/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Directory holding the built test modules; builds them on first use.
/// Every test binary shares it (the build script takes a lock and rebuilds
/// only what is stale), so the ~100 modules are compiled once per suite,
/// not once per binary.
pub fn modules_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("modules");
        let script = repo_root().join("tests/modules/build.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "building the test modules failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        out
    })
}

/// Absolute path of one built module file, e.g. `module("counter.so")`.
pub fn module(file: &str) -> PathBuf {
    modules_dir().join(file)
}

/// A fresh, empty scratch directory for one test (named after it).
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(env!("CARGO_CRATE_NAME"))
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Escapes a path for use inside a TOML basic string (`"..."`).
pub fn toml_escape(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// Writes `text` to `dir/file`, replacing `@MODS@` with the modules directory.
pub fn write_tapestry(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    let text = text.replace("@MODS@", &toml_escape(modules_dir()));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Writes `text` as `<test>.toml` in the test's scratch directory and runs
/// `weaves run` on it.
/// A tapestry of `count` beads of one module (`b0`, `b1`, …), each alone in
/// its own weave (`w0`, …) with one string running `entry` with `args` (a
/// TOML array, where `{i}` is the instance number).
#[allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]
pub fn one_string_per_bead(module: &str, count: u32, entry: &str, args: &str) -> String {
    format!(
        r#"
[tapestry]
name = "replicated"

[[module]]
name = "m"
path = "@MODS@/{module}"

[[bead]]
name = "b{{i}}"
module = "m"
count = {count}

[[weave]]
name = "w{{i}}"
count = {count}
beads = ["b{{i}}"]

[[string]]
count = {count}
weave = "w{{i}}"
entry = "{entry}"
args = {args}
"#
    )
}

/// A tapestry of one bead of `module` per entry of `runs`, each in its own
/// weave with one string calling `entry` with that entry as its whole argv
/// (`argv[0]` included), on `workers` workers: several copies of one
/// program with different arguments, as several native runs would be.
#[allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]
pub fn one_program_per_bead(module: &str, entry: &str, workers: u32, runs: &[&[&str]]) -> String {
    let mut t = format!(
        "[tapestry]\nname = \"programs\"\nworkers = {workers}\n\n[[module]]\nname = \"m\"\npath = \"@MODS@/{module}\"\n"
    );
    for (i, args) in runs.iter().enumerate() {
        let argv: Vec<String> = args
            .iter()
            .map(|a| format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        t.push_str(&format!(
            "\n[[bead]]\nname = \"b{i}\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w{i}\"\nbeads = [\"b{i}\"]\n\n[[string]]\nname = \"s{i}\"\nweave = \"w{i}\"\nentry = \"{entry}\"\nargs = [{}]\n",
            argv.join(", ")
        ));
    }
    t
}

pub fn run_tapestry(test: &str, text: &str) -> Outcome {
    let dir = scratch_dir(test);
    let file = write_tapestry(&dir, &format!("{test}.toml"), text);
    weaves_run(&file, None)
}

/// The control-socket directory of this test binary's `weaves` runs: never
/// the user's own, so no test's tapestry shows in the user's `weaves ps`
/// (and no user's tapestry in a test's).
pub fn runtime_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rt-{}", env!("CARGO_CRATE_NAME")));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // The monitor refuses a directory others may enter.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap_or_else(|e| panic!("cannot restrict {}: {e}", dir.display()));
        dir
    })
}

/// A `weaves` command with this test binary's own [`runtime_dir`]. Every
/// test runs `weaves` through this (or through `running::weaves`, which
/// gives a run a directory of its own).
pub fn weaves_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weaves"));
    cmd.env("WEAVES_RUNTIME_DIR", runtime_dir());
    cmd
}

/// `weaves run FILE`, optionally from another working directory.
pub fn weaves_run(file: &Path, cwd: Option<&Path>) -> Outcome {
    let mut cmd = weaves_command();
    cmd.arg("run").arg(file);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    run_command(cmd, format!("weaves run {}", file.display()))
}

/// Runs a built program natively (no weaves), e.g. to get reference output.
pub fn run_native(file: &str, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(module(file));
    cmd.args(args);
    run_command(cmd, format!("{file} {}", args.join(" ")))
}

/// Runs `file` natively once per argument list, each run successful, and
/// returns all their stdout lines, sorted: the reference for beads of `file`.
pub fn native_lines(file: &str, runs: &[&[&str]]) -> Vec<String> {
    let mut lines = Vec::new();
    for args in runs {
        let out = run_native(file, args);
        out.expect_success();
        lines.extend(out.stdout.lines().map(str::to_owned));
    }
    lines.sort();
    lines
}

/// Runs `cmd` to completion with [`RUN_TIMEOUT`], capturing stdout and stderr.
pub fn run_command(mut cmd: Command, what: String) -> Outcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).map(|_| buf)
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).map(|_| buf)
    });

    let deadline = Instant::now() + RUN_TIMEOUT;
    let (status, timed_out) = loop {
        match child.try_wait().expect("waiting for child") {
            Some(status) => break (status, false),
            None if Instant::now() >= deadline => {
                // Ignore the error: the child may have exited just now.
                let _ = child.kill();
                break (child.wait().expect("waiting for killed child"), true);
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out_reader
        .join()
        .expect("stdout reader")
        .expect("reading stdout");
    let stderr = err_reader
        .join()
        .expect("stderr reader")
        .expect("reading stderr");
    let outcome = Outcome {
        what,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(!timed_out, "timed out after {RUN_TIMEOUT:?}\n{outcome}");
    outcome
}

/// What a finished run left behind.
pub struct Outcome {
    /// The command, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ended with {}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

impl Outcome {
    /// The exit code; panics if the process was killed by a signal (a crash).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal (crashed)\n{self}"))
    }

    fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "weaves panicked instead of reporting an error\n{self}"
        );
    }

    /// Asserts exit status 0 and no panic message.
    pub fn expect_success(&self) -> &Self {
        self.assert_no_panic();
        assert_eq!(self.code(), 0, "expected success\n{self}");
        self
    }

    /// Asserts that the run failed with exactly `code` because of failed
    /// strings, and that stderr has one line for each `(string, status)` naming
    /// the string and its status.
    pub fn expect_failed_strings(&self, code: i32, failed: &[(&str, i32)]) -> &Self {
        self.assert_no_panic();
        assert_eq!(self.code(), code, "unexpected exit status\n{self}");
        for (name, status) in failed {
            let status = status.to_string();
            assert!(
                self.stderr
                    .lines()
                    .any(|l| contains_word(l, name) && contains_word(l, &status)),
                "no stderr line names failed string `{name}` with status {status}\n{self}"
            );
        }
        self
    }

    /// Asserts a clean configuration/load error: a non-zero exit code (not a
    /// crash), no panic, exactly one non-empty line on stderr, and that the
    /// line mentions every string in `mentions` (each as a whole word).
    pub fn expect_error(&self, mentions: &[&str]) -> &str {
        self.assert_no_panic();
        assert_ne!(self.code(), 0, "expected an error\n{self}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one error line on stderr\n{self}"
        );
        for m in mentions {
            assert!(
                contains_word(lines[0], m),
                "error does not mention `{m}`\n{self}"
            );
        }
        lines[0]
    }

    /// Like [`expect_error`](Self::expect_error), and the line also mentions at
    /// least one of `any_of` (case-insensitive substring).
    pub fn expect_error_with_any(&self, mentions: &[&str], any_of: &[&str]) -> &str {
        let line = self.expect_error(mentions);
        let lower = line.to_lowercase();
        assert!(
            any_of.iter().any(|w| lower.contains(&w.to_lowercase())),
            "error mentions none of {any_of:?}\n{self}"
        );
        line
    }

    /// Stdout lines, in the order printed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Stdout lines, sorted (for comparing output of concurrent strings).
    pub fn sorted_lines(&self) -> Vec<String> {
        sorted(self.stdout.lines())
    }

    /// Stdout lines starting with `prefix`.
    pub fn lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// The one stdout line starting with `prefix`; panics unless exactly one.
    pub fn line(&self, prefix: &str) -> &str {
        let found = self.lines_starting(prefix);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one stdout line starting `{prefix}`\n{self}"
        );
        found[0]
    }

    /// Asserts that no stdout or stderr line contains `text`.
    pub fn expect_absent(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "`{text}` must not appear\n{self}"
        );
        self
    }
}

/// Sorts lines into owned strings.
pub fn sorted<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = lines.into_iter().map(str::to_owned).collect();
    v.sort();
    v
}

/// The integer after `key=` in a line such as `app a0: calls=1 counter=8`.
pub fn field(line: &str, key: &str) -> i64 {
    let pat = format!("{key}=");
    let start = line
        .match_indices(&pat)
        .find(|(i, _)| *i == 0 || !is_word_char(line[..*i].chars().next_back().unwrap()))
        .map(|(i, _)| i + pat.len())
        .unwrap_or_else(|| panic!("no `{pat}` in line `{line}`"));
    let digits: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|e| panic!("bad number after `{pat}` in `{line}`: {e}"))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True if `word` occurs in `hay` not directly preceded or followed by a
/// letter, digit or underscore (so `modul` does not match inside `module`).
pub fn contains_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}
