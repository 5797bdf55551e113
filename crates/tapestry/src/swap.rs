//! `weaves swap ID BEAD NEW_MODULE`: replacing a live bead by a new version
//! of its module, with the mediator of `weaves_swap`.
//!
//! What the tapestry adds to the mediator's *how* is the *what*:
//!
//! 1. The new version is loaded as a bead bound like the old one: for each
//!    weave of the old bead, a hidden weave whose scope is that weave
//!    without the old bead (the same providers, in the same order). Its
//!    initialisers run. Nothing else has changed yet.
//! 2. The client slots: every import of every other live bead bound to the
//!    old bead (from any weave: a bead shared by several weaves is swapped
//!    for all of them at once). Functions get gates; variables are pointed
//!    at the new bead's at completion. The new version must define every
//!    one of them.
//! 3. The mediator runs (forward, block); the state moves in the format
//!    negotiated ([`weaves_swap::transfer`], or the modules' own hooks,
//!    which run here as bead code); the mediator completes.
//! 4. The new bead takes the old one's place and name in its weaves and
//!    bindings. The old bead is retired: unless no state moved, its
//!    finalisers do not run (they would destroy what the new version now
//!    owns) and its heap stays, adopted by the new bead; its data pages go
//!    back to the system; its code stays mapped until the tapestry ends
//!    (a stale function pointer may still reach it).
//!
//! An abort (timeout, a failed transfer, a fault in a hook) gives the slots
//! back, unloads the new version, and leaves the tapestry as it was.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weaves_loader::{SymKind, Target};
use weaves_strings::{run_on_fiber, ExecCtx, FiberStack, Scheduler, StringInfo, Task};
use weaves_swap::mediator::Swap;
use weaves_swap::transfer::{EXPORT_HOOK, IMPORT_HOOK};
use weaves_swap::{Format, GatedImport, Inside, ObjectMap, Slot, TransferReport};

use crate::binder::Provider;
use crate::config::{BeadPlan, ModulePlan, WeavePlan};
use crate::extend::Extension;
use crate::remove::{mark_removed, shed, Kind};
use crate::tapestry::{summarise_imports, Bead, Tapestry};

/// What `weaves swap` asks for.
#[derive(Clone, Debug)]
pub(crate) struct SwapRequest {
    pub(crate) bead: String,
    pub(crate) path: PathBuf,
    /// `None`: negotiate (`auto`).
    pub(crate) transfer: Option<Format>,
    pub(crate) timeout: Duration,
}

/// A client's variable import of the old bead, pointed at the new bead's
/// at completion.
struct VariableSlot {
    slots: Vec<Slot>,
    new: u64,
}

/// Client imports to change, per client bead: (import index, new origin,
/// new address).
type Rewired = Vec<(usize, u32, u64)>;

/// Phase timings, in microseconds.
#[derive(Default)]
struct Phases {
    load: f64,
    forward: f64,
    block: f64,
    transfer: f64,
    complete: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One bead being swapped.
struct Pair {
    old: usize,
    new: usize,
    /// The new bead's hidden weaves (see the module docs).
    hidden: Vec<usize>,
    format: Format,
    report: TransferReport,
    rewired: BTreeMap<usize, Rewired>,
    slots: usize,
    /// The old and new modules' variable types (from debug information),
    /// read before anything blocks.
    types: (
        Option<weaves_swap::transfer::Types>,
        Option<weaves_swap::transfer::Types>,
    ),
}

impl Tapestry {
    /// Swaps each bead `req.bead` for a bead of the module at `req.path`,
    /// all in one step: their clients change over at the same moment, and
    /// if one cannot, none does.
    pub(crate) fn swap(
        &mut self,
        reqs: &[SwapRequest],
        sched: &Arc<Scheduler>,
        handles: &mut Vec<Option<Arc<Task>>>,
    ) -> Result<serde_json::Value, String> {
        let names = reqs
            .iter()
            .map(|r| format!("`{}`", r.bead))
            .collect::<Vec<_>>()
            .join(", ");
        let mut olds = Vec::new();
        for r in reqs {
            let old = self.live_bead(&r.bead)?;
            if olds.contains(&old) {
                return Err(format!("bead `{}` is swapped twice in one step", r.bead));
            }
            self.refuse_unswappable(old)?;
            olds.push(old);
        }
        let mut phases = Phases::default();
        let t0 = Instant::now();
        let mut pairs: Vec<Pair> = Vec::new();
        for (r, &old) in reqs.iter().zip(&olds) {
            match self.load_new_version(old, r) {
                Ok((new, hidden)) => pairs.push(Pair {
                    old,
                    new,
                    hidden,
                    format: Format::None,
                    report: TransferReport::default(),
                    rewired: BTreeMap::new(),
                    slots: 0,
                    types: (None, None),
                }),
                Err(e) => {
                    self.discard_new_versions(&pairs, handles);
                    return Err(format!("swap of {names} refused: {e}"));
                }
            }
        }
        phases.load = us(t0.elapsed());
        let stats = match self.mediate(&mut pairs, reqs, sched, &mut phases) {
            Ok(stats) => stats,
            Err(e) => {
                self.discard_new_versions(&pairs, handles);
                let unchanged = if reqs.len() == 1 {
                    "it runs on its old version, unchanged"
                } else {
                    "they run on their old versions, unchanged"
                };
                return Err(format!("swap of {names} aborted: {e}; {unchanged}"));
            }
        };
        let mut reports = Vec::new();
        for (p, r) in pairs.iter_mut().zip(reqs) {
            reports.push(serde_json::json!({
                "swapped": {
                    "bead": r.bead,
                    "from": self.beads[p.old].image.module().path().display().to_string(),
                    "to": r.path.display().to_string(),
                },
                "transfer": p.format.name(),
                "transferred": p.report.transferred,
                "not_transferred": p.report.not_transferred,
                "bytes_transferred": p.report.bytes,
                "pointers_translated": p.report.pointers_translated,
                "heap_bytes_scanned": p.report.heap_bytes_scanned,
                "slots": p.slots,
                "blocked_us": phases.block + phases.transfer + phases.complete,
                "load_us": phases.load,
                "phases_us": {
                    "forward": phases.forward,
                    "block": phases.block,
                    "transfer": phases.transfer,
                    "complete": phases.complete,
                },
                "calls_forwarded": stats.calls_forwarded,
                "calls_blocked": stats.calls_blocked,
                "strings_drained": stats.strings_drained,
            }));
        }
        for p in &mut pairs {
            let rewired = std::mem::take(&mut p.rewired);
            self.take_place(p.old, p.new, &p.hidden, rewired, p.format);
        }
        self.forget_trailing_removed(handles);
        Ok(match <[serde_json::Value; 1]>::try_from(reports) {
            Ok([one]) => one,
            Err(all) => serde_json::json!({ "swaps": all }),
        })
    }

    /// What a swap cannot handle yet, refused before anything is loaded.
    fn refuse_unswappable(&self, old: usize) -> Result<(), String> {
        let name = &self.plan.beads[old].name;
        let removed = &self.plan.removed;
        if self
            .plan
            .bindings
            .iter()
            .enumerate()
            .any(|(k, b)| !removed.bindings.contains(&k) && (b.from.0 == old || b.to.0 == old))
        {
            return Err(format!(
                "not supported: swapping bead `{name}`, which has message bindings (unbind them first)"
            ));
        }
        if self
            .plan
            .tuple_spaces
            .iter()
            .any(|t| t.beads.contains(&old))
        {
            return Err(format!(
                "not supported: swapping bead `{name}`, which shares a tuple space"
            ));
        }
        for (x, b) in self.bindings.iter().enumerate() {
            if removed.beads.contains(&x) {
                continue;
            }
            if b.providers
                .iter()
                .any(|p| matches!(p, Some(Provider::CopiedBy(o)) if *o == old))
            {
                return Err(format!(
                    "not supported: swapping bead `{name}`, whose variables bead `{}` uses as COPY relocations",
                    self.plan.beads[x].name
                ));
            }
        }
        Ok(())
    }

    /// Loads the new version as a bead bound as the old one is. Returns it
    /// and its hidden weaves.
    fn load_new_version(
        &mut self,
        old: usize,
        req: &SwapRequest,
    ) -> Result<(usize, Vec<usize>), String> {
        let file = req.path.file_name().map_or_else(
            || req.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let mut plan = self.plan.clone();
        let taken = |plan: &crate::config::Plan, n: &str| plan.modules.iter().any(|m| m.name == n);
        let mut module_name = format!("{file} (swap)");
        let mut k = 2;
        while taken(&plan, &module_name) {
            module_name = format!("{file} (swap {k})");
            k += 1;
        }
        plan.modules.push(ModulePlan {
            name: module_name,
            path: req.path.clone(),
            line: 0,
            opened: true,
        });
        let temp = format!("{}@swap{}", req.bead, plan.beads.len());
        plan.beads.push(BeadPlan {
            name: temp.clone(),
            module: plan.modules.len() - 1,
            line: 0,
        });
        let new = plan.beads.len() - 1;
        let mut weaves = self.beads[old].weaves.clone();
        if weaves.is_empty() {
            weaves.push(usize::MAX);
        }
        let first_hidden = plan.weaves.len();
        for &w in &weaves {
            let scope: Vec<usize> = match plan.weaves.get(w) {
                Some(wp) => wp
                    .scope
                    .iter()
                    .chain(&wp.beads)
                    .copied()
                    .filter(|&b| b != old)
                    .collect(),
                None => Vec::new(),
            };
            plan.weaves.push(WeavePlan {
                name: format!("({temp} {})", plan.weaves.len()),
                beads: vec![new],
                line: 0,
                scope,
            });
        }
        let hidden: Vec<usize> = (first_hidden..plan.weaves.len()).collect();
        self.changed_live = true;
        self.extend(plan, Extension::Open)
            .map_err(|e| format!("cannot load {}: {e}", req.path.display()))?;
        Ok((new, hidden))
    }

    /// Runs the mediator and the transfers. On success every client slot
    /// points at the new beads.
    fn mediate(
        &mut self,
        pairs: &mut [Pair],
        reqs: &[SwapRequest],
        sched: &Arc<Scheduler>,
        phases: &mut Phases,
    ) -> Result<weaves_swap::SwapStats, String> {
        let mut gated = Vec::new();
        let mut variables = Vec::new();
        let mut text = Vec::new();
        for (p, r) in pairs.iter_mut().zip(reqs) {
            let (g, v, rewired) = self.client_slots(p.old, p.new)?;
            p.slots = g.iter().map(|g| g.slots.len()).sum::<usize>()
                + v.iter().map(|v| v.slots.len()).sum::<usize>();
            p.rewired = rewired;
            p.types = (
                weaves_swap::types::variable_types(self.beads[p.old].image.module().path()),
                weaves_swap::types::variable_types(self.beads[p.new].image.module().path()),
            );
            p.format = self.object_map(p).negotiate(r.transfer)?;
            if matches!(p.format, Format::BySymbol | Format::ByReference) {
                self.object_map(p).prefault();
            }
            gated.extend(g);
            variables.extend(v);
            text.extend(self.beads[p.old].image.code_ranges());
        }
        let mut stack = if pairs.iter().any(|p| p.format == Format::Hooks) {
            Some(FiberStack::new(weaves_strings::DEFAULT_STACK).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let timeout = reqs.iter().map(|r| r.timeout).max().unwrap_or_default();
        let deadline = Instant::now() + timeout;
        let tasks = || sched.tasks();
        let t = Instant::now();
        let mut swap =
            Swap::begin(gated, text).map_err(|e| format!("cannot make the swap's gates: {e}"))?;
        let waited = swap
            .wait_clear(&tasks, deadline)
            .and_then(|()| {
                phases.forward = us(t.elapsed());
                let t = Instant::now();
                let r = swap.block_and_drain(&tasks, deadline);
                phases.block = us(t.elapsed());
                r
            })
            .map_err(|inside| self.describe_inside(pairs, &inside, timeout));
        if let Err(e) = waited {
            swap.abort();
            return Err(e);
        }
        let t = Instant::now();
        for p in pairs.iter_mut() {
            let map = self.object_map(p);
            let moved = match p.format {
                // SAFETY: nothing runs in either bead: the mediator blocks
                // every call into the old ones and no one can reach the new
                // ones yet.
                Format::BySymbol | Format::ByReference => Ok(unsafe {
                    let mut r = map.move_variables();
                    let regions: Vec<(u64, u64)> = self
                        .heaps_reaching(p.old)
                        .into_iter()
                        .filter_map(weaves_arena::existing_heap)
                        .flat_map(|h| h.extent_regions())
                        .map(|r| (r.addr as u64, r.end() as u64))
                        .collect();
                    map.translate_heap(&regions, &mut r);
                    r
                }),
                Format::None => Ok(map.nothing_moved()),
                Format::Hooks => self.run_hooks(p.old, p.new, stack.as_mut()),
            };
            match moved {
                Ok(r) => p.report = r,
                Err(e) => {
                    swap.abort();
                    let name = &self.plan.beads[p.old].name;
                    return Err(format!("bead `{name}`: {e}"));
                }
            }
        }
        phases.transfer = us(t.elapsed());
        let t = Instant::now();
        for v in &variables {
            for s in &v.slots {
                // SAFETY: a client's slot for a variable of an old bead;
                // `v.new` is the new bead's variable of the same name and
                // version, which now holds the state.
                unsafe { s.store(v.new) };
            }
        }
        let stats = swap.complete();
        phases.complete = us(stats.released_at.unwrap_or_else(Instant::now) - t);
        Ok(stats)
    }

    /// The heaps that may hold pointers into bead `old`: its own, those it
    /// adopted from earlier versions, and those of the beads it shares a
    /// weave with (allocations a system library makes on a string's
    /// behalf, say a C++ container's nodes, land in the heap of the
    /// string's home bead).
    fn heaps_reaching(&self, old: usize) -> Vec<weaves_arena::OwnerId> {
        let b = &self.beads[old];
        let mut owners = vec![b.owner];
        owners.extend(&b.adopted_heaps);
        for &w in &b.weaves {
            for &x in &self.plan.weaves[w].beads {
                if !self.plan.removed.beads.contains(&x) {
                    owners.push(self.beads[x].owner);
                    owners.extend(&self.beads[x].adopted_heaps);
                }
            }
        }
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    /// The two beads of a pair, for state transfer.
    fn object_map<'a>(&'a self, p: &'a Pair) -> ObjectMap<'a> {
        let (ob, nb) = (&self.beads[p.old], &self.beads[p.new]);
        ObjectMap {
            old: ob.image.module(),
            old_base: ob.image.base(),
            new: nb.image.module(),
            new_base: nb.image.base(),
            old_types: p.types.0.as_ref(),
            new_types: p.types.1.as_ref(),
        }
    }

    /// Every client slot of the old bead: gated functions, variables, and
    /// the binding records to update per client.
    #[allow(clippy::type_complexity)]
    fn client_slots(
        &self,
        old: usize,
        new: usize,
    ) -> Result<
        (
            Vec<GatedImport>,
            Vec<VariableSlot>,
            BTreeMap<usize, Rewired>,
        ),
        String,
    > {
        let nm = self.beads[new].image.module().clone();
        let mut gated: BTreeMap<u64, GatedImport> = BTreeMap::new();
        let mut variables = Vec::new();
        let mut rewired: BTreeMap<usize, Rewired> = BTreeMap::new();
        for (x, bead) in self.beads.iter().enumerate() {
            if x == old || x == new || self.plan.removed.beads.contains(&x) {
                continue;
            }
            let binding = &self.bindings[x];
            for (k, p) in binding.providers.iter().enumerate() {
                if *p != Some(Provider::Bead(old)) {
                    continue;
                }
                let module = bead.image.module();
                let sym = module.symbol(k as u32);
                let origin = nm
                    .find_export(&sym.name, sym.version.as_deref())
                    .ok_or_else(|| {
                        format!(
                            "the new version does not define `{}`, which bead `{}` imports",
                            sym.display_name(),
                            bead.name
                        )
                    })?;
                let new_addr = match self.beads[new]
                    .image
                    .own_target(origin, self.beads[new].tls_module)
                {
                    Target::Address(a) => a,
                    _ => {
                        return Err(format!(
                            "not supported: swapping `{}`, a thread-local variable or indirect function",
                            sym.display_name()
                        ))
                    }
                };
                let Some(Target::Address(old_addr)) = binding.targets[k] else {
                    return Err(format!(
                        "not supported: swapping `{}` (not bound to an address)",
                        sym.display_name()
                    ));
                };
                let slots: Vec<Slot> = bead
                    .image
                    .slots_of(k as u32)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(addr, addend)| Slot { addr, addend })
                    .collect();
                let function = matches!(nm.symbol(origin).kind, SymKind::Func | SymKind::IFunc);
                if function {
                    gated
                        .entry(old_addr)
                        .or_insert_with(|| GatedImport {
                            symbol: sym.name.clone(),
                            old: old_addr,
                            new: new_addr,
                            slots: Vec::new(),
                        })
                        .slots
                        .extend(slots);
                } else {
                    variables.push(VariableSlot {
                        slots,
                        new: new_addr,
                    });
                }
                rewired.entry(x).or_default().push((k, origin, new_addr));
            }
        }
        Ok((gated.into_values().collect(), variables, rewired))
    }

    /// One clause naming the strings still inside the old bead.
    fn describe_inside(&self, pairs: &[Pair], inside: &[Inside], timeout: Duration) -> String {
        let mut parts = Vec::new();
        for i in inside.iter().take(4) {
            let image = pairs
                .iter()
                .map(|p| &self.beads[p.old].image)
                .find(|im| (im.base()..im.base() + im.module().image_span()).contains(&i.address));
            let what = if let Some(image) = image {
                let off = i.address - image.base();
                match image.module().function_at(off) {
                    Some((f, within)) => {
                        format!("an address of its code on its stack: `{f}+{within:#x}`")
                    }
                    None => format!("an address of its code on its stack: {:#x}", i.address),
                }
            } else if i.calls > 0 {
                format!("{} call(s) still inside", i.calls)
            } else {
                "running, not yet seen outside it".to_owned()
            };
            parts.push(format!("string `{}` is inside ({what})", i.string));
        }
        if inside.len() > 4 {
            parts.push(format!("and {} more", inside.len() - 4));
        }
        format!("after {} ms {}", timeout.as_millis(), parts.join(", "))
    }

    /// The `hooks` format: the old bead's `wv_state_export` writes its
    /// state, the new bead's `wv_state_import` reads it.
    fn run_hooks(
        &self,
        old: usize,
        new: usize,
        stack: Option<&mut FiberStack>,
    ) -> Result<TransferReport, String> {
        let stack = stack.ok_or("no stack for the transfer hooks")?;
        let hook = |b: usize, name: &str| -> Result<u64, String> {
            let bead = &self.beads[b];
            let m = bead.image.module();
            let i = m
                .find_export(name, None)
                .ok_or_else(|| format!("bead `{}` has no `{name}`", bead.name))?;
            match bead.image.own_target(i, bead.tls_module) {
                Target::Address(a) => Ok(a),
                _ => Err(format!(
                    "`{name}` of bead `{}` is not a function",
                    bead.name
                )),
            }
        };
        let export = hook(old, EXPORT_HOOK)?;
        let import = hook(new, IMPORT_HOOK)?;
        let run =
            |b: usize, stack: &mut FiberStack, f: &mut dyn FnMut() -> i64| -> Result<i64, String> {
                let bead = &self.beads[b];
                let ctx = ExecCtx::new(
                    StringInfo {
                        id: 0,
                        name: format!("state transfer of {}", bead.name),
                        weave: String::new(),
                        home: bead.owner,
                    },
                    None,
                );
                let mut value = 0;
                let outcome = run_on_fiber(&ctx, stack, || {
                    value = f();
                    0
                });
                if let Some(what) = weaves_interpose::take_fault_report() {
                    return Err(what.to_string());
                }
                if let weaves_strings::Outcome::Exited(s) = outcome {
                    return Err(format!("it called exit({s})"));
                }
                Ok(value)
            };
        let export: extern "C" fn(*mut u8, usize) -> usize =
            // SAFETY: the export of a mapped, relocated, initialised bead
            // with the documented hook signature
            // `size_t wv_state_export(void *buf, size_t cap)`.
            unsafe { std::mem::transmute(export as usize) };
        let import: extern "C" fn(*const u8, usize) -> i32 =
            // SAFETY: likewise, `int wv_state_import(const void *buf,
            // size_t len)`.
            unsafe { std::mem::transmute(import as usize) };
        let need = run(old, stack, &mut || export(std::ptr::null_mut(), 0) as i64)
            .map_err(|e| format!("`{EXPORT_HOOK}` of the old version failed: {e}"))?
            as usize;
        let mut buf = vec![0u8; need.max(1)];
        let wrote = run(old, stack, &mut || export(buf.as_mut_ptr(), need) as i64)
            .map_err(|e| format!("`{EXPORT_HOOK}` of the old version failed: {e}"))?
            as usize;
        if wrote > need {
            return Err(format!(
                "`{EXPORT_HOOK}` of the old version needed {need} bytes, then {wrote}"
            ));
        }
        let status = run(new, stack, &mut || i64::from(import(buf.as_ptr(), wrote)))
            .map_err(|e| format!("`{IMPORT_HOOK}` of the new version failed: {e}"))?;
        if status != 0 {
            return Err(format!(
                "`{IMPORT_HOOK}` of the new version refused the state ({wrote} bytes): it returned {status}"
            ));
        }
        Ok(TransferReport {
            transferred: vec![format!("{wrote} bytes through {EXPORT_HOOK}/{IMPORT_HOOK}")],
            bytes: wrote as u64,
            ..Default::default()
        })
    }

    /// After a completed swap: the new bead takes the old one's place, name
    /// and bindings; the old one is retired.
    fn take_place(
        &mut self,
        old: usize,
        new: usize,
        hidden: &[usize],
        rewired: BTreeMap<usize, Rewired>,
        format: Format,
    ) {
        for (x, changes) in rewired {
            if self.plan.removed.beads.contains(&x) {
                // Another bead of the same step, retired already.
                continue;
            }
            let b = &mut self.bindings[x];
            for (k, origin, addr) in changes {
                b.targets[k] = Some(Target::Address(addr));
                b.providers[k] = Some(Provider::Bead(new));
                b.origins[k] = Some(origin);
            }
            for p in &mut self.beads[x].providers {
                if *p == old {
                    *p = new;
                }
            }
            self.beads[x].providers.sort_unstable();
            self.beads[x].providers.dedup();
            let all: Vec<&Bead> = self.beads.iter().collect();
            let module = self.beads[x].image.module().clone();
            let imports = summarise_imports(&all, x, &module, &self.bindings[x]);
            self.beads[x].imports = imports;
        }
        // The weaves: the new bead in the old one's place (same lookup
        // order), the hidden weaves gone.
        let weaves = std::mem::take(&mut self.beads[old].weaves);
        let strings_in = self
            .plan
            .strings
            .iter()
            .enumerate()
            .filter(|(s, sp)| !self.plan.removed.strings.contains(s) && weaves.contains(&sp.weave))
            .count();
        for &w in &weaves {
            for b in &mut self.plan.weaves[w].beads {
                if *b == old {
                    *b = new;
                }
            }
            for b in &mut self.plan.weaves[w].scope {
                if *b == old {
                    *b = new;
                }
            }
        }
        for &h in hidden {
            mark_removed(&mut self.plan, Kind::Weave, h);
            shed(&mut self.plan, Kind::Weave, h);
        }
        self.beads[new].weaves = weaves.clone();
        if weaves.len() > 1 || strings_in > 1 {
            weaves_interpose::mark_bead_shared(self.beads[new].owner);
        }
        let name = self.plan.beads[old].name.clone();
        self.plan.beads[new].name = name.clone();
        self.beads[new].name = name.clone();
        weaves_interpose::rename_bead(
            self.beads[new].owner,
            CString::new(name).unwrap_or_default(),
        );
        self.retire(old, new, format);
        mark_removed(&mut self.plan, Kind::Bead, old);
    }

    /// The old bead after a swap: see the module docs.
    fn retire(&mut self, old: usize, new: usize, format: Format) {
        let owner = self.beads[old].owner;
        if format == Format::None {
            if let Ok(mut stack) = FiberStack::new(weaves_strings::DEFAULT_STACK) {
                if let Some(fault) = self.finalise_bead(old, &mut stack) {
                    eprintln!("weaves: {fault}");
                }
            }
            // SAFETY: no state moved: nothing refers to the old bead's heap
            // but the old bead, whose clients all call the new one now.
            unsafe { weaves_arena::Heap::destroy(owner) };
        } else {
            weaves_interpose::forget_bead(owner);
            let adopted = std::mem::take(&mut self.beads[old].adopted_heaps);
            self.beads[new].adopted_heaps.push(owner);
            self.beads[new].adopted_heaps.extend(adopted);
        }
        // SAFETY: every client now binds to the new bead, whose state no
        // longer lives in the old bead's data.
        unsafe { self.beads[old].image.discard_data() };
        let bead = &mut self.beads[old];
        bead.providers = Vec::new();
        bead.imports = Default::default();
        self.bindings[old] = crate::binder::Binding::empty();
    }

    /// Takes back new versions that did not take over (the latest first).
    fn discard_new_versions(&mut self, pairs: &[Pair], handles: &mut Vec<Option<Arc<Task>>>) {
        for p in pairs.iter().rev() {
            for &h in &p.hidden {
                mark_removed(&mut self.plan, Kind::Weave, h);
                shed(&mut self.plan, Kind::Weave, h);
            }
            self.beads[p.new].weaves = Vec::new();
            if let Err(e) = self.release_bead(p.new) {
                eprintln!("weaves: cannot release a new version's bead: {e}");
            }
            mark_removed(&mut self.plan, Kind::Bead, p.new);
        }
        self.forget_trailing_removed(handles);
        // Their modules go too, if nothing else uses them.
        while let Some(m) = self.plan.modules.len().checked_sub(1) {
            if self.beads.iter().any(|b| b.module == m) || self.modules.len() != m + 1 {
                break;
            }
            self.plan.modules.pop();
            self.modules.pop();
        }
    }
}
