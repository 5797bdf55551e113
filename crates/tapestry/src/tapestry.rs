//! Building a tapestry from a plan, running its strings, finalising it.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weaves_arena::{Arena, OwnerId, Region};
use weaves_loader::{BeadImage, Module, ModuleKind, TlsResolver};
use weaves_strings::{
    run_on_fiber, Entry, ExecCtx, FiberStack, Launch, Mode, Outcome, Scheduler, StringInfo,
};

use weaves_monitor::protocol::{BeadInfo, Imports, ModuleInfo, TupleSpaceInfo, WeaveInfo, Wire};

use crate::binder::{self, BeadView, Binding, Provider};
use crate::config::{suggest, Plan};
use crate::error::TapestryError;
use crate::live::LiveView;
use crate::redirect::{self, BeadRef};
use crate::system;

pub(crate) struct Loaded {
    pub(crate) module: Arc<Module>,
    pub(crate) system: Vec<usize>,
    /// Defined symbols the module's relocations refer to.
    pub(crate) own_refs: Vec<u32>,
    /// System-library lookups, shared by the module's beads.
    pub(crate) system_cache: Mutex<HashMap<u32, Option<u64>>>,
}

struct Bead {
    name: String,
    module: usize,
    image: BeadImage,
    owner: OwnerId,
    tls_module: u64,
    weaves: Vec<usize>,
    providers: Vec<usize>,
    /// How its imports were bound (for inspection).
    imports: Imports,
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
    plan: Plan,
    modules: Vec<Loaded>,
    beads: Vec<Bead>,
    init_order: Vec<usize>,
    entries: Vec<u64>,
    tuple_storage: Vec<Region>,
    /// Message bindings and the queues they deliver to.
    ports: Vec<Arc<weaves_interpose::messages::InPort>>,
    stats: BuildStats,
    finalised: bool,
}

impl Tapestry {
    /// Loads, maps, binds, relocates and initialises everything `plan`
    /// describes. Nothing of bead code runs unless every bead binds.
    pub fn build(mut plan: Plan) -> Result<Tapestry, TapestryError> {
        weaves_interpose::init();
        let arena = Arena::global().map_err(|e| TapestryError::Run(e.to_string()))?;
        let mut stats = BuildStats {
            beads: plan.beads.len(),
            ..Default::default()
        };

        // Modules, and the system libraries they need.
        let t0 = Instant::now();
        let modules = crate::deps::load_modules(&mut plan)?;
        stats.load_modules = t0.elapsed();
        stats.beads = plan.beads.len();

        check_mapping_budget(&plan, &modules)?;

        let mut weave_count = vec![0usize; plan.beads.len()];
        for w in &plan.weaves {
            for &b in &w.beads {
                weave_count[b] += 1;
            }
        }
        // How many declared strings can run in each bead (for preemption:
        // only a bead no other string runs in is safe to switch inside).
        let mut string_count = vec![0usize; plan.beads.len()];
        for s in &plan.strings {
            for &b in &plan.weaves[s.weave].beads {
                string_count[b] += 1;
            }
        }

        // Map one image per bead.
        let t0 = Instant::now();
        let mut beads = Vec::with_capacity(plan.beads.len());
        for b in &plan.beads {
            let owner = arena.new_owner();
            let image = BeadImage::map(&modules[b.module].module, owner)?;
            let tls_module = match image.tls_image() {
                Some((addr, t)) => {
                    weaves_strings::tls::register(owner, addr, t.filesz, t.memsz, t.align)
                }
                None => weaves_strings::tls::module_id(owner),
            };
            weaves_interpose::register_bead(weaves_interpose::BeadRecord {
                owner,
                name: CString::new(b.name.clone()).unwrap_or_default(),
                path: CString::new(image.module().path().as_os_str().as_encoded_bytes())
                    .unwrap_or_default(),
                base: image.base(),
                end: image.base() + image.module().image_span(),
                eh_frame_hdr: image.eh_frame_hdr().unwrap_or(0),
                module: image.module().clone(),
                shared: weave_count[beads.len()] > 1,
                preemptible: string_count[beads.len()] <= 1,
            });
            beads.push(Bead {
                name: b.name.clone(),
                module: b.module,
                image,
                owner,
                tls_module,
                weaves: Vec::new(),
                providers: Vec::new(),
                imports: Imports::default(),
            });
        }
        for (w, weave) in plan.weaves.iter().enumerate() {
            for &b in &weave.beads {
                beads[b].weaves.push(w);
            }
        }
        stats.map = t0.elapsed();

        // Bind.
        let t0 = Instant::now();
        let views: Vec<BeadView<'_>> = beads
            .iter()
            .map(|b| BeadView {
                name: &b.name,
                image: &b.image,
                tls_module: b.tls_module,
            })
            .collect();
        let mut bindings: Vec<Binding> = Vec::with_capacity(beads.len());
        let mut missing: Vec<String> = Vec::new();
        for (i, bead) in beads.iter().enumerate() {
            let loaded = &modules[bead.module];
            let system = |idx: u32| -> Option<u64> {
                let mut cache = loaded
                    .system_cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *cache.entry(idx).or_insert_with(|| {
                    let s = loaded.module.symbol(idx);
                    system::lookup(&loaded.system, &s.name, s.version.as_deref())
                })
            };
            let empty = Vec::new();
            let first = bead
                .weaves
                .first()
                .map_or(&empty, |&w| &plan.weaves[w].beads);
            let (binding, lost) = binder::bind(i, &loaded.own_refs, first, &views, &system);
            if !lost.is_empty() {
                missing.push(format!(
                    "bead `{}` ({}) needs {}",
                    bead.name,
                    loaded.module.path().display(),
                    lost.join(", ")
                ));
            }
            for &w in bead.weaves.iter().skip(1) {
                let (other, _) =
                    binder::bind(i, &loaded.own_refs, &plan.weaves[w].beads, &views, &system);
                if other != binding {
                    let idx = (0..binding.targets.len())
                        .find(|&k| binding.targets[k] != other.targets[k])
                        .unwrap_or(0);
                    let who = |p: Option<Provider>| match p {
                        Some(Provider::Bead(b)) => format!("bead `{}`", beads[b].name),
                        Some(Provider::CopiedBy(b)) => {
                            format!("the copy in bead `{}`", beads[b].name)
                        }
                        Some(Provider::Runtime) => "the runtime".into(),
                        Some(Provider::System) => "a system library".into(),
                        _ => "nothing".into(),
                    };
                    return Err(TapestryError::Bind(format!(
                        "conflicting bindings: bead `{}` is in weaves `{}` and `{}`, which bind `{}` to {} and to {}",
                        bead.name,
                        plan.weaves[bead.weaves[0]].name,
                        plan.weaves[w].name,
                        loaded.module.symbol(idx as u32).display_name(),
                        who(binding.providers[idx]),
                        who(other.providers[idx])
                    )));
                }
            }
            bindings.push(binding);
        }
        if !missing.is_empty() {
            return Err(TapestryError::Bind(format!(
                "unresolved symbols: {}",
                missing.join("; ")
            )));
        }
        drop(views);

        // COPY relocations and tuple spaces: one storage per variable.
        let refs: Vec<BeadRef<'_>> = beads
            .iter()
            .map(|b| BeadRef {
                name: &b.name,
                owner: b.owner,
                module: &modules[b.module].module,
                base: b.image.base(),
            })
            .collect();
        redirect::apply_copies(&refs, &mut bindings)?;
        let tuples = redirect::apply_tuple_spaces(&plan, &refs, &mut bindings)?;
        drop(refs);
        for (i, b) in bindings.iter().enumerate() {
            let mut p: Vec<usize> = b
                .providers
                .iter()
                .filter_map(|p| match p {
                    Some(Provider::Bead(x)) if *x != i => Some(*x),
                    _ => None,
                })
                .collect();
            p.sort_unstable();
            p.dedup();
            beads[i].providers = p;
        }
        for (i, b) in bindings.iter().enumerate() {
            beads[i].imports = summarise_imports(&beads, i, &modules[beads[i].module].module, b);
        }

        // Entry points, resolved before anything runs.
        let mut entries = Vec::new();
        for s in &plan.strings {
            let weave = &plan.weaves[s.weave];
            let candidates: Vec<usize> = match s.entry_bead {
                Some(b) => vec![b],
                None => weave.beads.clone(),
            };
            let found = candidates.iter().find_map(|&b| {
                modules[beads[b].module]
                    .module
                    .entry_offset(&s.entry_symbol)
                    .map(|off| beads[b].image.base() + off)
            });
            match found {
                Some(a) => entries.push(a),
                None => {
                    let known = candidates
                        .iter()
                        .flat_map(|&b| modules[beads[b].module].module.entry_names())
                        .collect::<Vec<_>>();
                    let place = match s.entry_bead {
                        Some(b) => format!("bead `{}`", beads[b].name),
                        None => format!("any bead of weave `{}`", weave.name),
                    };
                    return Err(TapestryError::Config {
                        path: plan.path.clone(),
                        message: format!(
                            "line {}: string `{}`: entry `{}` is not a function of {place}{}",
                            s.line,
                            s.name,
                            s.entry_symbol,
                            suggest(&s.entry_symbol, known.into_iter())
                        ),
                    });
                }
            }
        }
        stats.bind = t0.elapsed();

        // Relocate.
        let t0 = Instant::now();
        let (dynamic, static_tls) = weaves_interpose::tls_resolvers();
        let resolvers = TlsResolver {
            dynamic,
            static_tls,
        };
        // Providers first: COPY relocations read relocated data, and IFUNC
        // resolvers run relocated code.
        let order = dependency_order(&beads);
        for &b in &order {
            let bead = &beads[b];
            // SAFETY: every target comes from the binder (addresses of mapped
            // beads, the runtime or system libraries); the beads it refers to
            // are relocated already; no bead code runs yet.
            unsafe {
                bead.image
                    .relocate(&bindings[b].targets, bead.tls_module, resolvers)?
            };
        }
        for &(storage, initial, size) in &tuples.initial {
            // SAFETY: copying the first member's relocated initial value of
            // the variable (its own `size` bytes) into the fresh storage.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    initial as *const u8,
                    storage as *mut u8,
                    size as usize,
                )
            };
        }
        stats.relocate = t0.elapsed();

        let mut t = Tapestry {
            plan,
            modules,
            beads,
            init_order: Vec::new(),
            entries,
            tuple_storage: tuples.regions,
            ports: Vec::new(),
            stats,
            finalised: false,
        };

        // Message bindings, before any bead code runs (initialisers may
        // send).
        for b in &t.plan.bindings {
            let (from, to) = (&b.from, &b.to);
            let port = weaves_interpose::messages::bind(
                (t.beads[from.0].owner, &from.1),
                (t.beads[to.0].owner, &to.1),
            )
            .map_err(|e| TapestryError::Bind(format!("binding at line {}: {e}", b.line)))?;
            t.ports.push(port);
        }

        // Initialise providers before the beads that use them.
        let t0 = Instant::now();
        let mut stack = FiberStack::new(weaves_strings::DEFAULT_STACK)
            .map_err(|e| TapestryError::Run(e.to_string()))?;
        for &b in &order {
            t.init_order.push(b);
            let bead = &t.beads[b];
            let ctx = ExecCtx::new(
                StringInfo {
                    id: 0,
                    name: format!("init of {}", bead.name),
                    weave: String::new(),
                    home: bead.owner,
                },
                None,
            );
            let argv0 = CString::new(bead.name.clone()).unwrap_or_default();
            let argv = [argv0.as_ptr(), std::ptr::null()];
            let funcs = bead.image.init_functions();
            let (argv_p, envp_p) = (argv.as_ptr(), weaves_strings::process_environ());
            let outcome = run_on_fiber(&ctx, &mut stack, || {
                for &f in &funcs {
                    // SAFETY: an initialiser of this relocated bead; glibc
                    // passes (argc, argv, envp) to initialisers, and so do we.
                    let f: extern "C" fn(
                        i32,
                        *const *const libc::c_char,
                        *const *const libc::c_char,
                    ) = unsafe { std::mem::transmute(f as usize) };
                    f(1, argv_p, envp_p);
                }
                ctx.finish();
                0
            });
            if let Outcome::Exited(s) = outcome {
                return Err(TapestryError::Run(format!(
                    "bead `{}` called exit({s}) while initialising",
                    bead.name
                )));
            }
        }
        t.stats.init = t0.elapsed();
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
fn dependency_order(beads: &[Bead]) -> Vec<usize> {
    let n = beads.len();
    let mut state = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((b, next)) = stack.pop() {
            let providers = &beads[b].providers;
            if next < providers.len() {
                stack.push((b, next + 1));
                let p = providers[next];
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
fn check_mapping_budget(plan: &Plan, modules: &[Loaded]) -> Result<(), TapestryError> {
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
fn summarise_imports(beads: &[Bead], i: usize, module: &Module, binding: &Binding) -> Imports {
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
