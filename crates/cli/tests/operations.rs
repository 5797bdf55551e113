//! Daily operation: `weaves stop`, `weaves check`, `ps --filter/--format`,
//! exit statuses, what `-v`, `-q` and `RUST_LOG` show, and errors that name
//! the tapestry file and line.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::running::*;
use common::*;

/// Sleepers (safe points every 10 ms, for a long while) and a bead whose
/// finalisers print.
const SLEEPERS: &str = r#"
[tapestry]
name = "sleepy"
workers = 2

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[module]]
name = "fini"
path = "@MODS@/fini_mod.so"

[[bead]]
name = "s{i}"
module = "sleeper"
count = 3

[[bead]]
name = "f"
module = "fini"

[[weave]]
name = "w{i}"
count = 3
beads = ["s{i}"]

[[weave]]
name = "wf"
beads = ["f"]

[[string]]
weave = "w{i}"
count = 3
entry = "sleeper_main"
args = ["sleeper", "s{i}", "100000", "10000"]

[[string]]
name = "once"
weave = "wf"
entry = "fini_main"
args = ["fini"]
"#;

/// A string that spins without making any call, until a variable it never
/// sees set is set.
fn spinner(preempt_ms: u32) -> String {
    format!(
        r#"
[tapestry]
name = "spinner"
workers = 1
preempt_ms = {preempt_ms}

[[module]]
name = "spin"
path = "@MODS@/spin.so"

[[bead]]
name = "b"
module = "spin"

[[weave]]
name = "w"
beads = ["b"]

[[string]]
name = "spinning"
weave = "w"
entry = "spin_wait"
"#
    )
}

#[test]
fn stop_ends_strings_at_safe_points_runs_finalisers_and_the_run_exits_143() {
    let (running, ps) = start_running("stop_sleepers", SLEEPERS);
    let id = ps["id"].as_str().unwrap().to_owned();
    // `once` ran and ended; the sleepers sleep on.
    inspect_until(&running.rt, &id, "ended `once`", |i| {
        string_state(i, "once") == "done"
    });
    let out = weaves_cmd(&running.rt, &["stop", "sleepy"]);
    out.expect_success();
    assert_eq!(
        out.stdout,
        format!("stopped tapestry {id} (sleepy)\n"),
        "{out}"
    );
    let (status, stdout) = running.finish();
    assert_eq!(status.code(), Some(143), "{stdout}");
    // The finalisers ran: the destructor, then the atexit handler.
    assert!(stdout.contains("fini_mod f: destructor"), "{stdout}");
    assert!(
        stdout.contains("fini_mod f: atexit handler after 1 run(s)"),
        "{stdout}"
    );
}

#[test]
fn stop_ends_a_string_that_spins_in_its_own_code_at_a_preemption_tick() {
    let (running, ps) = start_running("stop_spinner", &spinner(10));
    let id = ps["id"].as_str().unwrap().to_owned();
    let out = weaves_cmd(&running.rt, &["stop", &id, "--timeout", "60"]);
    out.expect_success();
    let (status, _) = running.finish();
    assert_eq!(status.code(), Some(143));
}

#[test]
fn stop_kills_a_tapestry_whose_strings_never_reach_a_safe_point() {
    // No preemption: the spinner never reaches a safe point.
    let (running, ps) = start_running("stop_kill", &spinner(0));
    let id = ps["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let out = weaves_cmd(&running.rt, &["stop", &id, "--timeout", "0.5"]);
    assert_eq!(out.code(), 124, "{out}");
    assert!(
        out.stdout.contains(&format!(
            "killed tapestry {id} (spinner): it did not end within 0.5 s"
        )),
        "{out}"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    let (status, _) = running.finish();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

#[test]
fn stop_names_what_it_cannot_find() {
    let dir = scratch_dir("stop_nothing");
    let out = weaves_cmd(&dir.join("rt"), &["stop", "nosuch"]);
    assert_eq!(out.code(), 125, "{out}");
    out.expect_error(&["nosuch"]);
}

#[test]
fn check_loads_and_binds_without_running() {
    let dir = scratch_dir("check_good");
    let file = write_tapestry(&dir, "good.toml", SLEEPERS);
    let out = weaves_command()
        .arg("check")
        .arg(&file)
        .output()
        .expect("weaves check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // Nothing ran: not even the initialisers (fini_mod's would register an
    // atexit handler that prints).
    assert_eq!(
        stdout,
        format!(
            "{}: ok: 2 modules, 4 beads, 4 weaves, 4 strings; every import binds and every entry is found\n",
            file.display()
        )
    );
    let json = weaves_command()
        .args(["check", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["beads"], 4);
}

#[test]
fn check_lists_missing_functions_as_warnings_and_fails() {
    let dir = scratch_dir("check_missing");
    let file = write_tapestry(
        &dir,
        "missing.toml",
        r#"
[[module]]
name = "missing"
path = "@MODS@/missing.so"

[[bead]]
name = "lonely"
module = "missing"

[[weave]]
name = "w"
beads = ["lonely"]

[[string]]
weave = "w"
entry = "missing_main"
"#,
    );
    let mut cmd = weaves_command();
    cmd.arg("check").arg(&file);
    let out = run_command(cmd, "weaves check missing.toml".into());
    assert_eq!(out.code(), 1, "{out}");
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("weaves: warning: "))
        .unwrap_or_else(|| panic!("no warning\n{out}"));
    for word in [
        "missing.toml",
        "lonely",
        "no_such_fn_a",
        "no_such_fn_b",
        "first call",
    ] {
        assert!(contains_word(warning, word), "{word}: {warning}");
    }
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn ps_filters_and_prints_chosen_columns() {
    let (running, ps) = start_running("ps_format", SLEEPERS);
    let id = ps["id"].as_str().unwrap().to_owned();
    let out = weaves_cmd(&running.rt, &["ps", "--format", "id,name,strings,workers"]);
    out.expect_success();
    assert_eq!(out.stdout, format!("{id}\tsleepy\t4\t2\n"));
    let named = weaves_cmd(
        &running.rt,
        &["ps", "--filter", "name=sle*", "--format", "name"],
    );
    assert_eq!(named.stdout, "sleepy\n", "{named}");
    let none = weaves_cmd(&running.rt, &["ps", "--filter", "name=other", "--json"]);
    assert_eq!(none.stdout.trim(), "[]", "{none}");
    let file = weaves_cmd(&running.rt, &["ps", "--format", "file"]);
    assert!(
        Path::new(file.stdout.trim()).is_absolute(),
        "ps shows absolute paths: {file}"
    );
    let bad = weaves_cmd(&running.rt, &["ps", "--format", "id,strngs"]);
    assert_eq!(bad.code(), 125, "{bad}");
    bad.expect_error(&["strngs", "strings"]);
    weaves_cmd(&running.rt, &["stop", &id]).expect_success();
}

#[test]
fn exit_statuses_tell_weaves_errors_from_string_statuses() {
    // A string that returns 2: the run exits with 2.
    let returns_two = one_string_per_bead("exit_mod.so", 1, "exit_main", r#"["exit", "2"]"#);
    let out = run_tapestry("exit_status_two", &returns_two);
    assert_eq!(out.code(), 2, "{out}");
    // A tapestry weaves refuses: 125.
    let out = run_tapestry("exit_status_config", "[tapestry]\nnmae = \"x\"\n");
    assert_eq!(out.code(), 125, "{out}");
    // A command line weaves refuses: 125 too.
    for args in [&["run"][..], &["frobnicate"], &["ps", "--nope"]] {
        let mut cmd = weaves_command();
        cmd.args(args);
        let out = run_command(cmd, format!("weaves {}", args.join(" ")));
        assert_eq!(out.code(), 125, "{out}");
    }
    // Help is not an error.
    let mut cmd = weaves_command();
    cmd.arg("--help");
    let out = run_command(cmd, "weaves --help".into());
    assert_eq!(out.code(), 0, "{out}");
    for verb in ["stop", "check", "ps"] {
        assert!(out.stdout.contains(verb), "{out}");
    }
}

/// Two apps over one counter (for what `-v` shows).
const COUNTING: &str = r#"
[tapestry]
name = "counting"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "a{i}"
module = "app"
count = 2

[[bead]]
name = "c0"
module = "counter"

[[weave]]
name = "w{i}"
count = 2
beads = ["a{i}", "c0"]

[[string]]
weave = "w{i}"
count = 2
entry = "app_main"
args = ["app", "a{i}"]
"#;

fn run_with(test: &str, args: &[&str], env: &[(&str, &str)], text: &str) -> Outcome {
    let dir = scratch_dir(test);
    let file = write_tapestry(&dir, "t.toml", text);
    let mut cmd = weaves_command();
    cmd.args(args).arg("run").arg(&file).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd, format!("weaves {} run t.toml", args.join(" ")))
}

#[test]
fn verbose_shows_build_phases_and_bindings_and_quiet_only_errors() {
    let plain = run_with("log_plain", &[], &[], COUNTING);
    plain.expect_success();
    assert_eq!(plain.stderr, "", "{plain}");
    for (test, args, env) in [
        ("log_v", &["-v"][..], &[][..]),
        ("log_rust_log", &[], &[("RUST_LOG", "weaves=debug")][..]),
        // RUST_LOG wins over -q.
        (
            "log_rust_log_q",
            &["-q"],
            &[("RUST_LOG", "weaves=debug")][..],
        ),
    ] {
        let out = run_with(test, args, env, COUNTING);
        out.expect_success();
        for phase in ["load:", "map:", "bind:", "relocate:", "init:"] {
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.starts_with("weaves: debug: build{") && l.contains(phase)),
                "{test}: no `{phase}`\n{out}"
            );
        }
        for bead in ["a0", "a1"] {
            assert!(
                out.stderr
                    .contains(&format!("bind: bead `{bead}`: counter_next -> bead `c0`")),
                "{test}\n{out}"
            );
        }
    }
    // -vv: every import.
    let out = run_with("log_vv", &["-vv"], &[], COUNTING);
    assert!(
        out.stderr
            .contains("weaves: trace: build{tapestry=counting how=build}: bind: bead `a0`: counter_next -> bead `c0`"),
        "{out}"
    );
    // -q keeps errors only: no warning that the monitor cannot start.
    let dir = scratch_dir("log_quiet_rt");
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let rt = not_a_dir.join("rt");
    let rt = rt.to_str().unwrap();
    let warned = run_with("log_warn", &[], &[("WEAVES_RUNTIME_DIR", rt)], COUNTING);
    warned.expect_success();
    assert!(
        warned
            .stderr
            .starts_with("weaves: warning: no monitor for this run"),
        "{warned}"
    );
    let quiet = run_with(
        "log_quiet",
        &["-q"],
        &[("WEAVES_RUNTIME_DIR", rt)],
        COUNTING,
    );
    quiet.expect_success();
    assert_eq!(quiet.stderr, "", "{quiet}");
}

#[test]
fn rust_log_shows_the_steps_of_live_changes() {
    let dir = scratch_dir("log_live");
    let file = write_tapestry(&dir, "t.toml", SLEEPERS);
    let rt = dir.join("rt");
    let err = dir.join("stderr.txt");
    let mut child = weaves(&rt)
        .env("RUST_LOG", "weaves=debug")
        .arg("run")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while weaves_cmd(&rt, &["ps", "--format", "id"]).stdout.is_empty() {
        assert!(Instant::now() < deadline, "never listed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fragment = write_file(
        &dir,
        "more.toml",
        "[[bead]]\nname = \"late\"\nmodule = \"sleeper\"\n\n[[weave]]\nname = \"lw\"\nbeads = [\"late\"]\n",
    );
    weaves_cmd(&rt, &["apply", "sleepy", &fragment]).expect_success();
    let script = write_file(&dir, "s.wvs", "remove weave lw\n");
    weaves_cmd(&rt, &["script", "sleepy", &script]).expect_success();
    weaves_cmd(&rt, &["stop", "sleepy"]).expect_success();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let log = std::fs::read_to_string(&err).unwrap();
    for wanted in [
        "weaves: debug: change{what=apply}: build{tapestry=sleepy how=apply}: map: 1 bead(s)",
        "weaves: debug: change{what=apply}: done:",
        "weaves: debug: change{what=script}: line 1: remove weave lw: took effect",
        "weaves: SIGTERM: ending the tapestry",
    ] {
        assert!(log.contains(wanted), "no `{wanted}` in:\n{log}");
    }
}

#[test]
fn regression_a_wrong_module_path_names_the_tapestry_file_and_line() {
    // Was: `ap.so: cannot read module: No such file or directory`, with
    // neither the tapestry file nor the line.
    let text =
        "[tapestry]\nname = \"typo\"\n\n[[module]]\nname = \"app\"\npath = \"@MODS@/ap.so\"\n";
    let out = run_tapestry("module_path_typo", text);
    assert_eq!(out.code(), 125, "{out}");
    let line = out.expect_error(&["module_path_typo.toml", "line 6", "app", "ap.so"]);
    assert!(line.contains("did you mean `app.so`?"), "{line}");
}

#[test]
fn regression_ps_never_lists_a_tapestry_before_its_strings_are_counted() {
    // Was: under load, `ps` listed a tapestry whose strings were still
    // being made (0 of 4). 3,000 strings take a while to make.
    let text = one_string_per_bead(
        "sleeper.so",
        3000,
        "sleeper_main",
        r#"["s", "x", "100", "10000"]"#,
    );
    let dir = scratch_dir("ps_counts");
    let file = write_tapestry(&dir, "t.toml", &text);
    let rt = dir.join("rt");
    let _child = Running {
        child: weaves(&rt)
            .arg("run")
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
        rt: rt.clone(),
        dir: dir.clone(),
        stdout: dir.join("none"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if rt.exists() {
            let out = weaves_cmd(&rt, &["ps", "--format", "strings"]);
            if !out.stdout.is_empty() {
                assert_eq!(out.stdout, "3000\n", "{out}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "never listed");
    }
}

#[test]
fn regression_inspect_says_one_bead_not_one_beads() {
    let (running, ps) = start_running("inspect_plural", &spinner(10));
    let id = ps["id"].as_str().unwrap().to_owned();
    let out = weaves_cmd(&running.rt, &["inspect", &id]);
    out.expect_success();
    assert!(
        out.stdout
            .contains(": 1 bead, 1 weave, 1 string (1 live) on 1 worker, up "),
        "{out}"
    );
    assert!(
        out.stdout.contains("(shared object, 1 bead, build id "),
        "{out}"
    );
    weaves_cmd(&running.rt, &["stop", &id]).expect_success();
}

/// Every test runs `weaves` with a runtime directory of its own, so no
/// test's tapestry shows in the user's `weaves ps`: no test builds the
/// command itself, bypassing the helpers that set WEAVES_RUNTIME_DIR.
#[test]
fn regression_tests_never_use_the_users_runtime_directory() {
    let tests = repo_root().join("crates/cli/tests");
    let forbidden = ["Command::new(env!(\"CARGO_BIN_EXE_", "weaves\"))"].concat();
    for e in std::fs::read_dir(&tests).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains(&forbidden),
                "{} starts weaves without its own WEAVES_RUNTIME_DIR: use common::weaves_command()",
                path.display()
            );
        }
    }
    let common = std::fs::read_to_string(tests.join("common/mod.rs")).unwrap();
    assert!(common.contains(".env(\"WEAVES_RUNTIME_DIR\", runtime_dir())"));
}

#[test]
fn regression_a_checkpoint_into_the_periodic_directory_is_incremental() {
    // Was: `weaves checkpoint ID --dir images` into the directory the
    // periodic checkpointer writes made a full image: the file names the
    // directory `images`, the command line gave its absolute path, and the
    // two were compared as written.
    let text = SLEEPERS.replace(
        "workers = 2\n",
        "workers = 2\n\n[checkpoint]\ndir = \"images\"\ninterval_ms = 100\nkeep = 100\n",
    );
    // Run as a person would: from the tapestry's directory, by its
    // relative name.
    let dir = scratch_dir("ckpt_same_dir");
    write_tapestry(&dir, "t.toml", &text);
    let rt = dir.join("rt");
    let running = Running {
        child: weaves(&rt)
            .arg("run")
            .arg("t.toml")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
        rt: rt.clone(),
        dir: dir.clone(),
        stdout: dir.join("none"),
    };
    let images = dir.join("images");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&images).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".wvimg"))
            .count()
    }) == 0
    {
        assert!(Instant::now() < deadline, "no periodic image");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = weaves_cmd(&rt, &["ps", "--format", "id"])
        .stdout
        .trim()
        .to_owned();
    let taken = json_of(
        &running.rt,
        &[
            "checkpoint",
            &id,
            "--dir",
            images.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(taken["incremental"], true, "{taken}");
    // Milliseconds to the microsecond, not 2.0150569999999997.
    let total = taken["total_ms"].to_string();
    assert!(
        total.split('.').nth(1).is_none_or(|d| d.len() <= 3),
        "{total}"
    );
    weaves_cmd(&running.rt, &["stop", &id]).expect_success();
}
