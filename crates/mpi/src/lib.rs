//! In-process MPI: run an unmodified MPI program as N ranks in one
//! tapestry.
//!
//! The MPI library is a C module (`c/mpi.c`, `c/weaves_mpi.h`) speaking
//! MPICH's ABI: a program built with MPICH's `mpicc` needs
//! `libmpich.so.12`, and the tapestry declares this module under that
//! soname, so the program's dependency is satisfied by it and MPICH itself
//! is never loaded. The module is loaded **once**, as one bead shared by
//! every rank's weave; each rank is a private bead of the program (its
//! globals its own) and one string.
//!
//! ```text
//!   weave rank0: [ rank0 (program), mpivars0, mpifort, mpi ]   string rank0: main(argc, argv)
//!   weave rank1: [ rank1 (program), mpivars1, mpifort, mpi ]   string rank1: main(argc, argv)
//!   ...                                       ^ one bead each, shared
//! ```
//!
//! A rank learns who it is from its string's environment
//! (`WEAVES_MPI_RANK`, `WEAVES_MPI_SIZE`), which threads it starts inherit.
//! This crate holds the module's sources (the CLI compiles them with the
//! system C compiler into its cache) and writes the tapestry
//! ([`tapestry`]), which is also how to express an MPI run as a tapestry
//! file.

use std::path::Path;

/// The module's source files: (file name, contents).
pub const SOURCES: &[(&str, &str)] = &[
    ("weaves_mpi.h", include_str!("../c/weaves_mpi.h")),
    ("mpi.c", include_str!("../c/mpi.c")),
    ("datatypes.c", include_str!("../c/datatypes.c")),
    ("darray.c", include_str!("../c/darray.c")),
    ("nbc.c", include_str!("../c/nbc.c")),
    ("comm_more.c", include_str!("../c/comm_more.c")),
    ("graph.c", include_str!("../c/graph.c")),
    ("persist_coll.c", include_str!("../c/persist_coll.c")),
    ("intercomm.c", include_str!("../c/intercomm.c")),
    ("intercoll.c", include_str!("../c/intercoll.c")),
    ("rma.c", include_str!("../c/rma.c")),
    ("rma_more.c", include_str!("../c/rma_more.c")),
    ("attrs.c", include_str!("../c/attrs.c")),
    ("grequest.c", include_str!("../c/grequest.c")),
    ("mpifort.c", include_str!("../c/mpifort.c")),
    ("mpifort_more.c", include_str!("../c/mpifort_more.c")),
    ("vars.c", include_str!("../c/vars.c")),
];

/// The modules: (source, output file, extra compiler arguments). The
/// outputs carry the sonames MPICH programs ask for: the library, and its
/// Fortran bindings (which call the library's bead); and the variables
/// MPICH exports (`MPI_UNWEIGHTED`, …), a bead per rank, since a program
/// takes them by COPY relocation and a bead hands a variable to one
/// executable only.
pub const MODULES: &[(&str, &str, &[&str])] = &[
    (
        "mpi.c",
        "libmpich.so.12",
        &["-pthread", "-Wl,-soname,libmpich.so.12"],
    ),
    (
        "mpifort.c",
        "libmpichfort.so.12",
        &["-Wl,-soname,libmpichfort.so.12"],
    ),
    ("vars.c", "libweaves_mpi_vars.so", &[]),
];

/// Everything `weaves mpirun` runs.
pub struct Run<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub ranks: u32,
    pub workers: Option<u32>,
    /// Where the built modules are.
    pub library_dir: &'a Path,
    /// Extra environment of every rank (`mpirun -genv NAME VALUE`).
    pub env: &'a [(String, String)],
}

/// The tapestry (TOML) of an MPI run: one bead of the program per rank,
/// one MPI bead, a weave and a string per rank.
pub fn tapestry(run: &Run<'_>) -> String {
    let name = run
        .program
        .file_name()
        .map_or_else(|| "mpi".into(), |n| n.to_string_lossy().into_owned());
    let mut args = vec![toml_string(&name)];
    args.extend(run.args.iter().map(|a| toml_string(a)));
    let workers = run
        .workers
        .map(|w| format!("workers = {w}\n"))
        .unwrap_or_default();
    format!(
        r#"# `weaves mpirun -n {n} {prog}` as a tapestry.
[tapestry]
name = {tname}
{workers}
[[module]]
name = "program"
path = {prog_path}

# The MPI library and its Fortran bindings, under the sonames the program
# needs (libmpich.so.12, libmpichfort.so.12).
[[module]]
name = "mpi"
path = {lib_path}

[[module]]
name = "mpifort"
path = {fort_path}

# MPICH's exported variables (MPI_UNWEIGHTED, ...): a bead per rank, as
# each rank's program takes them by COPY relocation.
[[module]]
name = "mpivars"
path = {vars_path}

# One bead of each, shared by every rank.
[[bead]]
name = "mpi"
module = "mpi"

[[bead]]
name = "mpifort"
module = "mpifort"

# One private bead of the program per rank.
[[bead]]
name = "rank{{i}}"
module = "program"
count = {n}

[[bead]]
name = "mpivars{{i}}"
module = "mpivars"
count = {n}

[[weave]]
name = "rank{{i}}"
count = {n}
beads = ["rank{{i}}", "mpivars{{i}}", "mpifort", "mpi"]

[[string]]
name = "rank{{i}}"
count = {n}
weave = "rank{{i}}"
entry = "rank{{i}}:main"
args = [{args}]
env = {{ WEAVES_MPI_RANK = "{{i}}", WEAVES_MPI_SIZE = "{n}"{extra_env} }}
"#,
        n = run.ranks,
        prog = run.program.display(),
        tname = toml_string(&format!("mpirun {name}")),
        prog_path = toml_string(&run.program.display().to_string()),
        lib_path = toml_string(&run.library_dir.join(MODULES[0].1).display().to_string()),
        fort_path = toml_string(&run.library_dir.join(MODULES[1].1).display().to_string()),
        vars_path = toml_string(&run.library_dir.join(MODULES[2].1).display().to_string()),
        args = args.join(", "),
        extra_env = run
            .env
            .iter()
            .map(|(k, v)| format!(", {} = {}", toml_string(k), toml_string(v)))
            .collect::<String>(),
    )
}

/// A TOML basic string: how the tapestries `weaves mpirun` and
/// `weaves dsm` generate quote paths and arguments.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_for_toml() {
        assert_eq!(toml_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn the_tapestry_has_a_bead_weave_and_string_per_rank() {
        let t = tapestry(&Run {
            program: Path::new("/x/ring"),
            args: &["-v".into()],
            ranks: 6,
            workers: Some(2),
            library_dir: Path::new("/c"),
            env: &[("X".into(), "1".into())],
        });
        assert!(t.contains("count = 6"));
        assert!(t.contains(r#"args = ["ring", "-v"]"#));
        assert!(t.contains("workers = 2"));
        assert!(t.contains(r#"WEAVES_MPI_SIZE = "6", "X" = "1""#));
    }
}
