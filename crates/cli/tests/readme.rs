//! The README keeps its word: its tour runs as written, from a copy of
//! `examples/tour/`, and prints what the README says it prints; the files
//! it shows are the files in the repository; every `weaves` command line in
//! the README and in docs/ names a real verb and real flags.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The README between `<!-- tour -->` and `<!-- /tour -->`.
fn tour(readme: &str) -> &str {
    let start = readme
        .find("<!-- tour -->")
        .expect("a <!-- tour --> marker");
    let end = readme
        .find("<!-- /tour -->")
        .expect("a <!-- /tour --> marker");
    &readme[start..end]
}

/// The fenced blocks of `text` whose info string is `lang` (`""`: none),
/// in order, each with its final newline.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<(bool, String)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim() == lang, String::new())),
            (Some(_), Some("")) => {
                if let Some((true, body)) = open.take() {
                    out.push(body);
                }
                open = None;
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Copies the tour's sources (not what a build left there) to
/// `dir/examples/tour`.
fn copy_tour(dir: &Path) -> PathBuf {
    let from = repo_root().join("examples/tour");
    let to = dir.join("examples/tour");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let keep = [".c", ".f90", ".toml", ".wvs"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if keep {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
    to
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} not found: the tour needs it (scripts/test.sh installs gfortran and MPICH)"
    );
}

/// What the README's shell blocks printed, command by command.
struct Transcript(Vec<(String, String)>);

impl Transcript {
    /// The output of the one command that is `command`, or else starts
    /// with it.
    fn of(&self, command: &str) -> &str {
        let mut found: Vec<&(String, String)> =
            self.0.iter().filter(|(c, _)| c == command).collect();
        if found.is_empty() {
            found = self
                .0
                .iter()
                .filter(|(c, _)| c.starts_with(command))
                .collect();
        }
        assert_eq!(
            found.len(),
            1,
            "expected one tour command starting `{command}`\n{self}"
        );
        &found[0].1
    }
}

impl std::fmt::Display for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (c, out) in &self.0 {
            writeln!(f, "$ {c}\n{out}")?;
        }
        Ok(())
    }
}

/// The last `counter at N` of `app`'s lines.
fn final_count(out: &str, app: &str) -> i64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{app}: done after")))
        .unwrap_or_else(|| panic!("no final line of {app} in:\n{out}"));
    number_after(line, "counter at ")
}

fn number_after(line: &str, prefix: &str) -> i64 {
    let at = line.find(prefix).expect("prefix") + prefix.len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{prefix}` in `{line}`"))
}

/// Must-show: a new user runs every step of the README's tour as written.
/// The commands run in one shell, in order, from a copy of the repository's
/// `examples/tour/` (only `cargo install` is left out: the test runs the
/// `weaves` this build made, put first on PATH). After a command that
/// starts a tapestry in the background, the shell waits until `weaves ps`
/// lists it, as a person reading on would have.
#[test]
fn the_readme_tour_runs_as_written() {
    for tool in ["cc", "gcc", "gfortran", "mpicc"] {
        require(tool);
    }
    let readme = readme();
    let tour = tour(&readme);
    let dir = scratch_dir("tour");
    copy_tour(&dir);
    let rt = dir.join("rt");
    std::fs::create_dir_all(&rt).unwrap();
    std::fs::set_permissions(&rt, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();

    // A marker line before each command, so its output can be told apart,
    // and its exit status after it.
    let mut script = String::new();
    let mut commands = Vec::new();
    for block in blocks(tour, "sh") {
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            if line.starts_with("cargo install") {
                continue;
            }
            let command = line.split("  #").next().unwrap().trim().to_owned();
            script.push_str(&format!(
                "echo '@@@ {}'\n{line}\necho \"@@= $?\"\n",
                commands.len()
            ));
            if command.starts_with("weaves run") && command.ends_with('&') {
                script.push_str(
                    "for _ in $(seq 1000); do [ -n \"$(weaves ps --format id)\" ] && break; sleep 0.02; done\n",
                );
            }
            commands.push(command);
        }
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_weaves")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("exec 2>&1\n{script}"))
        .current_dir(&dir)
        .env("PATH", path)
        .env("WEAVES_RUNTIME_DIR", &rt)
        .env_remove("RUST_LOG");
    let out = run_command(cmd, "the README's tour".into());
    // Split the output at the markers.
    let mut sections: Vec<(String, String)> = commands
        .iter()
        .map(|c| (c.clone(), String::new()))
        .collect();
    let mut current: Option<usize> = None;
    let mut failed = Vec::new();
    for line in out.stdout.lines() {
        if let Some(n) = line.strip_prefix("@@@ ") {
            current = n.parse().ok();
            continue;
        }
        if let Some(status) = line.strip_prefix("@@= ") {
            if status != "0" {
                failed.push(format!(
                    "`{}` exited with {status}",
                    commands[current.unwrap()]
                ));
            }
            continue;
        }
        if let Some(i) = current {
            sections[i].1.push_str(line);
            sections[i].1.push('\n');
        }
    }
    let t = Transcript(sections);
    assert!(failed.is_empty(), "{failed:?}\n{t}\n{out}");

    // 3. check and run.
    assert!(
        t.of("weaves check counters.toml")
            .contains("counters.toml: ok: 2 modules, 5 beads, 3 weaves, 3 strings"),
        "{t}"
    );
    let bindings = t.of("weaves -v check counters.toml");
    for (app, counter) in [("app0", "shared"), ("app1", "shared"), ("app2", "own")] {
        assert!(
            bindings.contains(&format!("bead `{app}`: counter_next -> bead `{counter}`")),
            "{t}"
        );
    }
    let counters = t.of("weaves run counters.toml");
    let shared = final_count(counters, "app0").max(final_count(counters, "app1"));
    assert_eq!(shared, 40, "app0 and app1 count to 40 together\n{t}");
    assert_eq!(final_count(counters, "app2"), 20, "{t}");
    assert_eq!(
        sorted(t.of("weaves run programs.toml").lines()),
        [
            "prog p0: 3 visits of my own",
            "prog p1: 3 visits of my own",
            "s0: steps=4 t=1.00",
            "s1: steps=4 t=1.00"
        ],
        "{t}"
    );
    // 4. One variable through a tuple space.
    let tuple = t.of("weaves run shared.toml");
    assert_eq!(
        final_count(tuple, "app0").max(final_count(tuple, "app1")),
        40,
        "{t}"
    );
    // 5. Live.
    assert!(t.of("weaves ps").contains(" live "), "{t}");
    let ps = t.of("weaves ps --format");
    let row: Vec<&str> = ps.trim().split('\t').collect();
    assert_eq!(&row[1..], ["live", "2", "2"], "{t}");
    assert!(t.of("weaves inspect live").contains("tapestry live"), "{t}");
    let applied = t.of("weaves apply live more.toml");
    assert!(
        applied.contains("applied more.toml:") && applied.contains("strings started: late"),
        "{t}"
    );
    assert!(
        t.of("weaves script live swap.wvs")
            .contains("`counter_next` of `app2` now binds to `shared`"),
        "{t}"
    );
    assert!(
        t.of("weaves inspect live | grep")
            .contains("counter_next -> shared (bead)"),
        "{t}"
    );
    let retired = t.of("weaves script live retire.wvs");
    for line in [
        "stop late",
        "remove string late",
        "remove weave w2",
        "remove bead app2",
    ] {
        assert!(retired.contains(line), "{t}");
    }
    assert!(
        t.of("weaves remove live bead own2")
            .contains("removed bead own2"),
        "{t}"
    );
    assert!(t.of("weaves stop live").contains("stopped tapestry"), "{t}");
    assert!(
        t.of("wait $!").contains("weaves run exited with 143"),
        "{t}"
    );
    // Its strings' output went to the file (stopped strings print no
    // closing line).
    assert!(dir.join("examples/tour/live.out").is_file());
    // 6. MPI.
    assert!(
        t.of("weaves mpirun -n 4 ./ring")
            .contains("ring: the token went round 4 ranks and came back as 8"),
        "{t}"
    );
    // 7. The error shown is the error printed.
    let shown = blocks(tour, "")
        .iter()
        .flat_map(|b| b.lines())
        .find(|l| l.contains("broken.toml"))
        .expect("the README shows broken.toml's error")
        .to_owned();
    assert_eq!(t.of("weaves check broken.toml").trim(), shown, "{t}");
    // Nothing is left running.
    std::thread::sleep(Duration::from_millis(10));
    let left = run_command(
        {
            let mut c = weaves_command();
            c.args(["ps", "--format", "id"])
                .env("WEAVES_RUNTIME_DIR", &rt);
            c
        },
        "weaves ps".into(),
    );
    assert_eq!(left.stdout, "", "{left}");
}

/// The files the README shows are the files the tour uses.
#[test]
fn the_readme_shows_the_tour_files_as_they_are() {
    let readme = readme();
    let tomls = blocks(tour(&readme), "toml");
    let counters =
        std::fs::read_to_string(repo_root().join("examples/tour/counters.toml")).unwrap();
    assert_eq!(
        tomls[0], counters,
        "README's counters.toml differs from the file"
    );
    let shared = std::fs::read_to_string(repo_root().join("examples/tour/shared.toml")).unwrap();
    assert!(
        shared.contains(&tomls[1]),
        "README's tuple space is not shared.toml's:\n{}",
        tomls[1]
    );
}

/// Every `weaves VERB …` line in a code block of the README or of docs/
/// names a verb `weaves --help` lists, and only flags `weaves VERB --help`
/// lists.
#[test]
fn every_weaves_command_in_the_docs_is_a_real_one() {
    let mut pages = vec![repo_root().join("README.md")];
    for e in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        pages.push(e.unwrap().path());
    }
    let mut checked = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for block in blocks(&text, "sh")
            .into_iter()
            .chain(blocks(&text, "console"))
        {
            for line in block.lines() {
                let line = line.trim_start_matches("$ ").trim();
                let Some(rest) = line.strip_prefix("weaves ") else {
                    continue;
                };
                // The command alone: no comment, pipe, redirection or list.
                let command = [" #", " |", " >", " 2>", " &", " ;"]
                    .iter()
                    .fold(rest, |c, cut| c.split(cut).next().unwrap());
                let words: Vec<&str> = command.split_whitespace().collect();
                // Global flags come before the verb.
                let verb = words.iter().find(|w| !w.starts_with('-'));
                let help = run_command(
                    {
                        let mut c = weaves_command();
                        c.args(verb.into_iter().chain(Some(&"--help")));
                        c
                    },
                    format!("weaves {} --help", verb.unwrap_or(&"")),
                );
                let verb = verb.unwrap_or(&"(no verb)");
                assert_eq!(
                    help.code(),
                    0,
                    "{}: `{line}`: `{verb}` is not a verb\n{help}",
                    page.display()
                );
                for flag in words.iter().filter(|w| w.starts_with('-')) {
                    let flag = flag.split('=').next().unwrap();
                    let flag = flag.trim_end_matches([',', ')', ';']);
                    let known = help.stdout.contains(&format!("{flag} "))
                        || help.stdout.contains(&format!("{flag},"))
                        || help.stdout.contains(&format!("{flag}\n"))
                        || help.stdout.contains(&format!("{flag} <"))
                        || ["-v", "-vv", "-q", "-n"].contains(&flag);
                    assert!(
                        known,
                        "{}: `{line}`: `weaves {verb}` has no {flag}\n{help}",
                        page.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} command lines found");
}
