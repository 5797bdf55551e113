//! `weaves mpirun -n N [--workers W] PROGRAM [ARGS…]`: an MPI program as N
//! ranks in one tapestry (see the `weaves-mpi` crate).

use std::path::{Path, PathBuf};

use crate::build_c;

pub(crate) fn run(
    ranks: u32,
    workers: Option<u32>,
    print_tapestry: bool,
    stats: bool,
    command: &[String],
) -> Result<i32, String> {
    if ranks == 0 {
        return Err("mpirun: -n must be at least 1".into());
    }
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
    });
    if print_tapestry {
        out!("{text}");
        return Ok(0);
    }
    // Errors name the run, and lines of the tapestry `--print-tapestry`
    // shows.
    let label = PathBuf::from(format!("mpirun -n {ranks} {}", program.display()));
    let plan = weaves_tapestry::Plan::parse(&label, &text).map_err(|e| e.to_string())?;
    crate::run_plan(plan, stats, true)
}

/// The program as mpirun finds it: a path (with a `/`), else a file in the
/// working directory, else on `$PATH`.
fn locate(program: &str) -> Result<PathBuf, String> {
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
