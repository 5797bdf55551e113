//! `weaves mpirun -n N [--workers W] PROGRAM [ARGS…]`: an MPI program as N
//! ranks in one tapestry (see the `weaves-mpi` crate).

use std::path::{Path, PathBuf};

use crate::build_c;

/// How the job is watched: labelled output, a time limit.
pub(crate) struct Launch {
    pub(crate) label: bool,
    pub(crate) timeout: Option<u64>,
}

pub(crate) fn run(
    ranks: u32,
    workers: Option<u32>,
    print_tapestry: bool,
    stats: bool,
    env: &[String],
    launch: Launch,
    command: &[String],
) -> Result<i32, String> {
    if ranks == 0 {
        return Err("mpirun: -n must be at least 1".into());
    }
    let env = env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("mpirun: --env {e}: say NAME=VALUE")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (program, args) = command
        .split_first()
        .ok_or("mpirun: which program? (weaves mpirun -n N PROGRAM [ARGS…])")?;
    let program = locate(program)?;
    let dir = build_c::cache_dir("mpi")?;
    build_c::build_with(&dir, weaves_mpi::SOURCES, weaves_mpi::MODULES, true)?;
    let text = weaves_mpi::tapestry(&weaves_mpi::Run {
        program: &program,
        args,
        ranks,
        workers,
        library_dir: &dir,
        env: &env,
    });
    if print_tapestry {
        out!("{text}");
        return Ok(0);
    }
    // Errors name the run, and lines of the tapestry `--print-tapestry`
    // shows.
    let name = PathBuf::from(format!("mpirun -n {ranks} {}", program.display()));
    let plan = weaves_tapestry::Plan::parse(&name, &text).map_err(|e| e.to_string())?;
    let timeout = launch.timeout.or_else(|| {
        std::env::var("MPIEXEC_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&s| s > 0)
    });
    let label = launch.label;
    let status = crate::run_plan_with(plan, stats, true, |tapestry| {
        if label {
            let copies: Vec<(u64, i32)> = tapestry
                .copied_variables("stdout")
                .into_iter()
                .map(|a| (a, 1))
                .chain(
                    tapestry
                        .copied_variables("stderr")
                        .into_iter()
                        .map(|a| (a, 2)),
                )
                .collect();
            // SAFETY: the addresses are the rank beads' COPY relocations of
            // the C library's `stdout` and `stderr`, and no string runs yet.
            unsafe { weaves_interpose::labels::label_output(&copies) };
        }
        if let Some(s) = timeout {
            end_after(s);
        }
    });
    if label {
        weaves_interpose::labels::flush_labels();
    }
    status
}

/// Ends the job after `seconds`, as MPICH's launcher does (exit status
/// 255), whatever the ranks are doing.
fn end_after(seconds: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(seconds));
        eprintln!(
            "weaves mpirun: the job timed out after {seconds} s (as MPICH's APPLICATION TIMED OUT)"
        );
        // SAFETY: ends the process at once; the ranks are abandoned, as a
        // launcher's SIGKILL abandons processes.
        unsafe { libc::_exit(255) };
    });
}

/// The program as mpirun finds it: a path (with a `/`), else a file in the
/// working directory, else on `$PATH`.
pub(crate) fn locate(program: &str) -> Result<PathBuf, String> {
    let direct = Path::new(program);
    let found = if program.contains('/') || direct.is_file() {
        Some(direct.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    let path = found.ok_or_else(|| format!("mpirun: {program}: no such program"))?;
    std::path::absolute(&path).map_err(|e| format!("mpirun: {}: {e}", path.display()))
}

/// MPICH's `mpirun` spellings, rewritten into this command's own before
/// parsing: `-np N` (`-n N` and `-n4` parse as they are), `-genv NAME
/// VALUE` and `-env NAME VALUE` (`--env NAME=VALUE`), `-x NAME[=VALUE]`
/// (Open MPI's; without a value, this process's), `--oversubscribe`
/// (meaningless here: ranks are strings, not processes; dropped). Only the
/// words before the program are looked at.
pub(crate) fn mpich_spellings(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use std::ffi::OsString;
    let Some(at) = args.iter().position(|a| a == "mpirun") else {
        return args;
    };
    let mut out: Vec<OsString> = args[..=at].to_vec();
    let mut rest = args[at + 1..].iter().cloned();
    while let Some(word) = rest.next() {
        let Some(w) = word.to_str() else {
            out.push(word);
            out.extend(rest);
            break;
        };
        match w {
            "-np" => {
                out.push("--np".into());
                out.extend(rest.next());
            }
            "-genv" | "-env" => {
                let (name, value) = (rest.next(), rest.next());
                if let (Some(name), Some(value)) = (name, value) {
                    let mut pair = name;
                    pair.push("=");
                    pair.push(value);
                    out.push("--env".into());
                    out.push(pair);
                } else {
                    // Let the parser say what is missing.
                    out.push("--env".into());
                }
            }
            "-x" => {
                if let Some(spec) = rest.next() {
                    let spec = match spec.to_str() {
                        Some(s) if !s.contains('=') => {
                            let value = std::env::var_os(s).unwrap_or_default();
                            let mut pair = spec.clone();
                            pair.push("=");
                            pair.push(value);
                            pair
                        }
                        _ => spec,
                    };
                    out.push("--env".into());
                    out.push(spec);
                }
            }
            "--oversubscribe" => {}
            "-prepend-rank" => out.push("-l".into()),
            "-n" | "--np" | "--workers" | "--env" => {
                out.push(word.clone());
                out.extend(rest.next());
            }
            _ if w.starts_with('-') => out.push(word.clone()),
            _ => {
                // The program: it and its arguments pass as they are.
                out.push(word.clone());
                out.extend(rest);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spell(words: &str) -> Vec<String> {
        let args = words.split(' ').map(std::ffi::OsString::from).collect();
        mpich_spellings(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn mpich_options_become_ours_up_to_the_program() {
        assert_eq!(
            spell(
                "weaves mpirun -np 4 -genv X 1 -env Y two --oversubscribe ./prog -np 9 -genv a b"
            ),
            [
                "weaves", "mpirun", "--np", "4", "--env", "X=1", "--env", "Y=two", "./prog", "-np",
                "9", "-genv", "a", "b"
            ]
        );
        assert_eq!(
            spell("weaves mpirun -n4 -x A=b prog"),
            ["weaves", "mpirun", "-n4", "--env", "A=b", "prog"]
        );
        assert_eq!(spell("weaves ps --json"), ["weaves", "ps", "--json"]);
    }
}
