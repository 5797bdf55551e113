//! Growing a tapestry: load, map, bind, relocate and initialise what a plan
//! adds to the tapestry built so far.
//!
//! Building a tapestry is extending an empty one by its whole plan; a live
//! change (`weaves apply`) extends a running one by a fragment. Either way
//! the plan is a superset of the current one: every module, bead, weave,
//! string and binding with an index past the current counts is new.
//!
//! Everything that can be refused is checked before any bead code runs
//! (missing symbols, conflicting bindings, unknown entries). In a live
//! change, a refusal also unmaps what was mapped, so the running tapestry
//! is exactly as it was. Existing beads are never relocated again: a live
//! change may not change how any of them is bound.

use std::ffi::CString;
use std::time::Instant;

use weaves_arena::Arena;
use weaves_loader::{BeadImage, TlsResolver};
use weaves_strings::{run_on_fiber, ExecCtx, FiberStack, Outcome, StringInfo};

use crate::binder::{self, BeadView, Binding, Provider};
use crate::config::{suggest, Plan};
use crate::error::TapestryError;
use crate::redirect::{self, BeadRef};
use crate::system;
use crate::tapestry::{
    check_mapping_budget, dependency_order, summarise_imports, Bead, Loaded, Tapestry,
};

/// Whether an extension is the initial build or a change to a running
/// tapestry (which refuses what would disturb existing beads).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extension {
    Initial,
    Live,
    /// A live change checked but not made: everything is mapped, bound and
    /// relocated, then unmapped again (a dry run for `atomic` scripts).
    Check,
    /// The initial build of a tapestry restored from an image: as Initial,
    /// but no initialiser runs (the image holds initialised memory).
    Restore,
    /// An initial build checked but not made (`weaves check`): as Initial
    /// up to relocation, then unmapped again; no initialiser runs.
    Verify,
    /// A library bead code `dlopen`ed: as Live, and its private
    /// dependencies get beads of their own (they join only its new weave).
    Open,
}

impl Extension {
    /// Whether this extends a running tapestry (rather than building one).
    fn live(self) -> bool {
        matches!(self, Extension::Live | Extension::Check | Extension::Open)
    }

    /// Whether the beads are unmapped again once bound and relocated.
    fn dry_run(self) -> bool {
        matches!(self, Extension::Check | Extension::Verify)
    }

    fn name(self) -> &'static str {
        match self {
            Extension::Initial => "build",
            Extension::Live => "apply",
            Extension::Check => "check-block",
            Extension::Restore => "rebuild",
            Extension::Verify => "check",
            Extension::Open => "dlopen",
        }
    }
}

/// What an extension added.
pub(crate) struct Added {
    pub(crate) first_string: usize,
}

impl Tapestry {
    /// Adds to the tapestry everything `plan` has beyond its current plan.
    pub(crate) fn extend(
        &mut self,
        mut plan: Plan,
        how: Extension,
    ) -> Result<Added, TapestryError> {
        let span = tracing::debug_span!("build", tapestry = %plan.name, how = %how.name());
        let _span = span.enter();
        let live = how.live();
        let (b0, s0, k0) = (
            self.beads.len(),
            self.plan.strings.len(),
            self.plan.bindings.len(),
        );
        let arena = Arena::global().map_err(|e| TapestryError::Run(e.to_string()))?;

        // Modules, and the system libraries they need.
        let t0 = Instant::now();
        // Private dependencies of a live addition would have to join running
        // weaves; a dlopened library's join only its own new weave.
        let new_modules = crate::deps::load_modules_from(
            &mut plan,
            &self.modules,
            live && how != Extension::Open,
        )?;
        self.stats.load_modules += t0.elapsed();
        tracing::debug!(
            "load: {} module(s) in {:.3} ms",
            new_modules.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        for (m, loaded) in plan.modules[self.modules.len()..].iter().zip(&new_modules) {
            tracing::trace!(
                "load: module `{}` from {} ({} imports)",
                m.name,
                m.path.display(),
                loaded.module.imports().len()
            );
        }
        if live {
            refuse_live_only(&plan, self, &new_modules)?;
        }
        let modules_all: Vec<&Loaded> = self.modules.iter().chain(&new_modules).collect();
        check_mapping_budget(&plan, &modules_all)?;

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
        if how == Extension::Live {
            // Existing beads that a new weave or string reaches may have
            // become shared: never preempt inside them from now on.
            for b in 0..b0 {
                if weave_count[b] > 1 || string_count[b] > 1 {
                    weaves_interpose::mark_bead_shared(self.beads[b].owner);
                }
            }
        }

        // Map one image per new bead.
        let t0 = Instant::now();
        let mut fresh: Vec<Bead> = Vec::with_capacity(plan.beads.len() - b0);
        let mapped = (|| -> Result<(), TapestryError> {
            for (i, b) in plan.beads.iter().enumerate().skip(b0) {
                let owner = arena.new_owner();
                let image = BeadImage::map(&modules_all[b.module].module, owner)?;
                let tls_module = match image.tls_image() {
                    Some((addr, t)) => weaves_strings::tls::register(
                        owner,
                        addr,
                        t.filesz,
                        t.memsz,
                        t.align,
                        image.module().uses_local_exec_tls(),
                    ),
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
                    shared: weave_count[i] > 1,
                    preemptible: string_count[i] <= 1,
                });
                fresh.push(Bead {
                    name: b.name.clone(),
                    module: b.module,
                    image,
                    owner,
                    tls_module,
                    weaves: Vec::new(),
                    providers: Vec::new(),
                    imports: Default::default(),
                    adopted_heaps: Vec::new(),
                });
            }
            Ok(())
        })();
        if let Err(e) = mapped {
            unmap(fresh);
            return Err(e);
        }
        self.stats.map += t0.elapsed();
        self.stats.beads += fresh.len();
        tracing::debug!(
            "map: {} bead(s) in {:.3} ms",
            fresh.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        // Fiber stacks for the strings are made while the beads are bound,
        // relocated and initialised (not while they are mapped: the two
        // would contend for the process's address-space lock).
        let stacks = match how {
            Extension::Initial => crate::stacks::make_ahead(&plan),
            _ => None,
        };
        let _stacks = JoinOnDrop(stacks);

        // From here on a refusal must unmap the fresh beads again.
        match self.bind_and_relocate(&plan, &new_modules, fresh, how, b0, s0) {
            Ok((fresh, _, _, _)) if how.dry_run() => {
                unmap(fresh);
                Ok(Added { first_string: s0 })
            }
            Ok((fresh, bindings, entries, tuple_regions)) => {
                self.modules.extend(new_modules);
                self.beads.extend(fresh);
                for (w, weave) in plan.weaves.iter().enumerate().skip(self.plan.weaves.len()) {
                    for &b in weave.beads.iter().filter(|&&b| b < b0) {
                        self.beads[b].weaves.push(w);
                    }
                }
                self.bindings.extend(bindings);
                self.entries.extend(entries);
                self.tuple_storage.extend(tuple_regions);
                let order: Vec<usize> = dependency_order(&self.beads)
                    .into_iter()
                    .filter(|&b| b >= b0)
                    .collect();
                for b in &plan.bindings[k0..] {
                    let (from, to) = (&b.from, &b.to);
                    let port = weaves_interpose::messages::bind(
                        (self.beads[from.0].owner, &from.1),
                        (self.beads[to.0].owner, &to.1),
                    )
                    .map_err(|e| TapestryError::Bind(format!("binding at line {}: {e}", b.line)))?;
                    self.ports.push(port);
                }
                self.plan = plan;
                if how == Extension::Restore {
                    self.init_order.extend(order);
                } else {
                    self.initialise(&order)?;
                }
                Ok(Added { first_string: s0 })
            }
            Err((fresh, e)) => {
                unmap(fresh);
                Err(e)
            }
        }
    }

    /// Binds the fresh beads (and checks existing beads that joined new
    /// weaves), resolves the new strings' entries, and relocates the fresh
    /// beads. On a refusal, hands the fresh beads back for unmapping.
    #[allow(clippy::type_complexity)]
    fn bind_and_relocate(
        &mut self,
        plan: &Plan,
        new_modules: &[Loaded],
        mut fresh: Vec<Bead>,
        how: Extension,
        b0: usize,
        s0: usize,
    ) -> Result<
        (Vec<Bead>, Vec<Binding>, Vec<u64>, Vec<weaves_arena::Region>),
        (Vec<Bead>, TapestryError),
    > {
        let live = how.live();
        for (w, weave) in plan.weaves.iter().enumerate().skip(self.plan.weaves.len()) {
            for &b in &weave.beads {
                if b >= b0 {
                    fresh[b - b0].weaves.push(w);
                }
            }
        }
        let t0 = Instant::now();
        let modules: Vec<&Loaded> = self.modules.iter().chain(new_modules).collect();
        let all: Vec<&Bead> = self.beads.iter().chain(&fresh).collect();
        let views: Vec<BeadView<'_>> = all
            .iter()
            .map(|b| BeadView {
                name: &b.name,
                image: &b.image,
                tls_module: b.tls_module,
            })
            .collect();
        // Native beads' imports a weave binds to Wasm exports: each gets a
        // trampoline now (the Wasm beads load after the native ones, and
        // the trampolines are bound to them then).
        let claimed =
            match crate::wasm::claim_trampolines(plan, b0, |i| &modules[all[i].module].module) {
                Ok(c) => c,
                Err(e) => {
                    drop(views);
                    drop(all);
                    return Err((fresh, e));
                }
            };
        let bind_one = |i: usize, weave: &[usize]| -> (Binding, Vec<u32>) {
            let loaded = modules[all[i].module];
            let system = |idx: u32| -> Option<u64> {
                let mut cache = loaded
                    .system_cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *cache.entry(idx).or_insert_with(|| {
                    let s = loaded.module.symbol(idx);
                    if s.kind == weaves_loader::SymKind::Tls {
                        // Before the lookup, which would make it dynamic.
                        if let Err(why) = crate::static_tls::make_static(&s.name) {
                            tracing::debug!(
                                "the thread-local `{}` stays in dynamic TLS: {why}",
                                s.name
                            );
                        }
                    }
                    system::lookup(&loaded.system, &s.name, s.version.as_deref())
                })
            };
            let (mut binding, mut lost) = binder::bind(i, &loaded.own_refs, weave, &views, &system);
            for (_, t) in claimed.iter().filter(|(b, _)| *b == i) {
                binding.targets[t.symbol as usize] =
                    Some(weaves_loader::Target::Address(t.trampoline.address()));
                binding.providers[t.symbol as usize] = Some(Provider::Runtime);
                lost.retain(|&k| k != t.symbol);
            }
            (binding, lost)
        };
        let conflict = |i: usize, first: usize, w: usize, a: &Binding, b: &Binding| {
            let idx = (0..a.targets.len())
                .find(|&k| a.targets[k] != b.targets[k])
                .unwrap_or(0);
            let who = |p: Option<Provider>| match p {
                Some(Provider::Bead(b)) => format!("bead `{}`", all[b].name),
                Some(Provider::CopiedBy(b)) => format!("the copy in bead `{}`", all[b].name),
                Some(Provider::Runtime) => "the runtime".into(),
                Some(Provider::System) => "a system library".into(),
                _ => "nothing".into(),
            };
            TapestryError::Bind(format!(
                "conflicting bindings: bead `{}` is in weaves `{}` and `{}`, which bind `{}` to {} and to {}",
                all[i].name,
                plan.weaves[first].name,
                plan.weaves[w].name,
                modules[all[i].module].module.symbol(idx as u32).display_name(),
                who(a.providers[idx]),
                who(b.providers[idx])
            ))
        };

        // Functions found nowhere, bound lazily (unless `bind = "now"`):
        // each PLT slot gets a stub that fails at the first call, as the
        // system loader's lazy binding would.
        let bind_lazily = |i: usize, binding: &mut Binding, lost: &mut Vec<u32>| -> Vec<String> {
            // A dlopened library binds eagerly, as with RTLD_NOW: its
            // missing symbols are dlopen's error.
            if plan.bind_now || how == Extension::Open {
                return Vec::new();
            }
            let module = &modules[all[i].module].module;
            let (functions, data): (Vec<u32>, Vec<u32>) =
                lost.iter().partition(|&&k| only_called(module, k));
            let names: Vec<String> = functions
                .iter()
                .map(|&k| module.symbol(k).name.clone())
                .collect();
            let path = module.path().display().to_string();
            let Some(stubs) = weaves_interpose::lazy_stubs_for(&path, &names) else {
                return Vec::new();
            };
            for (&k, stub) in functions.iter().zip(stubs) {
                binding.targets[k as usize] = Some(weaves_loader::Target::Address(stub));
                binding.providers[k as usize] = Some(Provider::Absent);
            }
            *lost = data;
            functions
                .iter()
                .map(|&k| module.symbol(k).display_name())
                .collect()
        };
        let mut bindings: Vec<Binding> = Vec::with_capacity(fresh.len());
        let mut missing: Vec<crate::error::Unresolved> = Vec::new();
        let mut lazily: Vec<(usize, Vec<String>)> = Vec::new();
        let mut refusal: Option<TapestryError> = None;
        for i in b0..all.len() {
            let bead = all[i];
            let weaves = &fresh[i - b0].weaves;
            let first = weaves
                .first()
                .map_or(Vec::new(), |&w| lookup_order(plan, w));
            let (mut binding, mut lost) = bind_one(i, &first);
            let lazy = bind_lazily(i, &mut binding, &mut lost);
            if !lazy.is_empty() {
                lazily.push((i, lazy));
            }
            if !lost.is_empty() {
                let module = &modules[bead.module].module;
                missing.push(crate::error::Unresolved {
                    bead: bead.name.clone(),
                    module: module.path().to_owned(),
                    symbols: lost
                        .iter()
                        .map(|&k| module.symbol(k).display_name())
                        .collect(),
                    functions: lost.iter().map(|&k| only_called(module, k)).collect(),
                });
            }
            for &w in weaves.iter().skip(1) {
                let (mut other, mut lost) = bind_one(i, &lookup_order(plan, w));
                bind_lazily(i, &mut other, &mut lost);
                if other != binding && refusal.is_none() {
                    refusal = Some(conflict(i, weaves[0], w, &binding, &other));
                }
            }
            bindings.push(binding);
        }
        if !lazily.is_empty() && missing.is_empty() && how != Extension::Check {
            // One line per module and set of functions (an MPI program's
            // sixteen ranks are one line).
            let mut by_module: std::collections::BTreeMap<(String, String), Vec<&str>> =
                Default::default();
            for (i, names) in &lazily {
                let path = modules[all[*i].module].module.path().display().to_string();
                by_module
                    .entry((path, names.join(", ")))
                    .or_default()
                    .push(&all[*i].name);
            }
            for ((path, names), beads) in by_module {
                let who = match beads.as_slice() {
                    [one] => format!("bead `{one}`"),
                    many => format!("beads `{}`", many.join("`, `")),
                };
                tracing::warn!(
                    "{who} ({path}) call{} functions no bead or library defines: {names}; only a call fails (bind = \"now\" refuses them at load)",
                    if beads.len() == 1 { "s" } else { "" }
                );
            }
        }
        // Existing beads in new weaves must bind there as they are bound.
        for (w, weave) in plan.weaves.iter().enumerate().skip(self.plan.weaves.len()) {
            for &b in weave.beads.iter().filter(|&&b| b < b0) {
                let (mut other, mut lost) = bind_one(b, &weave.beads);
                bind_lazily(b, &mut other, &mut lost);
                if other != self.bindings[b] && refusal.is_none() {
                    let first = self.beads[b].weaves.first().copied().unwrap_or(w);
                    refusal = Some(conflict(b, first, w, &self.bindings[b], &other));
                }
            }
        }
        drop(views);
        drop(all);
        if let Some(e) = refusal {
            return Err((fresh, e));
        }
        if !missing.is_empty() {
            return Err((fresh, TapestryError::Unresolved(missing)));
        }

        // COPY relocations and tuple spaces: one storage per variable. They
        // rewire other beads' bindings, so only an initial build has them
        // (a live change refused them already).
        let mut tuple_regions = Vec::new();
        let mut tuple_initial = Vec::new();
        if !live {
            let refs: Vec<BeadRef<'_>> = fresh
                .iter()
                .map(|b| BeadRef {
                    name: &b.name,
                    owner: b.owner,
                    module: &modules[b.module].module,
                    base: b.image.base(),
                })
                .collect();
            let copied = redirect::apply_copies(&refs, &mut bindings)
                .and_then(|()| redirect::apply_tuple_spaces(plan, &refs, &mut bindings));
            drop(refs);
            match copied {
                Ok(t) => {
                    tuple_regions = t.regions;
                    tuple_initial = t.initial;
                }
                Err(e) => return Err((fresh, e)),
            }
        }
        {
            let refs: Vec<BeadRef<'_>> = fresh
                .iter()
                .map(|b| BeadRef {
                    name: &b.name,
                    owner: b.owner,
                    module: &modules[b.module].module,
                    base: b.image.base(),
                })
                .collect();
            redirect::privatise_getopt_variables(&refs, &mut bindings);
        }
        for (k, b) in bindings.iter().enumerate() {
            let i = b0 + k;
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
            fresh[k].providers = p;
        }
        {
            let all: Vec<&Bead> = self.beads.iter().chain(&fresh).collect();
            let summaries: Vec<_> = bindings
                .iter()
                .enumerate()
                .map(|(k, b)| {
                    summarise_imports(&all, b0 + k, &modules[all[b0 + k].module].module, b)
                })
                .collect();
            drop(all);
            for (bead, imports) in fresh.iter_mut().zip(summaries) {
                bead.imports = imports;
                log_binding(bead);
            }
            if tracing::enabled!(tracing::Level::TRACE) {
                for (k, b) in bindings.iter().enumerate() {
                    let bead = &fresh[k];
                    let module = &modules[bead.module].module;
                    for &idx in module.imports() {
                        let to = match b.providers.get(idx as usize).copied().flatten() {
                            Some(Provider::Bead(p)) | Some(Provider::CopiedBy(p)) => {
                                let name = if p < b0 {
                                    &self.beads[p].name
                                } else {
                                    &fresh[p - b0].name
                                };
                                format!("bead `{name}`")
                            }
                            Some(Provider::Own) => "itself".into(),
                            Some(Provider::Runtime) => "the runtime".into(),
                            Some(Provider::System) => "a system library".into(),
                            Some(Provider::TupleSpace) => "a tuple space".into(),
                            Some(Provider::Absent) => "nothing (weak: 0)".into(),
                            None => "?".into(),
                        };
                        tracing::trace!(
                            "bind: bead `{}`: {} -> {to}",
                            bead.name,
                            module.symbol(idx).display_name()
                        );
                    }
                }
            }
        }

        // Entry points of the new strings, resolved before anything runs.
        let mut entries = Vec::new();
        {
            let all: Vec<&Bead> = self.beads.iter().chain(&fresh).collect();
            for (k, s) in plan.strings.iter().enumerate().skip(s0) {
                if plan.wasm.strings.contains_key(&k) {
                    entries.push(0); // entered through its Wasm bead
                    continue;
                }
                match resolve_entry(plan, &all, &modules, s) {
                    Ok(a) => entries.push(a),
                    Err(e) => {
                        drop(all);
                        return Err((fresh, e));
                    }
                }
            }
        }
        self.stats.bind += t0.elapsed();
        tracing::debug!(
            "bind: {} bead(s) in {:.3} ms",
            fresh.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );

        // Relocate the fresh beads, providers first: COPY relocations read
        // relocated data, and IFUNC resolvers run relocated code.
        let t0 = Instant::now();
        let (dynamic, static_tls) = weaves_interpose::tls_resolvers();
        let resolvers = TlsResolver {
            dynamic,
            static_tls,
        };
        let order: Vec<usize> = {
            let mut providers: Vec<Vec<usize>> =
                self.beads.iter().map(|b| b.providers.clone()).collect();
            providers.extend(fresh.iter().map(|b| b.providers.clone()));
            crate::tapestry::order_by_providers(&providers)
                .into_iter()
                .filter(|&b| b >= b0)
                .collect()
        };
        for &b in &order {
            let bead = &fresh[b - b0];
            // SAFETY: every target comes from the binder (addresses of mapped
            // beads, the runtime or system libraries); the beads it refers to
            // are relocated already; no bead code runs yet.
            let relocated = unsafe {
                bead.image
                    .relocate(&bindings[b - b0].targets, bead.tls_module, resolvers)
            };
            if let Err(e) = relocated {
                return Err((fresh, e.into()));
            }
        }
        for &(storage, initial, size) in &tuple_initial {
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
        self.stats.relocate += t0.elapsed();
        tracing::debug!(
            "relocate: {} bead(s) in {:.3} ms",
            fresh.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        self.wasm.trampolines.extend(claimed);
        Ok((fresh, bindings, entries, tuple_regions))
    }

    /// Runs the initialisers of beads `order` (providers first).
    fn initialise(&mut self, order: &[usize]) -> Result<(), TapestryError> {
        let t0 = Instant::now();
        let mut stack = FiberStack::new(weaves_strings::DEFAULT_STACK)
            .map_err(|e| TapestryError::Run(e.to_string()))?;
        for &b in order {
            self.init_order.push(b);
            let bead = &self.beads[b];
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
            if let Some(what) = weaves_interpose::take_fault_report() {
                return Err(TapestryError::Run(format!(
                    "bead `{}` failed in its initialiser: {what}",
                    bead.name
                )));
            }
            if let Outcome::Exited(s) = outcome {
                return Err(TapestryError::Run(format!(
                    "bead `{}` called exit({s}) while initialising",
                    bead.name
                )));
            }
        }
        self.stats.init += t0.elapsed();
        tracing::debug!(
            "init: {} bead(s) in {:.3} ms",
            order.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    }
}

/// The beads a bead of weave `w` binds against, in order: its scope (the
/// opener's weave, for a `dlopen`ed library), then its own beads.
fn lookup_order(plan: &Plan, w: usize) -> Vec<usize> {
    let weave = &plan.weaves[w];
    weave.scope.iter().chain(&weave.beads).copied().collect()
}

/// One debug line per bead: which beads its imports bound to, and how many
/// went to the runtime and to system libraries.
fn log_binding(bead: &Bead) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let i = &bead.imports;
    let wires: Vec<String> = i
        .beads
        .iter()
        .map(|w| match (&w.bead, w.via.as_str()) {
            (Some(b), "bead") => format!("{} -> bead `{b}`", w.symbol),
            (Some(b), via) => format!("{} -> bead `{b}` ({via})", w.symbol),
            (None, via) => format!("{} -> {via}", w.symbol),
        })
        .collect();
    tracing::debug!(
        "bind: bead `{}`: {}{}{} to the runtime, {} to system libraries{}",
        bead.name,
        wires.join(", "),
        if wires.is_empty() { "" } else { "; " },
        i.runtime,
        i.system,
        if i.absent > 0 {
            format!(", {} weak ones found nowhere", i.absent)
        } else {
            String::new()
        }
    );
}

/// Whether the module only ever calls symbol `k` (every slot for it is a
/// PLT slot, or the symbol is typed as a function): what native lazy
/// binding would look up at its first call.
fn only_called(module: &weaves_loader::Module, k: u32) -> bool {
    let mut slots = module.import_slots().filter(|s| s.symbol == k).peekable();
    if slots.peek().is_none() {
        return module.symbol(k).kind == weaves_loader::SymKind::Func;
    }
    slots.all(|s| s.kind == weaves_loader::SlotKind::Plt)
}

/// The address of string `s`'s entry.
fn resolve_entry(
    plan: &Plan,
    beads: &[&Bead],
    modules: &[&Loaded],
    s: &crate::config::StringPlan,
) -> Result<u64, TapestryError> {
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
    found.ok_or_else(|| {
        let known = candidates
            .iter()
            .flat_map(|&b| modules[beads[b].module].module.entry_names())
            .collect::<Vec<_>>();
        let place = match s.entry_bead {
            Some(b) => format!("bead `{}`", beads[b].name),
            None => format!("any bead of weave `{}`", weave.name),
        };
        TapestryError::Config {
            path: plan.path.clone(),
            message: format!(
                "line {}: string `{}`: entry `{}` is not a function of {place}{}",
                s.line,
                s.name,
                s.entry_symbol,
                suggest(&s.entry_symbol, known.into_iter())
            ),
        }
    })
}

/// What a live change may not do (yet): checked before anything is mapped.
fn refuse_live_only(
    plan: &Plan,
    t: &Tapestry,
    new_modules: &[Loaded],
) -> Result<(), TapestryError> {
    if plan.tuple_spaces.len() > t.plan.tuple_spaces.len() {
        return Err(TapestryError::Run(
            "not supported: adding a tuple space to a running tapestry (it would rewire running beads)".into(),
        ));
    }
    for (m, loaded) in plan.modules[t.modules.len()..].iter().zip(new_modules) {
        if !loaded.module.copy_imports().is_empty() {
            return Err(TapestryError::Run(format!(
                "not supported: module `{}` ({}) has COPY relocations, which would rewire running beads; add it when the tapestry starts",
                m.name,
                m.path.display()
            )));
        }
    }
    Ok(())
}

/// Unmaps beads that never ran (a refused change).
fn unmap(beads: Vec<Bead>) {
    for b in beads {
        weaves_interpose::unregister_bead(b.owner);
        weaves_strings::tls::unregister(b.owner);
        // SAFETY: the bead was mapped by this change and nothing of it ran:
        // no code or pointer refers into it.
        unsafe { b.image.unmap() };
    }
}

/// Waits for a helper thread when dropped (on every way out of a
/// function).
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(helper) = self.0.take() {
            let _ = helper.join();
        }
    }
}
