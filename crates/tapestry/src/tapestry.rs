//! Building a tapestry from a plan, running its strings, finalising it.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weaves_arena::{OwnerId, Region};
use weaves_loader::{BeadImage, Module};
use weaves_strings::{run_on_fiber, ExecCtx, FiberStack, Mode, StringInfo};

use weaves_monitor::protocol::{Imports, Wire};

use crate::binder::{Binding, Provider};
use crate::config::Plan;
use crate::error::TapestryError;
use crate::extend::Extension;

/// A loaded module and what its beads bind to outside the tapestry.
pub(crate) struct Loaded {
    pub(crate) module: Arc<Module>,
    pub(crate) system: Vec<usize>,
    /// Defined symbols the module's relocations refer to.
    pub(crate) own_refs: Vec<u32>,
    /// System-library lookups, shared by the module's beads.
    pub(crate) system_cache: Mutex<HashMap<u32, Option<u64>>>,
}

/// One bead of the tapestry.
pub(crate) struct Bead {
    pub(crate) name: String,
    pub(crate) module: usize,
    pub(crate) image: BeadImage,
    pub(crate) owner: OwnerId,
    pub(crate) tls_module: u64,
    pub(crate) weaves: Vec<usize>,
    /// Beads it binds to.
    pub(crate) providers: Vec<usize>,
    /// How its imports were bound (for inspection).
    pub(crate) imports: Imports,
    /// The heaps of the beads it replaced in hot-swaps, whose state it
    /// took over (freed with its own).
    pub(crate) adopted_heaps: Vec<OwnerId>,
}

/// Timings of building a tapestry.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildStats {
    pub beads: usize,
    pub load_modules: Duration,
    pub map: Duration,
    pub bind: Duration,
    pub relocate: Duration,
    pub init: Duration,
}

impl BuildStats {
    /// Mean time to instantiate one bead (map + bind + relocate + init).
    pub fn per_bead(&self) -> Duration {
        (self.map + self.bind + self.relocate + self.init) / self.beads.max(1) as u32
    }
}

/// How one string ended.
#[derive(Clone, Debug)]
pub struct StringReport {
    pub name: String,
    pub weave: String,
    pub status: i32,
    pub exited: bool,
    /// Ended at a safe point because it was asked to (a script's `stop`,
    /// or the tapestry ending by `SIGTERM`).
    pub stopped: bool,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub strings: Vec<StringReport>,
    /// From starting the first string to the end of the last one.
    pub strings_elapsed: Duration,
    /// Stopping the workers and running the beads' finalisers.
    pub teardown_elapsed: Duration,
    /// The checkpoints the run took (periodic ones, and those bead code
    /// asked for).
    pub checkpoints: Vec<crate::Taken>,
    /// Why each periodic checkpoint that could not be taken or written
    /// failed, in order. The run goes on after one (its strings lose
    /// nothing), but ends with [`CHECKPOINT_FAILED_STATUS`].
    pub checkpoint_failures: Vec<String>,
    /// Finalisers that failed.
    pub finalisers: Vec<FinaliserFault>,
    /// The signal that ended the run (`SIGTERM`, as `weaves stop` sends,
    /// `SIGINT`, `SIGHUP`), if one did.
    pub ended_by: Option<i32>,
}

/// The exit status of a run whose strings all returned 0 but some of whose
/// periodic checkpoints failed (`EX_IOERR`).
pub const CHECKPOINT_FAILED_STATUS: i32 = 74;

impl RunReport {
    /// 128 + the signal that ended the run, as a shell reports a process a
    /// signal ended; else the first non-zero status, in declaration order;
    /// else that of the first finaliser that failed; else
    /// [`CHECKPOINT_FAILED_STATUS`] if a periodic checkpoint failed; else 0.
    pub fn exit_status(&self) -> i32 {
        if let Some(signal) = self.ended_by {
            return 128 + signal;
        }
        self.strings
            .iter()
            .map(|s| s.status)
            .chain(self.finalisers.iter().map(|f| f.status))
            .find(|&s| s != 0)
            .unwrap_or(if self.checkpoint_failures.is_empty() {
                0
            } else {
                CHECKPOINT_FAILED_STATUS
            })
    }

    /// What MPICH's `mpirun` exits with: 128 + the signal that ended the
    /// run, else the bitwise OR of every string's status (each taken modulo
    /// 256, as a process's is) — or 1 if that OR is 0 although a string
    /// failed.
    pub fn combined_status(&self) -> i32 {
        if let Some(signal) = self.ended_by {
            return 128 + signal;
        }
        let or = self
            .strings
            .iter()
            .fold(0, |acc, s| acc | (s.status & 0xff));
        match or {
            0 if self.strings.iter().any(|s| s.status != 0) => 1,
            or => or,
        }
    }
}

/// A bead's finaliser that a fault, `abort` or heap misuse ended (the
/// rest of that bead's finalisers did not run).
#[derive(Clone, Debug, thiserror::Error)]
#[error("bead `{bead}` failed in its finaliser: {what}")]
pub struct FinaliserFault {
    pub bead: String,
    /// The fault's diagnostic.
    pub what: String,
    /// 128 + signal (134 for `abort` and heap misuse).
    pub status: i32,
}

/// A built tapestry: beads mapped, bound, relocated and initialised.
pub struct Tapestry {
    pub(crate) plan: Plan,
    pub(crate) modules: Vec<Loaded>,
    pub(crate) beads: Vec<Bead>,
    /// How each bead is bound (a live change must not alter it).
    pub(crate) bindings: Vec<Binding>,
    pub(crate) init_order: Vec<usize>,
    pub(crate) entries: Vec<u64>,
    pub(crate) tuple_storage: Vec<Region>,
    /// Message bindings and the queues they deliver to.
    pub(crate) ports: Vec<Arc<weaves_interpose::messages::InPort>>,
    pub(crate) stats: BuildStats,
    finalised: bool,
    /// Whether a live change (apply, remove, script) was made: such a
    /// tapestry is not rebuilt by its description alone.
    pub(crate) changed_live: bool,
    /// What earlier checkpoints of this run mean for the next one.
    pub(crate) chain: crate::checkpoint::Chain,
    /// When the run's strings first started (kept across a rollback, for
    /// the monitor's uptime).
    pub(crate) started_at: Option<std::time::SystemTime>,
    /// Wasm modules and the strings running them.
    pub(crate) wasm: crate::wasm::WasmBeads,
    /// Where declared strings enter instead of their entry (a DSM node
    /// other than 0 runs its service loop in the program's weave).
    pub(crate) entry_override: Option<u64>,
}

impl Tapestry {
    /// Loads, maps, binds, relocates and initialises everything `plan`
    /// describes. Nothing of bead code runs unless every bead binds.
    pub fn build(plan: Plan) -> Result<Tapestry, TapestryError> {
        Tapestry::build_as(plan, Extension::Initial)
    }

    /// Builds the tapestry but runs no initialiser: a restore puts the
    /// beads' initialised memory back from an image.
    pub(crate) fn build_without_init(plan: Plan) -> Result<Tapestry, TapestryError> {
        Tapestry::build_as(plan, Extension::Restore)
    }

    /// Builds the tapestry as a DSM node other than node 0 does: loaded,
    /// mapped, bound and relocated exactly as node 0, but no initialiser
    /// runs (the program's data is node 0's, fetched on first access).
    pub fn build_uninitialised(plan: Plan) -> Result<Tapestry, TapestryError> {
        Tapestry::build_without_init(plan)
    }

    /// Makes every declared string enter at `addr` (an `int f(int argc,
    /// char **argv, char **envp)`) instead of its entry, keeping its home
    /// bead, weave, arguments and environment.
    pub fn enter_strings_at(&mut self, addr: u64) {
        self.entry_override = Some(addr);
    }

    pub(crate) fn build_as(plan: Plan, how: Extension) -> Result<Tapestry, TapestryError> {
        weaves_interpose::init();
        let mut t = Tapestry {
            plan: plan.skeleton(),
            modules: Vec::new(),
            beads: Vec::new(),
            bindings: Vec::new(),
            init_order: Vec::new(),
            entries: Vec::new(),
            tuple_storage: Vec::new(),
            ports: Vec::new(),
            stats: BuildStats::default(),
            finalised: false,
            changed_live: false,
            chain: Default::default(),
            started_at: None,
            wasm: Default::default(),
            entry_override: None,
        };
        t.extend(plan, how)?;
        t.load_wasm()?;
        Ok(t)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The addresses of the live beads' own copies (COPY relocations of
    /// PIE executables) of the system variable `name`, such as `stdout`.
    pub fn copied_variables(&self, name: &str) -> Vec<u64> {
        self.beads
            .iter()
            .enumerate()
            .filter(|(b, _)| !self.plan.removed.beads.contains(b))
            .flat_map(|(_, bead)| {
                let m = bead.image.module();
                m.copy_imports()
                    .iter()
                    .filter(|&&k| m.symbol(k).name == name)
                    .map(|&k| bead.image.base() + m.symbol(k).value)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn stats(&self) -> BuildStats {
        self.stats
    }

    /// Counts the run's uptime from `at` (a rolled-back run goes on from
    /// when it first started).
    pub fn started_at(&mut self, at: std::time::SystemTime) {
        self.started_at = Some(at);
    }

    /// Runs finalisers in reverse initialisation order: `DT_FINI_ARRAY`,
    /// `DT_FINI`, then exit handlers the bead registered. A finaliser that
    /// faults ends its bead's finalisation (and is returned); the other
    /// beads are finalised still.
    pub fn finalise(&mut self) -> Result<Vec<FinaliserFault>, TapestryError> {
        if self.finalised {
            return Ok(Vec::new());
        }
        self.finalised = true;
        let mut stack = FiberStack::new(weaves_strings::DEFAULT_STACK)
            .map_err(|e| TapestryError::Run(e.to_string()))?;
        let mut faults = Vec::new();
        for k in (0..self.init_order.len()).rev() {
            let b = self.init_order[k];
            if !self.plan.removed.beads.contains(&b) {
                faults.extend(self.finalise_bead(b, &mut stack));
            }
        }
        Ok(faults)
    }

    /// Runs one bead's finalisers: `DT_FINI_ARRAY`, `DT_FINI`, then the exit
    /// handlers it registered. Returns what ended them, if a fault did.
    pub(crate) fn finalise_bead(&self, b: usize, stack: &mut FiberStack) -> Option<FinaliserFault> {
        let bead = &self.beads[b];
        let ctx = ExecCtx::new(
            StringInfo {
                id: 0,
                name: format!("fini of {}", bead.name),
                weave: String::new(),
                home: bead.owner,
            },
            None,
        );
        let funcs = bead.image.fini_functions();
        let owner = bead.owner;
        let outcome = run_on_fiber(&ctx, stack, || {
            for &f in &funcs {
                // SAFETY: a finaliser of this bead, which is still mapped.
                let f: extern "C" fn() = unsafe { std::mem::transmute(f as usize) };
                f();
            }
            weaves_interpose::finalize_bead(owner);
            0
        });
        weaves_interpose::forget_bead(owner);
        weaves_interpose::take_fault_report().map(|what| FinaliserFault {
            bead: bead.name.clone(),
            what,
            status: outcome.status(),
        })
    }

    /// Names of the tapestry's beads, in declaration order, with their bases.
    pub fn bead_bases(&self) -> Vec<(String, u64)> {
        self.beads
            .iter()
            .map(|b| (b.name.clone(), b.image.base()))
            .collect()
    }

    /// Number of modules loaded.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// Storage regions of tuple-space variables.
    pub fn tuple_storage(&self) -> &[Region] {
        &self.tuple_storage
    }
}

/// Beads ordered so that each comes after the beads it binds to
/// (cycles are broken in declaration order, as the system loader does).
pub(crate) fn dependency_order(beads: &[Bead]) -> Vec<usize> {
    let providers: Vec<Vec<usize>> = beads.iter().map(|b| b.providers.clone()).collect();
    order_by_providers(&providers)
}

/// [`dependency_order`] given each bead's providers.
pub(crate) fn order_by_providers(providers: &[Vec<usize>]) -> Vec<usize> {
    let n = providers.len();
    let mut state = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((b, next)) = stack.pop() {
            let mine = &providers[b];
            if next < mine.len() {
                stack.push((b, next + 1));
                let p = mine[next];
                if state[p] == 0 {
                    state[p] = 1;
                    stack.push((p, 0));
                }
            } else {
                state[b] = 2;
                order.push(b);
            }
        }
    }
    order
}

/// Memory mappings a string costs while it runs: its fiber stack and the
/// guard below it; in thread mode also its driver thread's stack, signal
/// stack and their guards.
fn mappings_per_string(mode: Mode) -> usize {
    match mode {
        Mode::Fiber => 2,
        Mode::Thread => 6,
    }
}

/// Allocation functions: a module importing one of them will have a heap.
const ALLOCATORS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "strdup",
    "_Znwm",
    "_Znam",
    "posix_memalign",
    "aligned_alloc",
];

/// Refuses, before anything is mapped, a tapestry that would exceed the
/// kernel's limit on memory mappings (`vm.max_map_count`): running into it
/// half-way would fail somewhere deep inside thread creation instead.
pub(crate) fn check_mapping_budget(plan: &Plan, modules: &[&Loaded]) -> Result<(), TapestryError> {
    let Some(limit) = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
    else {
        return Ok(());
    };
    let in_use = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    // Each bead: its segments, and a heap if it allocates.
    let per_module: Vec<usize> = modules
        .iter()
        .map(|m| {
            let allocates = m
                .module
                .imports()
                .iter()
                .any(|&i| ALLOCATORS.contains(&m.module.symbol(i).name.as_str()));
            m.module.mappings_per_bead() + usize::from(allocates)
        })
        .collect();
    let beads: usize = plan.beads.iter().map(|b| per_module[b.module]).sum();
    let strings: usize = plan
        .strings
        .iter()
        .map(|s| mappings_per_string(s.mode))
        .sum();
    let margin = 256;
    if in_use + beads + strings + margin > limit {
        return Err(TapestryError::Run(format!(
            "{}: this tapestry needs about {} memory mappings ({} beads: {beads}; {} strings: {strings}) on top of {in_use} in use, but vm.max_map_count is {limit}: raise it (sysctl -w vm.max_map_count={}), or use fewer beads or thread-mode strings",
            plan.path.display(),
            beads + strings,
            plan.beads.len(),
            plan.strings.len(),
            ((in_use + beads + strings + margin) * 2).next_power_of_two()
        )));
    }
    Ok(())
}

pub(crate) fn host_environment() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

/// How bead `i`'s imports were bound, for inspection.
pub(crate) fn summarise_imports(
    beads: &[&Bead],
    i: usize,
    module: &Module,
    binding: &Binding,
) -> Imports {
    let mut out = Imports::default();
    for &idx in module.imports() {
        let k = idx as usize;
        let wire = |bead: Option<usize>, via: &str| Wire {
            symbol: module.symbol(idx).display_name(),
            bead: bead.map(|b| beads[b].name.clone()),
            via: via.into(),
        };
        match binding.providers.get(k).copied().flatten() {
            Some(Provider::Bead(b)) if b != i => out.beads.push(wire(Some(b), "bead")),
            Some(Provider::CopiedBy(b)) => out.beads.push(wire(Some(b), "copy")),
            Some(Provider::TupleSpace) => out.beads.push(wire(None, "tuple space")),
            Some(Provider::Runtime) => out.runtime += 1,
            Some(Provider::System) => out.system += 1,
            Some(Provider::Absent) => out.absent += 1,
            Some(Provider::Own) | Some(Provider::Bead(_)) | None => {}
        }
    }
    out
}
