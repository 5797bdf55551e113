//! OpenMP programs (libgomp) as beads: their team threads are thread-mode
//! strings of the program's weave, their masters carry their own libgomp
//! state, and the output and exit status are those of native runs with the
//! same `OMP_NUM_THREADS`.

mod common;

use std::process::Command;

use common::running::*;
use common::*;

/// The team size every run here asks for: more threads than the two
/// workers, fewer than the beads' masters and threads together.
const TEAM: &str = "3";

/// Runs `program` natively once per tag with `OMP_NUM_THREADS` set; all
/// stdout lines, sorted.
fn native_lines_with_team(program: &str, tags: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for tag in tags {
        let mut cmd = Command::new(module(program));
        cmd.arg(tag).env("OMP_NUM_THREADS", TEAM);
        let out = run_command(cmd, format!("{program} {tag}"));
        out.expect_success();
        lines.extend(out.stdout.lines().map(str::to_owned));
    }
    lines.sort();
    lines
}

/// Runs `program` (the PIE and the shared object) as one bead per tag, on
/// one and on two workers, with `OMP_NUM_THREADS` set for `weaves` (libgomp
/// reads it once per process, when the tapestry loads it), and compares
/// the lines and the exit status with native runs.
fn as_natively(program: &str, test: &str) {
    let tags = ["a", "b", "c"];
    let expected = native_lines_with_team(program, &tags);
    assert!(expected.iter().any(|l| l == "a failures 0"), "{expected:?}");
    for file in [program.to_owned(), format!("{program}.so")] {
        for workers in [1, 2] {
            let argv: Vec<Vec<&str>> = tags.iter().map(|t| vec![program, t]).collect();
            let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
            let name = format!("{test}_{}_{workers}", file.replace('.', "_"));
            let dir = scratch_dir(&name);
            let tapestry = write_tapestry(
                &dir,
                &format!("{name}.toml"),
                &one_program_per_bead(&file, "main", workers, &argv),
            );
            let mut cmd = weaves_command();
            cmd.arg("run").arg(&tapestry).env("OMP_NUM_THREADS", TEAM);
            let out = run_command(cmd, format!("weaves run {}", tapestry.display()));
            out.expect_success();
            assert_eq!(
                out.sorted_lines(),
                expected,
                "{file} on {workers} worker(s)"
            );
        }
    }
}

/// `parallel for` with a reduction, `critical`, `barrier`, `single`,
/// `ordered`, tasks, plain and nested omp locks, `omp_get_thread_num` and a
/// nested `parallel` on two active levels, three programs at once. The
/// bugs this pins: masters sharing a worker shared one libgomp thread
/// state (team, pool, ICVs), and six such programs on one worker hung; and
/// a master that slept inside an unnamed `critical` let another program's
/// master wait inline for libgomp's one lock on the same worker, which then
/// never ran the sleeper again (it hung every time on one worker).
#[test]
fn openmp_teams_sized_by_omp_num_threads_run_as_natively() {
    as_natively("omp_native", "omp_native");
}

/// The same constructs from Fortran (`!$omp parallel do`, `omp_lib` locks).
#[test]
fn fortran_openmp_runs_as_natively() {
    as_natively("omp_fortran", "omp_fortran");
}

/// The bug: libgomp's team threads were invisible to `inspect` (OS threads
/// the runtime knew nothing of). Now each is a thread-mode string of the
/// program's weave, listed while the team waits inside its region; and the
/// run ends once the program does (its thread pool is released with it).
#[test]
fn openmp_team_threads_are_strings_listed_by_inspect() {
    let dir = scratch_dir("omp_held");
    let go = dir.join("go");
    let _ = std::fs::remove_file(&go);
    let text = format!(
        "[tapestry]\nname = \"omp\"\nworkers = 1\n\n[[module]]\nname = \"m\"\npath = \"@MODS@/omp_native\"\n\n[[bead]]\nname = \"b\"\nmodule = \"m\"\n\n[[weave]]\nname = \"w\"\nbeads = [\"b\"]\n\n[[string]]\nname = \"s\"\nweave = \"w\"\nentry = \"main\"\nargs = [\"omp_native\", \"h\", \"hold\", \"{}\"]\n",
        toml_escape(&go)
    );
    let (running, ps) = start_running("omp_held", &text);
    let id = ps["id"].as_str().expect("an id").to_owned();
    let team = |i: &serde_json::Value| -> Vec<(String, String)> {
        i["strings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| {
                        s["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("s/thread"))
                    })
                    .map(|s| {
                        (
                            s["weave"].as_str().unwrap_or_default().to_owned(),
                            s["mode"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let i = inspect_until(&running.rt, &id, "the team's two threads", |i| {
        team(i).len() == 2
    });
    assert!(
        team(&i).iter().all(|(w, m)| w == "w" && m == "thread"),
        "{i}"
    );
    std::fs::write(&go, "").expect("the file that releases the team");
    let (status, out) = running.finish();
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out.trim(), "h held team 3");
}
