//! In-process MPI: programs built with MPICH's mpicc run as N ranks in one
//! tapestry (`weaves mpirun`) and print what MPICH's own mpirun prints.

mod common;

use std::process::Command;

use common::*;

/// MPICH must be installed (scripts/test.sh installs it): the test
/// programs are built with its mpicc, and its mpirun is the reference.
fn require_mpich() {
    for tool in ["mpicc", "mpirun"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} not found: the MPI tests need MPICH (apt-get install mpich libmpich-dev; scripts/test.sh does it)"
        );
    }
}

fn weaves_mpirun(n: u32, program: &str, args: &[&str]) -> Outcome {
    let mut cmd = common::weaves_command();
    cmd.args(["mpirun", "-n", &n.to_string(), "--workers", "2"])
        .arg(module(program))
        .args(args);
    run_command(cmd, format!("weaves mpirun -n {n} {program}"))
}

fn mpich_mpirun(n: u32, program: &str) -> Outcome {
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", &n.to_string()]).arg(module(program));
    run_command(cmd, format!("mpirun -n {n} {program}"))
}

/// Must-show: the same output as MPICH's mpirun for 1, 2, 6 and 16 ranks:
/// C (point to point ring, collectives, a Jacobi stencil with halo
/// exchange), Fortran 77 (`include 'mpif.h'`, COMMON blocks, MPI_IN_PLACE)
/// and Fortran 90 (`use mpi`, a stencil with halo exchange, requests).
#[test]
fn c_and_fortran_programs_print_what_mpich_prints_for_1_2_6_16_ranks() {
    require_mpich();
    for program in [
        "mpi_ring",
        "mpi_collectives",
        "mpi_jacobi",
        "mpi_fring",
        "mpi_fstencil",
    ] {
        for n in [1, 2, 6, 16] {
            let ours = weaves_mpirun(n, program, &[]);
            ours.expect_success();
            let theirs = mpich_mpirun(n, program);
            theirs.expect_success();
            assert!(!ours.stdout.is_empty(), "{program} -n {n} printed nothing");
            assert_eq!(
                ours.sorted_lines(),
                theirs.sorted_lines(),
                "{program} with {n} ranks differs from MPICH's mpirun"
            );
        }
    }
}

/// Must-show: globals, static arrays and heap objects stay private to each
/// of 64 ranks in one process.
#[test]
fn mutable_globals_stay_private_with_64_ranks() {
    require_mpich();
    let out = weaves_mpirun(64, "mpi_globals", &[]);
    out.expect_success();
    assert_eq!(
        out.lines(),
        ["globals: 64 ranks, 20 rounds, 0 corrupted values"]
    );
}

/// COMMON blocks of a Fortran program stay private to each of 64 ranks.
#[test]
fn fortran_common_blocks_stay_private_with_64_ranks() {
    require_mpich();
    let out = weaves_mpirun(64, "mpi_fring", &[]);
    out.expect_success();
    let lines = out.lines();
    assert_eq!(lines.len(), 64, "{out}");
    for line in lines {
        assert!(line.ends_with(" calls 3"), "{line}");
    }
}

/// Must-show: wrong usage gives an MPI error naming the rank and the call,
/// and ends the job with a non-zero status; no crash.
#[test]
fn wrong_usage_gives_mpi_errors() {
    require_mpich();
    let cases: &[(&str, &[&str])] = &[
        (
            // Both ranks do it; whichever is first ends the job.
            "before-init",
            &["MPI_Send called before MPI_Init"],
        ),
        (
            "bad-rank",
            &[
                "rank 0",
                "Fatal error in MPI_Send",
                "invalid rank 2 (MPI_COMM_WORLD has 2 ranks)",
            ],
        ),
        (
            "truncate",
            &[
                "rank 0",
                "Fatal error in MPI_Recv",
                "message truncated: 16 bytes from rank 1 (tag 3) for a buffer of 8",
            ],
        ),
        (
            "bad-type",
            &["Fatal error in MPI_Send", "invalid datatype 0x12345678"],
        ),
        ("unsupported", &["MPI_File_open not supported"]),
        (
            "no-finalize",
            &["rank 1 ended without calling MPI_Finalize"],
        ),
    ];
    for (mode, mentions) in cases {
        let out = weaves_mpirun(2, "mpi_errors", &[mode]);
        let line = out.expect_error(mentions);
        assert!(line.starts_with("weaves mpi: "), "{mode}: {line}");
    }
    let out = weaves_mpirun(2, "mpi_errors", &["returned"]);
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "rank 0: errors returned: rank MPI_ERR_RANK, count MPI_ERR_COUNT, tag MPI_ERR_TAG",
            "rank 1: errors returned: rank MPI_ERR_RANK, count MPI_ERR_COUNT, tag MPI_ERR_TAG",
        ]
    );
}

/// Every constant of weaves' MPI header has MPICH's value, and MPI_Status
/// has MPICH's layout.
#[test]
fn the_abi_is_mpichs() {
    require_mpich();
    let theirs = run_native("mpi_abi", &[]);
    theirs.expect_success();
    let header = std::fs::read_to_string(repo_root().join("crates/mpi/c/weaves_mpi.h")).unwrap();
    let mut checked = 0;
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define MPI_") else {
            continue;
        };
        let name = format!("MPI_{}", rest.split_whitespace().next().unwrap());
        let value = rest
            .split_whitespace()
            .skip(1)
            .collect::<String>()
            .replace(['(', ')'], "");
        let mut v = value.as_str();
        for cast in [
            "MPI_Comm",
            "MPI_Datatype",
            "MPI_Request",
            "MPI_Op",
            "MPI_Errhandler",
            "MPI_Group",
            "MPI_Message",
            "MPI_Info",
            "MPI_Win",
            "MPI_Status*",
            "void*",
        ] {
            if let Some(rest) = v.strip_prefix(cast) {
                v = rest;
            }
        }
        let ours: i64 = if v.starts_with("MPI_") {
            // An alias of another constant.
            theirs
                .line(&format!("{v} "))
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        } else if let Some(hex) = v.strip_prefix("0x") {
            i64::from(u32::from_str_radix(hex, 16).unwrap() as i32)
        } else {
            v.parse().unwrap_or_else(|_| panic!("cannot read `{line}`"))
        };
        let mpich: i64 = theirs
            .line(&format!("{name} "))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(ours, mpich, "{name}");
        checked += 1;
    }
    assert!(checked > 60, "only {checked} constants checked");
    assert_eq!(theirs.line("sizeof(MPI_Status) "), "sizeof(MPI_Status) 20");
    assert_eq!(
        theirs.line("offsetof(MPI_SOURCE) "),
        "offsetof(MPI_SOURCE) 8"
    );
    assert_eq!(theirs.line("offsetof(MPI_TAG) "), "offsetof(MPI_TAG) 12");
    assert_eq!(
        theirs.line("offsetof(MPI_ERROR) "),
        "offsetof(MPI_ERROR) 16"
    );
}

/// `--print-tapestry` shows the run as a tapestry file, and `weaves run`
/// of that file does the same.
#[test]
fn an_mpi_run_is_a_tapestry() {
    require_mpich();
    let mut cmd = common::weaves_command();
    cmd.args(["mpirun", "-n", "3", "--print-tapestry"])
        .arg(module("mpi_ring"));
    let printed = run_command(cmd, "weaves mpirun --print-tapestry".into());
    printed.expect_success();
    assert!(printed.stdout.contains("name = \"mpi\""), "{printed}");
    let dir = scratch_dir("mpi_tapestry");
    let file = dir.join("ring.toml");
    std::fs::write(&file, &printed.stdout).unwrap();
    let out = weaves_run(&file, None);
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        weaves_mpirun(3, "mpi_ring", &[]).sorted_lines()
    );
}

/// The bug: with two ranks or more, a program using `stdout` directly
/// (a COPY relocation in the executable) was refused at load ("bead `mpi`
/// is in weaves `rank0` and `rank1`, which bind `stdout` to bead `rank0`
/// and to bead `rank1`"), and one merely referencing an MPI function the
/// in-process MPI lacks was refused although it never called it.
#[test]
fn programs_using_stdout_and_referencing_missing_functions_run_as_ranks() {
    require_mpich();
    for n in [1, 2, 4, 7] {
        let ours = weaves_mpirun(n, "mpi_stdout", &[]);
        ours.expect_success();
        let theirs = mpich_mpirun(n, "mpi_stdout");
        theirs.expect_success();
        assert_eq!(ours.sorted_lines(), theirs.sorted_lines(), "{n} ranks");
        assert!(
            ours.stderr.contains("MPI_Comm_join") && ours.stderr.contains("only a call fails"),
            "one warning names what is missing:\n{ours}"
        );
    }
}

/// The bug: `weaves mpirun -np 4` was refused (`--np` required), and
/// `-genv`/`-env`/`-x`/`--oversubscribe` were not understood.
#[test]
fn mpirun_takes_mpichs_spellings() {
    require_mpich();
    let mut cmd = common::weaves_command();
    cmd.args([
        "mpirun",
        "-np",
        "3",
        "-genv",
        "X",
        "1",
        "-x",
        "Y=two",
        "--oversubscribe",
    ])
    .arg(module("mpi_env"));
    let ours = run_command(cmd, "weaves mpirun -np 3 -genv X 1 -x Y=two".into());
    ours.expect_success();
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", "3", "-genv", "X", "1", "-genv", "Y", "two"])
        .arg(module("mpi_env"));
    let theirs = run_command(cmd, "mpirun -np 3 -genv X 1 -genv Y two".into());
    theirs.expect_success();
    assert_eq!(ours.sorted_lines(), theirs.sorted_lines());
    assert!(ours.stdout.contains("rank 2 X=1 Y=two"), "{ours}");
}

/// Must-show: `weaves mpirun -np 4 -genv X 1 -l ./prog` behaves as MPICH's:
/// every line on stdout and stderr starts with `[RANK] ` (lines printed
/// with printf, through the program's own `stdout`, and on `stderr`).
#[test]
fn mpirun_l_prepends_each_line_with_its_rank_as_mpich_does() {
    require_mpich();
    let mut cmd = common::weaves_command();
    cmd.args(["mpirun", "-np", "4", "-genv", "X", "1", "-l"])
        .arg(module("mpi_env"));
    let ours = run_command(cmd, "weaves mpirun -np 4 -genv X 1 -l".into());
    ours.expect_success();
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", "4", "-genv", "X", "1", "-l"])
        .arg(module("mpi_env"));
    let theirs = run_command(cmd, "mpirun -np 4 -genv X 1 -l".into());
    theirs.expect_success();
    assert_eq!(ours.sorted_lines(), theirs.sorted_lines());
    let mut theirs_err: Vec<&str> = theirs.stderr.lines().collect();
    let mut ours_err: Vec<&str> = ours.stderr.lines().collect();
    theirs_err.sort_unstable();
    ours_err.sort_unstable();
    assert_eq!(ours_err, theirs_err);
    assert!(ours.stdout.contains("[3] rank 3 X=1 Y=-"), "{ours}");
    assert!(ours.stderr.contains("[2] rank 2 on stderr"), "{ours}");
}

/// `--timeout S` (and MPICH's `MPIEXEC_TIMEOUT`) ends a job that runs too
/// long with one line and MPICH's status, 255.
#[test]
fn mpirun_timeout_ends_the_job_with_mpichs_status() {
    require_mpich();
    let mut cmd = common::weaves_command();
    cmd.args(["mpirun", "-n", "2", "--timeout", "1"])
        .arg(module("mpi_env"))
        .arg("30");
    let out = run_command(cmd, "weaves mpirun --timeout 1".into());
    assert_eq!(out.code(), 255, "{out}");
    out.expect_error(&["timed", "out", "after", "1"]);
    let mut cmd = common::weaves_command();
    cmd.env("MPIEXEC_TIMEOUT", "1")
        .args(["mpirun", "-n", "2"])
        .arg(module("mpi_env"))
        .arg("30");
    let out = run_command(cmd, "MPIEXEC_TIMEOUT=1 weaves mpirun".into());
    assert_eq!(out.code(), 255, "{out}");
}

/// Must-show: collectives the ranks do not agree on end the job with one
/// line naming the ranks and what each called (MPICH hangs on them).
#[test]
fn mismatched_collectives_end_the_job_naming_ranks_and_calls() {
    require_mpich();
    let cases: &[(&str, &[&str])] = &[
        (
            "kind",
            &[
                "collective mismatch on MPI_COMM_WORLD",
                "rank 0 called MPI_Bcast (root 0, 16 bytes)",
                "ranks 1, 2, 3 called MPI_Allreduce (8 bytes, MPI_SUM)",
            ],
        ),
        (
            "root",
            &[
                "ranks 0, 2 called MPI_Bcast (root 0, 16 bytes)",
                "ranks 1, 3 called MPI_Bcast (root 1, 16 bytes)",
            ],
        ),
        (
            "count",
            &[
                "ranks 0, 1, 2 called MPI_Allreduce (16 bytes, MPI_SUM)",
                "rank 3 called MPI_Allreduce (8 bytes, MPI_SUM)",
            ],
        ),
        (
            "op",
            &[
                "rank 0 called MPI_Reduce (root 0, 16 bytes, MPI_MAX)",
                "ranks 1, 2, 3 called MPI_Reduce (root 0, 16 bytes, MPI_SUM)",
            ],
        ),
        (
            "finalize",
            &[
                "rank 0 called MPI_Finalize",
                "ranks 1, 2, 3 called MPI_Barrier",
            ],
        ),
    ];
    for (mode, mentions) in cases {
        let out = weaves_mpirun(4, "mpi_mismatch", &[mode]);
        assert_ne!(out.code(), 0, "{mode}: {out}");
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "{mode}: {out}");
        for m in *mentions {
            assert!(lines[0].contains(m), "{mode}: `{m}` not in: {}", lines[0]);
        }
    }
    let out = weaves_mpirun(4, "mpi_mismatch", &["agree"]);
    out.expect_success();
    assert_eq!(
        out.sorted_lines(),
        [
            "rank 0: sum 6",
            "rank 1: sum 6",
            "rank 2: sum 6",
            "rank 3: sum 6"
        ]
    );
}

/// Scan, Exscan, Reduce_scatter(_block), Allgatherv, Alltoallv, the
/// several-request completions (Waitany, Waitsome, Testany, Testall,
/// Testsome), Request_free and Dims_create: what MPICH prints, for 1, 2, 4
/// and 7 ranks.
#[test]
fn more_collectives_and_completions_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_more", &[1, 2, 4, 7]);
}

/// MINLOC/MAXLOC over pair types (the bug: refused), LXOR/BXOR, a
/// non-commutative user operation (MPI_Op_create) applied in rank order,
/// Error_class, the TAG_UB attribute, and Iprobe from MPI_PROC_NULL (the
/// bug: flag false): what MPICH prints.
#[test]
fn reductions_by_location_and_user_operations_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_ops", &[1, 2, 4, 7]);
}

/// Groups (incl, excl, set operations, translate, compare; Comm_create,
/// Comm_compare) and Cartesian topologies (Cart_create, coords, rank,
/// shift, get, sub, Topo_test): what MPICH prints.
#[test]
fn groups_and_cartesian_topologies_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_topo", &[1, 2, 4, 7]);
}

/// Persistent requests reused over rounds, buffered sends with an attached
/// buffer (per rank), Irsend, and a cancelled receive: what MPICH prints.
#[test]
fn persistent_buffered_and_cancelled_requests_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_requests", &[1, 2, 4, 7]);
}

/// Derived datatypes (vector, struct with Get_address and padding,
/// indexed with Get_count, subarray, resized, contiguous), a struct type
/// broadcast, and Pack/Unpack sent as MPI_PACKED: what MPICH prints.
#[test]
fn derived_datatypes_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_types", &[1, 2, 4, 7]);
}

/// The Fortran 90 bindings of those calls (`use mpi`): Scan, Exscan,
/// Allgatherv, Reduce_scatter_block, Waitany/Waitsome (indices from 1),
/// persistent requests, a user operation written in Fortran, MAXLOC over
/// 2DOUBLE_PRECISION (the bug: its index was read as an int), groups,
/// Comm_create, Cartesian topologies, a vector type, and Comm_get_attr
/// (the bug: Fortran's keyvals are C's plus one).
#[test]
fn fortran_bindings_of_the_newer_calls_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_fmore", &[1, 2, 4, 7]);
}

/// Matched probes (Mprobe/Mrecv of a message of unknown size, Improbe,
/// Imrecv, MPI_PROC_NULL), Alloc_mem, communicator names, user keyvals
/// with copy and delete callbacks, and Info objects: what MPICH prints.
#[test]
fn matched_probes_names_attributes_and_info_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_misc", &[1, 2, 4, 7]);
}

/// Non-blocking collectives overlapped with point-to-point traffic that
/// completes only after every rank has begun the collective (a blocking
/// implementation would deadlock), several in flight, completed in reverse
/// order, with MPI_IN_PLACE: what MPICH prints.
#[test]
fn nonblocking_collectives_overlap_as_mpich_lets_them() {
    require_mpich();
    same_as_mpich("mpi_nbc", &[1, 2, 4, 7]);
}

/// Every block-moving collective, blocking and non-blocking (Igather(v),
/// Iscatter(v), Iallgather(v), Ialltoall(v/w), Alltoallw,
/// Ireduce_scatter(_block), Iscan, Iexscan), a dozen in flight completed
/// in reverse order, MPI_IN_PLACE, and non-contiguous derived datatypes in
/// Gather, Allgather, Scatter and Alltoall (the bug: refused as "not
/// supported"): what MPICH prints, up to 16 ranks.
#[test]
fn block_moving_and_nonblocking_collectives_with_derived_types_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_icoll", &[1, 2, 4, 7, 16]);
}

/// Comm_split_type (shared memory: every rank), Comm_dup_with_info,
/// Comm_idup overlapped with traffic that needs every rank to have begun
/// it (a blocking dup deadlocks), and generalized requests with their
/// query, free and cancel callbacks: what MPICH prints, up to 16 ranks.
#[test]
fn split_type_idup_and_generalized_requests_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_comms", &[1, 2, 4, 7, 16]);
}

/// Graph topologies (a ring with every edge twice), weighted distributed
/// graphs, and the neighbourhood collectives (allgather(v), alltoall(v/w),
/// non-blocking too) on them and on Cartesian grids, where a neighbour
/// listed twice matches blocks as MPICH does: what MPICH prints, up to 16
/// ranks.
#[test]
fn graph_topologies_and_neighbourhood_collectives_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_graph", &[1, 2, 4, 7, 16]);
}

/// One-sided communication: windows made by Win_create, Win_allocate and
/// Win_allocate_shared; Put (also through a strided target type), Get,
/// Accumulate, Get_accumulate, Fetch_and_op and Compare_and_swap under
/// fences, exclusive and shared locks, lock_all with flushes; window
/// attributes and Win_shared_query: what MPICH prints, up to 16 ranks.
#[test]
fn one_sided_communication_prints_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_rma", &[1, 2, 4, 7, 16]);
}

/// Post/start/complete/wait (and Win_test) between neighbours: every rank
/// finds its left neighbour's blocks in its window after each round. The
/// program checks itself: Debian's MPICH puts these blocks into the wrong
/// windows, so its output is no reference here.
#[test]
fn post_start_complete_wait_delivers_each_block_to_its_target() {
    require_mpich();
    for n in [1, 2, 4, 7, 16] {
        let out = weaves_mpirun(n, "mpi_pscw", &[]);
        out.expect_success();
        let lines = out.sorted_lines();
        assert_eq!(lines.len(), n as usize, "{out}");
        assert!(lines.iter().all(|l| l.ends_with(" ok")), "{out}");
    }
}

/// Intercommunicators: two groups joined by Intercomm_create, point to
/// point between them (MPI_ANY_SOURCE naming a remote rank),
/// Comm_test_inter, Comm_remote_size, Comm_remote_group, and
/// Intercomm_merge: what MPICH prints, up to 16 ranks.
#[test]
fn intercommunicators_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_inter", &[1, 2, 4, 7, 16]);
}

/// The Fortran 90 bindings (`use mpi`) of the newer calls: Iallgather,
/// Ialltoall, Iscan, Comm_split_type, Comm_dup_with_info, Comm_idup, and
/// one-sided communication under fences and a shared lock: what MPICH
/// prints, up to 16 ranks.
#[test]
fn fortran_bindings_of_nonblocking_collectives_and_windows_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_fnew", &[1, 2, 4, 7, 16]);
}

/// Persistent collectives (MPI-4's `*_init`: Barrier, Bcast, Reduce,
/// Allreduce, Alltoall(v), Allgatherv, Scan, Exscan,
/// Reduce_scatter_block) started over rounds with new data, one by one
/// and with Startall, completed by Wait, Waitall and Test: what MPICH
/// prints, up to 16 ranks.
#[test]
fn persistent_collectives_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_pcoll", &[1, 2, 4, 7, 16]);
}

/// Gather_init, Allgather_init, Scatter_init and Neighbor_allgather_init
/// give what their blocking forms give, round after round. The program
/// checks itself: Debian's MPICH 4.0.2 delivers init-time data or fails
/// in these, so its output is no reference here.
#[test]
fn persistent_gathers_and_scatters_give_what_the_blocking_ones_give() {
    require_mpich();
    for n in [1, 2, 4, 7, 16] {
        let out = weaves_mpirun(n, "mpi_pcoll_self", &[]);
        out.expect_success();
        let lines = out.sorted_lines();
        assert_eq!(lines.len(), n as usize, "{out}");
        assert!(lines.iter().all(|l| l.ends_with(": ok")), "{out}");
    }
}

/// Request-based one-sided operations (Rput, Rget, Raccumulate,
/// Rget_accumulate), a dynamic window reached through attached memory's
/// addresses, and user attributes on windows and datatypes with copy and
/// delete callbacks: what MPICH prints, up to 16 ranks.
#[test]
fn request_based_rma_dynamic_windows_and_object_attributes_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_rma_more", &[1, 2, 4, 7, 16]);
}

/// Reductions over non-contiguous derived datatypes (a vector, a resized
/// struct with a gap, an indexed type, a contiguous type) with user
/// operations that walk the type's layout, commutative or not, in
/// Allreduce, Reduce, Reduce_scatter(_block), Scan, Exscan and the
/// non-blocking forms, with MPI_IN_PLACE (the bug: refused as "not
/// supported"): what MPICH prints, up to 16 ranks.
#[test]
fn reductions_over_non_contiguous_datatypes_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_dtreduce", &[1, 2, 4, 7, 16]);
}

/// Type_create_darray (block, cyclic, cyclic(k), none; C and Fortran
/// order; ranks owning nothing: the bug, MPI_Type_size refused a derived
/// type of size 0) and Dist_graph_create, the non-adjacent form, weighted
/// and with MPI_UNWEIGHTED (the bug: a program using it failed to load
/// with two ranks or more, both executables taking the shared MPI bead's
/// variable by COPY relocation): what MPICH prints, up to 16 ranks.
#[test]
fn darrays_and_distributed_graphs_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_darray", &[1, 2, 4, 7, 16]);
}

/// Collectives on an intercommunicator between groups of different
/// sizes (Barrier, Bcast with MPI_ROOT and MPI_PROC_NULL, Allreduce,
/// Allgather, Alltoall, Reduce, Gather, Scatter, Ibcast, Iallreduce,
/// Ialltoall; the bug: refused as "not supported"): what MPICH prints, up
/// to 16 ranks.
#[test]
fn collectives_on_intercommunicators_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_intercoll", &[1, 2, 4, 7, 16]);
}

/// The Fortran 90 bindings (`use mpi`) of graph topologies, distributed
/// graphs (adjacent and weighted; non-adjacent with MPI_UNWEIGHTED, the
/// rank's own COMMON block), neighbourhood collectives, generalized
/// requests with Fortran callbacks, one-sided calls under lock_all
/// (Fetch_and_op, Compare_and_swap, Get_accumulate, Rput,
/// Rget_accumulate, flushes, Win_get_attr), Type_create_darray and
/// persistent collectives: what MPICH prints, up to 16 ranks.
#[test]
fn fortran_bindings_of_graphs_generalized_requests_and_rma_print_what_mpich_prints() {
    require_mpich();
    same_as_mpich("mpi_fgraph", &[1, 2, 4, 7, 16]);
}

/// `program`'s sorted output under weaves and MPICH for each rank count.
/// Each rank prints one `rank N: …` line; MPICH's launcher sometimes
/// splices two ranks' long lines together, so the reports are split at
/// each `rank N:` rather than at line ends.
fn same_as_mpich(program: &str, counts: &[u32]) {
    for &n in counts {
        let ours = weaves_mpirun(n, program, &[]);
        ours.expect_success();
        let theirs = mpich_mpirun(n, program);
        theirs.expect_success();
        assert_eq!(ours.lines().len(), n as usize, "{ours}");
        assert_eq!(
            rank_reports(&ours.stdout),
            rank_reports(&theirs.stdout),
            "{program}, {n} ranks"
        );
    }
}

/// The `rank N: …` reports in `out`, sorted, wherever lines were split.
fn rank_reports(out: &str) -> Vec<String> {
    let text: String = out.lines().collect::<Vec<_>>().join("");
    let mut starts: Vec<usize> = text
        .match_indices("rank ")
        .filter(|(i, _)| {
            text[i + 5..]
                .split(':')
                .next()
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(i, _)| i)
        .collect();
    starts.push(text.len());
    let mut reports: Vec<String> = starts
        .windows(2)
        .map(|w| text[w[0]..w[1]].trim().to_owned())
        .collect();
    reports.sort();
    reports
}

/// The bug: the derived-datatype table is the whole job's, and a slot was
/// taken by a plain test of `used`, so two ranks building types at once
/// on two workers got the same handle; the second `MPI_Type_free` failed
/// ("not a derived datatype: 0xcc000001") or freed the blocks twice, in
/// about one run of `mpi_icoll` on 7 ranks in three.
#[test]
fn derived_types_built_by_ranks_at_once_get_handles_of_their_own() {
    for _ in 0..12 {
        weaves_mpirun(7, "mpi_icoll", &[]).expect_success();
    }
}
