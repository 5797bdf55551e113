//! `weaves`: run compositions of unmodified compiled modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod output;

mod bench;
mod bench_checkpoint;
mod bench_clustered;
mod bench_dsm;
mod bench_more;
mod bench_mpi;
mod bench_parallel;
mod bench_swap;
mod bench_wasm;
mod build_c;
mod check;
mod checkpoint;
mod demo;
mod dsm;
mod exit;
mod log;
mod monitor;
mod mpirun;
mod plot;
mod stop;

/// The runtime's Rust allocations never land in a bead's heap (see
/// `weaves_interpose::RuntimeAllocator`).
#[global_allocator]
static RUNTIME_ALLOCATOR: weaves_interpose::RuntimeAllocator = weaves_interpose::RuntimeAllocator;

#[derive(Parser)]
#[command(
    name = "weaves",
    version,
    about = "Load unmodified ELF modules many times into one process, wire them into weaves, run strings through them"
)]
struct Cli {
    /// Say more about what the runtime does on stderr: -v build phases,
    /// bindings, checkpoint phases and live-change steps; -vv every import.
    /// RUST_LOG (e.g. RUST_LOG=weaves=debug) wins when set.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors from the runtime itself on stderr (not the strings'
    /// output). RUST_LOG wins when set.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a tapestry until every string ends; exit 0 iff every string returned 0.
    Run {
        /// The tapestry file (TOML).
        tapestry: PathBuf,
        /// Print build timings (bead instantiation) to stderr.
        #[arg(long)]
        stats: bool,
        /// Run so that `weaves checkpoint` works (a reproducible address
        /// layout; implied by a [checkpoint] table).
        #[arg(long)]
        checkpointable: bool,
        /// Run every Wasm bead under this engine (wasmtime or wasmi),
        /// whatever the tapestry file says.
        #[arg(long)]
        engine: Option<String>,
    },
    /// Take a checkpoint image of a running checkpointable tapestry.
    Checkpoint {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// Write the image here.
        #[arg(short = 'o', long = "output", conflicts_with = "dir")]
        output: Option<PathBuf>,
        /// Write it into this directory as its next image.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A full image, even where an incremental one (only the pages written since the
        /// previous image in the same directory) could be taken.
        #[arg(long)]
        full: bool,
        /// Refuse if the tapestry holds state that cannot be restored (sockets, pipes, devices).
        #[arg(long)]
        strict: bool,
        /// One JSON object: path, bytes, pages, pause_us, total_ms, incremental.
        #[arg(long)]
        json: bool,
    },
    /// Roll a running tapestry back to a checkpoint image (it keeps its id).
    Rollback {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// An image, or a checkpoint directory (its newest complete image).
        path: PathBuf,
    },
    /// Restore a checkpointed tapestry into this process and run it on.
    Restore {
        /// An image, or a checkpoint directory (its newest complete image).
        path: PathBuf,
        /// Print timings to stderr.
        #[arg(long)]
        stats: bool,
        /// Resume every Wasm string under this engine (wasmtime or wasmi),
        /// whichever it was checkpointed under.
        #[arg(long)]
        engine: Option<String>,
        /// When the run first started (a rollback passes it on, for the
        /// monitor's uptime).
        #[arg(long, hide = true)]
        started_at_ms: Option<u64>,
    },
    /// End a running tapestry as SIGTERM does: strings end at their next
    /// safe point, finalisers run, `weaves run` exits with 143.
    Stop {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// Kill it (SIGKILL) if it has not ended after this many seconds;
        /// `weaves stop` then exits with 124.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Check a tapestry without running it: parse, load, map, bind and
    /// relocate everything, find every entry; 0 if `weaves run` would start
    /// it, 1 if it would refuse it (what is wrong goes to stderr).
    Check {
        /// The tapestry file (TOML).
        tapestry: PathBuf,
        /// One object: file, ok, counts, errors, warnings.
        #[arg(long)]
        json: bool,
    },
    /// Build the bundled example modules with the system C compiler and run the showcase.
    Demo {
        /// Where to build the examples (default: the user's cache directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List running tapestries (this user's).
    Ps {
        /// An array of objects (see docs/monitor.md).
        #[arg(long)]
        json: bool,
        /// Only tapestries whose KEY matches VALUE: id=ID, name=PATTERN,
        /// file=PATTERN (`*` and `?` match any text and any one character).
        /// Repeat to narrow further.
        #[arg(long, short = 'f', value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// Print only these columns, tab-separated, without a header: a
        /// comma-separated list of id, pid, name, beads, weaves, strings,
        /// live, workers, uptime, uptime_ms, file.
        #[arg(long, value_name = "COLUMNS", conflicts_with = "json")]
        format: Option<String>,
    },
    /// Show one running tapestry: modules, beads, weaves, wiring, strings.
    Inspect {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// One object (see docs/monitor.md).
        #[arg(long)]
        json: bool,
    },
    /// Add modules, beads, weaves, strings and bindings to a running tapestry.
    Apply {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// A fragment: the tapestry schema without [tapestry]; it may name what is running.
        fragment: PathBuf,
        /// Print what was added as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Take a bead, weave, string or binding out of a running tapestry.
    Remove {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// bead, weave, string (ended ones) or binding (named by its `bead.iface` out-interface).
        kind: String,
        /// The element's name (a binding's: its out-interface, `bead.iface`).
        name: String,
    },
    /// Replace a live bead by a new version of its module while its clients run.
    Swap {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// The bead to replace.
        bead: String,
        /// The new version (an ELF shared object or PIE built for x86-64).
        new_module: PathBuf,
        /// How the old version's state reaches the new one: auto (the best
        /// both offer), by-reference, by-symbol, hooks or none.
        #[arg(long, default_value = "auto")]
        transfer: String,
        /// Abort (leaving the old version in place) if a string is still
        /// inside the old bead after this many milliseconds.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        timeout: u64,
        /// Print the swap's report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move a running Wasm string to another engine at its next reconfiguration point.
    Migrate {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// The string to move.
        string: String,
        /// The engine to move it to: wasmtime or wasmi.
        #[arg(long)]
        engine: String,
    },
    /// Draw the access pattern a `weaves dsm --trace FILE` run recorded:
    /// pages against time, read and write faults coloured, one band per node.
    Plot {
        /// The trace file (JSON Lines, see docs/dsm.md).
        trace: PathBuf,
        /// The picture to write; its extension chooses the format (.png or .svg).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a reconfiguration script (one monitor command per line; `atomic { … }` blocks).
    Script {
        /// The id `weaves ps` shows, or a tapestry name only one running tapestry has.
        id: String,
        /// The script (see docs/monitor.md); fragments it applies are
        /// relative to it.
        file: PathBuf,
    },
    /// Run an MPI program (built with MPICH's mpicc/mpif77/mpif90) as N ranks in one tapestry.
    Mpirun {
        /// Number of ranks.
        #[arg(short = 'n', long = "np")]
        ranks: u32,
        /// Worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<u32>,
        /// Print the tapestry this run is, instead of running it.
        #[arg(long)]
        print_tapestry: bool,
        /// Print build timings to stderr.
        #[arg(long)]
        stats: bool,
        /// NAME=VALUE in every rank's environment (also spelt as MPICH's
        /// `-genv NAME VALUE`, `-env NAME VALUE`, or `-x NAME[=VALUE]`).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Start each line a rank prints with `[RANK] `, as MPICH's `-l`
        /// (also spelt `-prepend-rank`).
        #[arg(short = 'l', long = "prepend-rank")]
        label: bool,
        /// End the job after this many seconds (MPICH reads
        /// `MPIEXEC_TIMEOUT`; so does this).
        #[arg(long, value_name = "S")]
        timeout: Option<u64>,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run an unmodified pthread program on N node processes sharing one
    /// address space (distributed shared memory; see docs/dsm.md).
    Dsm {
        #[command(flatten)]
        options: dsm::Options,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Built-in benchmarks printing ratios against their baselines.
    Bench {
        /// Which benchmark: switch, beads, flows, mpi, checkpoint, swap, clustered, wasm, parallel or dsm.
        name: String,
        /// One JSON object of the figures instead of the report.
        #[arg(long)]
        json: bool,
        /// Iterations (for switch: yields per string; for checkpoint: MiB of heap;
        /// for clustered: adds per thread; for parallel: runs; for dsm: the matrix size).
        #[arg(short = 'n', long)]
        iterations: Option<u64>,
    },
}

fn main() -> ExitCode {
    // Keep the interposed definitions in the binary (see build.rs).
    std::hint::black_box(weaves_interpose::link_exports());
    weaves_interpose::init();
    let cli = match Cli::try_parse_from(mpirun::mpich_spellings(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => return exit::usage(&e),
    };
    log::init(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Run {
            tapestry,
            stats,
            checkpointable,
            engine,
        } => run(&tapestry, stats, checkpointable, engine.as_deref()),
        Command::Checkpoint {
            id,
            output,
            dir,
            full,
            strict,
            json,
        } => checkpoint::checkpoint(&id, output.as_deref(), dir.as_deref(), (strict, full), json),
        Command::Restore {
            path,
            stats,
            engine,
            started_at_ms,
        } => checkpoint::restore(&path, stats, engine.as_deref(), started_at_ms),
        Command::Stop { id, timeout } => stop::stop(&id, timeout),
        Command::Check { tapestry, json } => check::check(&tapestry, json),
        Command::Rollback { id, path } => checkpoint::rollback(&id, &path),
        Command::Demo { dir } => demo::run(dir),
        Command::Ps {
            json,
            filter,
            format,
        } => monitor::ps(json, &filter, format.as_deref()),
        Command::Inspect { id, json } => monitor::inspect(&id, json),
        Command::Apply { id, fragment, json } => monitor::apply(&id, &fragment, json),
        Command::Remove { id, kind, name } => monitor::remove(&id, &kind, &name),
        Command::Swap {
            id,
            bead,
            new_module,
            transfer,
            timeout,
            json,
        } => monitor::swap(&id, &bead, &new_module, &transfer, timeout, json),
        Command::Script { id, file } => monitor::script(&id, &file),
        Command::Migrate { id, string, engine } => monitor::migrate(&id, &string, &engine),
        Command::Plot { trace, output } => plot::plot(&trace, &output).map_err(|e| e.to_string()),
        Command::Mpirun {
            ranks,
            workers,
            print_tapestry,
            stats,
            env,
            label,
            timeout,
            command,
        } => mpirun::run(
            ranks,
            workers,
            print_tapestry,
            stats,
            &env,
            mpirun::Launch { label, timeout },
            &command,
        ),
        Command::Dsm { options, command } => dsm::run(options, &command),
        Command::Bench {
            name,
            json,
            iterations,
        } => bench::run(&name, json, iterations),
    };
    match result {
        Ok(code) => exit::of_run(code),
        Err(message) => {
            eprintln!("weaves: {message}");
            ExitCode::from(exit::OWN_ERROR)
        }
    }
}

/// Builds and runs a tapestry; returns the exit status for the process.
pub(crate) fn run(
    path: &std::path::Path,
    stats: bool,
    checkpointable: bool,
    engine: Option<&str>,
) -> Result<i32, String> {
    let mut plan = weaves_tapestry::Plan::load(path).map_err(|e| e.to_string())?;
    if let Some(e) = engine {
        plan.set_wasm_engine(weaves_tapestry::wasm::EngineKind::parse(e)?);
    }
    if checkpointable || plan.checkpoint.is_some() {
        checkpoint::ensure_fixed_layout()?;
        // A checkpoint directory that cannot take images is refused now,
        // not discovered at the first checkpoint.
        weaves_tapestry::checkpoint::prepare_configured_dir(&plan).map_err(|e| e.to_string())?;
        weaves_strings_checkpointable();
    }
    run_plan(plan, stats, false)
}

/// Strings keep what a checkpoint needs in the arena from the start.
fn weaves_strings_checkpointable() {
    weaves_tapestry::set_checkpointable();
}

/// Builds and runs a planned tapestry, serving its monitor. Its status is
/// the first failed string's, or with `combined` (`weaves mpirun`) every
/// string's ORed together, as MPICH's `mpirun` reports its ranks'.
pub(crate) fn run_plan(
    plan: weaves_tapestry::Plan,
    stats: bool,
    combined: bool,
) -> Result<i32, String> {
    run_plan_with(plan, stats, combined, |_| ())
}

/// [`run_plan`], calling `setup` once the tapestry is built, before any
/// string starts.
pub(crate) fn run_plan_with(
    plan: weaves_tapestry::Plan,
    stats: bool,
    combined: bool,
    setup: impl FnOnce(&weaves_tapestry::Tapestry),
) -> Result<i32, String> {
    let mut tapestry = weaves_tapestry::Tapestry::build(plan).map_err(|e| e.to_string())?;
    setup(&tapestry);
    if stats {
        let s = tapestry.stats();
        eprintln!(
            "weaves: {} beads instantiated in {:.3} ms ({:.1} µs per bead: map {:.1} µs, bind {:.1} µs, relocate {:.1} µs, init {:.1} µs)",
            s.beads,
            (s.map + s.bind + s.relocate + s.init).as_secs_f64() * 1e3,
            s.per_bead().as_secs_f64() * 1e6,
            s.map.as_secs_f64() * 1e6 / s.beads.max(1) as f64,
            s.bind.as_secs_f64() * 1e6 / s.beads.max(1) as f64,
            s.relocate.as_secs_f64() * 1e6 / s.beads.max(1) as f64,
            s.init.as_secs_f64() * 1e6 / s.beads.max(1) as f64,
        );
    }
    // Serve the control socket while the strings run; a tapestry whose
    // monitor cannot start still runs, and says why it cannot be inspected.
    let report = tapestry
        .run_monitored(|view| match weaves_monitor::Server::start(view) {
            Ok(server) => {
                if let Some(why) = server.refused_dir() {
                    eprintln!(
                        "weaves: warning: {why}; serving the control socket in {} instead",
                        server
                            .path()
                            .parent()
                            .map_or("?".into(), |d| d.display().to_string())
                    );
                }
                tracing::debug!("monitor: serving {}", server.path().display());
                Some(server)
            }
            Err(e) => {
                tracing::warn!("no monitor for this run: {e}");
                None
            }
        })
        .map_err(|e| e.to_string())?;
    let status = if combined {
        report.combined_status()
    } else {
        report.exit_status()
    };
    Ok(report_run(&report, &tapestry, stats, status))
}

/// Prints what a run's strings did (and, with `stats`, its timings), and
/// returns the exit status for the process: `status` (the run's, see
/// `RunReport::exit_status`), or 1 if output the strings wrote was lost.
pub(crate) fn report_run(
    report: &weaves_tapestry::RunReport,
    tapestry: &weaves_tapestry::Tapestry,
    stats: bool,
    status: i32,
) -> i32 {
    if stats {
        eprintln!(
            "weaves: {} strings ran in {:.3} ms on {} worker thread(s); teardown {:.3} ms",
            report.strings.len(),
            report.strings_elapsed.as_secs_f64() * 1e3,
            tapestry.plan().workers,
            report.teardown_elapsed.as_secs_f64() * 1e3,
        );
        for c in &report.checkpoints {
            eprintln!(
                "weaves: checkpoint {}: {}, {} pages, {} bytes, strings paused {} µs, {:.1} ms in all",
                c.path.as_ref().map_or("?".into(), |p| p.display().to_string()),
                if c.incremental { "incremental" } else { "full" },
                c.pages,
                c.bytes,
                c.pause_us,
                c.total_ms,
            );
        }
    }
    if let Some(first) = report.checkpoint_failures.first() {
        let n = report.checkpoint_failures.len();
        eprintln!(
            "weaves: {n} periodic checkpoint{} could not be taken (the first: {first}); \
             exit status {} unless a string failed",
            if n == 1 { "" } else { "s" },
            weaves_tapestry::CHECKPOINT_FAILED_STATUS
        );
    }
    for f in &report.finalisers {
        eprintln!("weaves: {f}");
    }
    for s in &report.strings {
        if s.status != 0 {
            let how = if s.exited {
                "exited with status"
            } else {
                "returned"
            };
            eprintln!(
                "weaves: string `{}` (weave `{}`) {how} {}",
                s.name, s.weave, s.status
            );
        }
    }
    if let Some(signal) = report.ended_by {
        let stopped = report.strings.iter().filter(|s| s.stopped).count();
        tracing::info!(
            "ended by {}: {stopped} string(s) stopped at a safe point, the beads finalised; exit status {}",
            weaves_tapestry::stop::signal_name(signal),
            128 + signal
        );
    }
    output_checked(status)
}

/// `status`, or 1 if what the strings wrote to standard output did not all
/// reach it (one line says why). The beads' C stdout is flushed here, not
/// by the process's exit, so that a failure is seen.
fn output_checked(status: i32) -> i32 {
    match weaves_interpose::standard_output_lost() {
        None => status,
        Some(why) => {
            eprintln!("weaves: standard output: {why}; output of the strings was lost");
            if status == 0 {
                1
            } else {
                status
            }
        }
    }
}
