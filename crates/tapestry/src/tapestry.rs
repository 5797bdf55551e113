//! Building a tapestry from a plan, running its strings, finalising it.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weaves_arena::{OwnerId, Region};
use weaves_loader::{BeadImage, Module, ModuleKind};
use weaves_strings::{
    run_on_fiber, Entry, ExecCtx, FiberStack, Launch, Mode, Outcome, Scheduler, StringInfo,
};

use weaves_monitor::protocol::{BeadInfo, Imports, ModuleInfo, TupleSpaceInfo, WeaveInfo, Wire};

use crate::binder::{Binding, Provider};
use crate::config::Plan;
use crate::error::TapestryError;
use crate::extend::Extension;
use crate::live::LiveView;

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
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub strings: Vec<StringReport>,
    /// From starting the first string to the end of the last one.
    pub strings_elapsed: Duration,
    /// Stopping the workers and running the beads' finalisers.
    pub teardown_elapsed: Duration,
}

impl RunReport {
    /// The first non-zero status, in declaration order, or 0.
    pub fn exit_status(&self) -> i32 {
        self.strings
            .iter()
            .map(|s| s.status)
            .find(|&s| s != 0)
            .unwrap_or(0)
    }
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
}

impl Tapestry {
    /// Loads, maps, binds, relocates and initialises everything `plan`
    /// describes. Nothing of bead code runs unless every bead binds.
    pub fn build(plan: Plan) -> Result<Tapestry, TapestryError> {
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
        };
        t.extend(plan, Extension::Initial)?;
        Ok(t)
    }

    fn live_view(&self, sched: Arc<Scheduler>, started: Instant) -> LiveView {
        let plan = &self.plan;
        let modules = plan
            .modules
            .iter()
            .zip(&self.modules)
            .enumerate()
            .map(|(i, (mp, loaded))| ModuleInfo {
                name: mp.name.clone(),
                path: loaded.module.path().display().to_string(),
                build_id: loaded
                    .module
                    .build_id()
                    .map(|id| id.iter().map(|b| format!("{b:02x}")).collect()),
                kind: match loaded.module.kind() {
                    ModuleKind::SharedObject => "shared object",
                    ModuleKind::PieExecutable => "executable",
                }
                .into(),
                beads: self.beads.iter().filter(|b| b.module == i).count(),
            })
            .collect();
        let beads = self
            .beads
            .iter()
            .map(|b| {
                let module = &self.modules[b.module].module;
                let info = BeadInfo {
                    name: b.name.clone(),
                    module: plan.modules[b.module].name.clone(),
                    base: format!("{:#x}", b.image.base()),
                    size: module.image_span(),
                    data_bytes: module.data_bytes(),
                    heap_bytes: 0,
                    heap_reserved: 0,
                    weaves: b
                        .weaves
                        .iter()
                        .map(|&w| plan.weaves[w].name.clone())
                        .collect(),
                    imports: b.imports.clone(),
                };
                (info, b.owner)
            })
            .collect();
        let weaves = plan
            .weaves
            .iter()
            .map(|w| WeaveInfo {
                name: w.name.clone(),
                beads: w
                    .beads
                    .iter()
                    .map(|&b| self.beads[b].name.clone())
                    .collect(),
            })
            .collect();
        let tuple_spaces = plan
            .tuple_spaces
            .iter()
            .map(|t| TupleSpaceInfo {
                variables: t.variables.clone(),
                beads: t
                    .beads
                    .iter()
                    .map(|&b| self.beads[b].name.clone())
                    .collect(),
            })
            .collect();
        let bindings = plan
            .bindings
            .iter()
            .zip(&self.ports)
            .map(|(b, port)| {
                (
                    format!("{}.{}", self.beads[b.from.0].name, b.from.1),
                    format!("{}.{}", self.beads[b.to.0].name, b.to.1),
                    port.clone(),
                )
            })
            .collect();
        LiveView {
            bindings,
            name: plan.name.clone(),
            path: plan.path.display().to_string(),
            workers: plan.workers,
            modules,
            beads,
            weaves,
            tuple_spaces,
            sched,
            started,
            open: std::sync::RwLock::new(true),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn stats(&self) -> BuildStats {
        self.stats
    }

    /// Runs every string to its end, then finalises the beads.
    pub fn run(&mut self) -> Result<RunReport, TapestryError> {
        self.run_monitored(|_| ())
    }

    /// Like [`Tapestry::run`]; once the workers start, `monitor` receives
    /// the live view (to serve it on a control socket, say). What it
    /// returns is kept until the strings end, then dropped before the
    /// beads are finalised.
    pub fn run_monitored<G>(
        &mut self,
        monitor: impl FnOnce(Arc<LiveView>) -> G,
    ) -> Result<RunReport, TapestryError> {
        let on_start: Option<Arc<dyn Fn() + Send + Sync>> = self.plan.preempt_ms.map(|ms| {
            weaves_interpose::preempt::install();
            Arc::new(move || weaves_interpose::preempt::arm_this_thread(ms))
                as Arc<dyn Fn() + Send + Sync>
        });
        // Every string's context is made (and its arguments checked) before
        // any starts: a bad one refuses the run instead of leaving others
        // running.
        let mut launches = Vec::with_capacity(self.plan.strings.len());
        for (i, s) in self.plan.strings.iter().enumerate() {
            let weave = &self.plan.weaves[s.weave];
            let home = match s.entry_bead {
                Some(b) => self.beads[b].owner,
                None => {
                    let addr = self.entries[i] as usize;
                    weaves_arena::owner_of(addr).unwrap_or(0)
                }
            };
            // Strings without an `env` table read the process's environment
            // until they change it (copy on write).
            let env = if s.env.is_empty() {
                None
            } else {
                let mut env = host_environment();
                for (k, v) in &s.env {
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.as_bytes().starts_with(prefix.as_bytes()));
                    env.push(CString::new(format!("{k}={v}")).map_err(|_| {
                        TapestryError::Run(format!("string `{}`: NUL in environment", s.name))
                    })?);
                }
                Some(env)
            };
            let argv = s
                .args
                .iter()
                .map(|a| CString::new(a.as_str()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    TapestryError::Run(format!("string `{}`: NUL in an argument", s.name))
                })?;
            let info = StringInfo {
                id: i as u32 + 1,
                name: s.name.clone(),
                weave: weave.name.clone(),
                home,
            };
            let ctx = Arc::new(ExecCtx::new(info, env).with_args(argv));
            let launch = Launch {
                ctx,
                entry: Entry::Main(self.entries[i]),
                stack_size: s.stack_size,
                mode: s.mode,
            };
            launches.push(launch);
        }
        let sched = Scheduler::start_with(self.plan.workers, on_start)
            .map_err(|e| TapestryError::Run(format!("cannot start worker threads: {e}")))?;
        let started = Instant::now();
        let view = Arc::new(self.live_view(sched.clone(), started));
        let guard = monitor(view.clone());
        let mut handles = Vec::with_capacity(launches.len());
        for (launch, s) in launches.into_iter().zip(&self.plan.strings) {
            handles.push(sched.spawn(launch).map_err(|e| {
                TapestryError::Run(format!("string `{}`: cannot start: {e}", s.name))
            })?);
        }
        let mut reports = Vec::new();
        for (h, s) in handles.iter().zip(&self.plan.strings) {
            let weave = self.plan.weaves[s.weave].name.clone();
            let outcome = h.wait();
            reports.push(StringReport {
                name: s.name.clone(),
                weave,
                status: outcome.status(),
                exited: matches!(outcome, Outcome::Exited(_)),
            });
        }
        // Strings that bead code started (pthread_create) end too.
        sched.wait_idle();
        let strings_elapsed = started.elapsed();
        view.close();
        drop(guard);
        // Declared strings stayed listed (as done) until here.
        drop(handles);
        let teardown = Instant::now();
        sched.shutdown();
        self.finalise()?;
        Ok(RunReport {
            strings: reports,
            strings_elapsed,
            teardown_elapsed: teardown.elapsed(),
        })
    }

    /// Runs finalisers in reverse initialisation order: `DT_FINI_ARRAY`,
    /// `DT_FINI`, then exit handlers the bead registered.
    pub fn finalise(&mut self) -> Result<(), TapestryError> {
        if self.finalised {
            return Ok(());
        }
        self.finalised = true;
        let mut stack = FiberStack::new(weaves_strings::DEFAULT_STACK)
            .map_err(|e| TapestryError::Run(e.to_string()))?;
        for &b in self.init_order.iter().rev() {
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
            run_on_fiber(&ctx, &mut stack, || {
                for &f in &funcs {
                    // SAFETY: a finaliser of this bead, which is still mapped.
                    let f: extern "C" fn() = unsafe { std::mem::transmute(f as usize) };
                    f();
                }
                weaves_interpose::finalize_bead(owner);
                0
            });
            weaves_interpose::forget_bead(owner);
        }
        Ok(())
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

fn host_environment() -> Vec<CString> {
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
