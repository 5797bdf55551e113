//! `weaves dsm -n N [options] -- PROGRAM [ARGS…]`: an unmodified pthread
//! program on N node processes sharing one address space (see the
//! `weaves-dsm` crate).
//!
//! The launching process starts the nodes (`--launcher local`), or an
//! existing launcher does (`mpi`: MPICH's hydra, `slurm`: srun) and each
//! of its processes is a node. A node runs with address randomisation off
//! and an arena of N node spans: it re-executes itself once to get both.

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};

/// Everything `weaves dsm` was asked for (its options on the command line).
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Number of nodes (with --launcher mpi or slurm: the launcher's).
    #[arg(short = 'n', long = "nodes")]
    pub(crate) nodes: Option<u32>,
    /// How pages are kept coherent: sc (single writer, invalidate) or lrc.
    #[arg(long, default_value = "sc")]
    pub(crate) coherence: String,
    /// Where threads go: round-robin or packed.
    #[arg(long, default_value = "round-robin")]
    pub(crate) placement: String,
    /// Print per-node counters on stderr at the end.
    #[arg(long)]
    pub(crate) stats: bool,
    /// Write the counters as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) stats_json: Option<PathBuf>,
    /// Write every page fault (JSON Lines) to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
    /// Who starts the nodes: local (this command), mpi (MPICH's
    /// mpirun: PMI_RANK/PMI_SIZE) or slurm (srun: SLURM_PROCID/SLURM_NTASKS).
    #[arg(long, default_value = "local")]
    pub(crate) launcher: String,
    /// A directory every node can read, where each node publishes its address.
    #[arg(long, value_name = "DIR")]
    pub(crate) rendezvous: Option<PathBuf>,
    /// This process is node K (set by the local launcher for the nodes it
    /// starts).
    #[arg(long, hide = true)]
    pub(crate) node: Option<u32>,
    /// The run's start, µs since the epoch (set by the local launcher), for
    /// the trace's times.
    #[arg(long, hide = true)]
    pub(crate) epoch_us: Option<u64>,
}

/// Marks a process that already re-executed itself for the node layout.
const REEXECUTED: &str = "WEAVES_DSM_REEXECUTED";

pub(crate) fn run(o: Options, command: &[String]) -> Result<i32, String> {
    let coherence = weaves_dsm::Coherence::parse(&o.coherence).map_err(|e| format!("dsm: {e}"))?;
    weaves_dsm::Placement::parse(&o.placement).map_err(|e| format!("dsm: {e}"))?;
    let (program, _) = command
        .split_first()
        .ok_or("dsm: which program? (weaves dsm -n N -- PROGRAM [ARGS…])")?;
    let program = crate::mpirun::locate(program).map_err(|e| e.replacen("mpirun:", "dsm:", 1))?;
    if std::env::var_os("WEAVES_DSM_ROOT").is_some() {
        return Err("dsm: not supported: WEAVES_DSM_ROOT (use --rendezvous DIR)".into());
    }
    match (o.launcher.as_str(), o.node) {
        (_, Some(me)) => {
            let nodes = o.nodes.ok_or("dsm: -n is needed with --node")?;
            node(&o, me, nodes, coherence, &program, command)
        }
        ("local", None) => launch_local(&o, command),
        ("mpi", None) => {
            let (me, nodes) = rank_from(&["PMI_RANK", "PMI_SIZE"])?;
            node(&o, me, nodes, coherence, &program, command)
        }
        ("slurm", None) => {
            let (me, nodes) = rank_from(&["SLURM_PROCID", "SLURM_NTASKS"])?;
            node(&o, me, nodes, coherence, &program, command)
        }
        (other, None) => Err(format!(
            "dsm: unknown launcher `{other}` (local, mpi or slurm)"
        )),
    }
}

fn rank_from(vars: &[&str; 2]) -> Result<(u32, u32), String> {
    let get = |v: &str| -> Result<u32, String> {
        std::env::var(v)
            .map_err(|_| format!("dsm: {v} is not set (is this process started by the launcher?)"))?
            .trim()
            .parse()
            .map_err(|_| format!("dsm: {v} is not a number"))
    };
    Ok((get(vars[0])?, get(vars[1])?))
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Starts N nodes of this executable and waits for them: the run's status
/// is node 0's, or non-zero if a node failed.
fn launch_local(o: &Options, command: &[String]) -> Result<i32, String> {
    let nodes = o.nodes.ok_or("dsm: how many nodes? (-n N)")?;
    if nodes == 0 || nodes as usize > weaves_dsm::arena::MAX_NODES {
        return Err(format!(
            "dsm: -n must be 1 to {}",
            weaves_dsm::arena::MAX_NODES
        ));
    }
    let own_dir;
    let dir = match &o.rendezvous {
        Some(d) => d.clone(),
        None => {
            own_dir = RendezvousDir::new()?;
            own_dir.0.clone()
        }
    };
    let exe =
        std::env::current_exe().map_err(|e| format!("dsm: cannot find this executable: {e}"))?;
    let epoch = now_us();
    let mut children = Vec::new();
    for k in 0..nodes {
        let mut c = std::process::Command::new(&exe);
        c.arg("dsm")
            .arg("--node")
            .arg(k.to_string())
            .arg("-n")
            .arg(nodes.to_string())
            .arg("--coherence")
            .arg(&o.coherence)
            .arg("--placement")
            .arg(&o.placement)
            .arg("--rendezvous")
            .arg(&dir)
            .arg("--epoch-us")
            .arg(epoch.to_string());
        if o.stats {
            c.arg("--stats");
        }
        if let Some(p) = &o.stats_json {
            c.arg("--stats-json").arg(p);
        }
        if let Some(p) = &o.trace {
            c.arg("--trace").arg(p);
        }
        c.arg("--").args(command);
        c.env(weaves_dsm::arena::NODES_VAR, nodes.to_string())
            .env(REEXECUTED, "1");
        let launcher = std::process::id() as libc::pid_t;
        // SAFETY: personality(2), prctl(2), getppid(2) and _exit(2) are
        // async-signal-safe and touch only the child itself, before it
        // executes.
        unsafe {
            c.pre_exec(move || {
                libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
                // A node outlives no launcher: killed or ended, it takes
                // its nodes with it (they would otherwise run on,
                // orphaned, with nobody to report to).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != launcher {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .map_err(|e| format!("dsm: cannot start node {k}: {e}"))?;
        children.push(child);
    }
    let mut status = 0;
    let mut failed = false;
    for (k, mut child) in children.into_iter().enumerate() {
        let s = child
            .wait()
            .map_err(|e| format!("dsm: cannot wait for node {k}: {e}"))?;
        if let Some(sig) = s.signal() {
            eprintln!("weaves dsm: node {k} died (signal {sig})");
            failed = true;
        } else if k == 0 {
            status = s.code().unwrap_or(1);
        } else if s.code() != Some(0) {
            failed = true;
        }
    }
    Ok(if failed && status == 0 { 1 } else { status })
}

/// A rendezvous directory of the launcher's own, removed after the run.
struct RendezvousDir(PathBuf);

impl RendezvousDir {
    fn new() -> Result<RendezvousDir, String> {
        let base =
            std::env::temp_dir().join(format!("weaves-dsm-{}-{}", std::process::id(), now_us()));
        std::fs::create_dir_all(&base)
            .map_err(|e| format!("dsm: cannot make {}: {e}", base.display()))?;
        Ok(RendezvousDir(base))
    }
}

impl Drop for RendezvousDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Re-executes this process with address randomisation off and an arena
/// of `nodes` spans, unless it already runs so.
fn ensure_node_process(nodes: u32) -> Result<(), String> {
    // SAFETY: querying the execution domain changes nothing.
    let persona = unsafe { libc::personality(0xffff_ffff) };
    let fixed = persona >= 0 && persona & libc::ADDR_NO_RANDOMIZE != 0;
    if fixed && weaves_dsm::arena::node_count() == nodes as usize {
        return Ok(());
    }
    if std::env::var_os(REEXECUTED).is_some() {
        return Err(format!(
            "dsm: this node cannot run with a fixed address layout and {nodes} node spans \
             (address randomisation {}, {} node span(s))",
            if fixed { "off" } else { "on" },
            weaves_dsm::arena::node_count()
        ));
    }
    // SAFETY: as above; the new domain applies to the image executed next.
    unsafe {
        libc::personality((persona as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong)
    };
    let exe =
        std::env::current_exe().map_err(|e| format!("dsm: cannot find this executable: {e}"))?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(weaves_dsm::arena::NODES_VAR, nodes.to_string())
        .env(REEXECUTED, "1")
        .exec();
    Err(format!("dsm: cannot re-execute this node: {err}"))
}

/// The tapestry a node runs: the program as one bead, `main` as one string
/// (whose threads, like it, are dedicated threads).
fn plan_text(program: &Path, command: &[String]) -> String {
    let args: Vec<String> = command.iter().map(|a| weaves_mpi::toml_string(a)).collect();
    format!(
        r#"[tapestry]
name = {name}

[[module]]
name = "program"
path = {path}

[[bead]]
name = "program"
module = "program"

[[weave]]
name = "program"
beads = ["program"]

[[string]]
name = "main"
weave = "program"
entry = "program:main"
args = [{args}]
# Program threads are operating-system threads, preempted as natively
# (a thread spinning on a flag another sets must not keep it from running).
mode = "thread"
"#,
        name = weaves_mpi::toml_string(&format!("dsm {}", program.display())),
        path = weaves_mpi::toml_string(&program.display().to_string()),
        args = args.join(", "),
    )
}

/// What must be the same in every node: where the C library, this
/// executable, the arena and the program's bead are, and the program
/// itself (its size).
fn layout_digest(tapestry: &weaves_tapestry::Tapestry, program: &Path) -> u64 {
    let mut words: Vec<u64> = vec![
        std::fs::metadata(program).map_or(0, |m| m.len()),
        libc::printf as *const () as u64,
        layout_digest as *const () as u64,
        weaves_dsm::arena::ARENA_BASE as u64,
        weaves_dsm::arena::node_count() as u64,
    ];
    for (_, base) in tapestry.bead_bases() {
        words.push(base);
    }
    // FNV-1a over the words.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn node(
    o: &Options,
    me: u32,
    nodes: u32,
    coherence: weaves_dsm::Coherence,
    program: &Path,
    command: &[String],
) -> Result<i32, String> {
    ensure_node_process(nodes)?;
    let dir = o
        .rendezvous
        .clone()
        .ok_or("dsm: --rendezvous DIR is needed (a directory every node can read)")?;
    let placement = weaves_dsm::Placement::parse(&o.placement)?;
    weaves_dsm::install(me, nodes, coherence, placement).map_err(|e| format!("dsm: {e}"))?;
    let name = PathBuf::from(format!("dsm {}", program.display()));
    let plan = weaves_tapestry::Plan::parse(&name, &plan_text(program, command))
        .map_err(|e| e.to_string())?;
    let mut tapestry = if me == 0 {
        weaves_tapestry::Tapestry::build(plan)
    } else {
        weaves_tapestry::Tapestry::build_uninitialised(plan)
    }
    .map_err(|e| e.to_string())?;
    let layout = layout_digest(&tapestry, program);
    weaves_dsm::enter_own_span().map_err(|e| format!("dsm: {e}"))?;
    let bind = std::env::var("WEAVES_DSM_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    weaves_dsm::join(&dir, &bind, layout).map_err(|e| format!("dsm: node {me}: {e}"))?;
    if let Some(t) = &o.trace {
        weaves_dsm::stats::start_trace(t, o.epoch_us.unwrap_or_else(now_us));
    }
    if me != 0 {
        tapestry.enter_strings_at(weaves_dsm::service_entry());
        tapestry.run().map_err(|e| e.to_string())?;
        return Ok(0);
    }
    let report = tapestry.run().map_err(|e| e.to_string())?;
    let status = crate::report_run(&report, &tapestry, false, report.exit_status());
    let all = weaves_dsm::end_run();
    if o.stats {
        eprint!("{}", weaves_dsm::stats::table(&all));
    }
    if let Some(p) = &o.stats_json {
        std::fs::write(p, weaves_dsm::stats::json(&all))
            .map_err(|e| format!("dsm: cannot write {}: {e}", p.display()))?;
    }
    if let Some(t) = &o.trace {
        weaves_dsm::stats::finish_trace(t, nodes, coherence.name())
            .map_err(|e| format!("dsm: cannot write {}: {e}", t.display()))?;
    }
    Ok(status)
}
