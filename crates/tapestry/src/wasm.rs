//! Wasm beads in a tapestry (`weaves_wasm`): the modules a `[[module]]`
//! names that are WebAssembly (recognised by their magic), their beads,
//! and the strings that start in them.
//!
//! A Wasm bead has no arena image: its memory is the linear memory of the
//! engine's instance. Each string that starts in a Wasm bead gets its own
//! instance of the bead's module (a `_start` program is a process of its
//! own); the compiled module is shared. The string runs on a fiber like
//! any other: the runtime enters it through a `pthread_create`-style entry
//! whose argument carries the module, the entry and the WASI state.
//!
//! A weave may bind imports bead by bead (`[[weave.import]]`): a Wasm
//! bead's memory or function import to another Wasm bead's export or to a
//! native bead's function, and a native bead's undefined function to a Wasm
//! export through a trampoline (`weaves_wasm::links`, `weaves_wasm::native`);
//! [`Tapestry::link_wasm`] checks them at load.
//!
//! Not supported yet (refused with "not supported: …" where a tapestry asks
//! for it): Wasm beads in tuple spaces and message bindings, checkpoints of
//! tapestries with bound imports, and adding Wasm modules to a running
//! tapestry.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use toml::Spanned;
use weaves_strings::{Entry, ExecCtx, Launch, StringInfo};
pub use weaves_wasm::EngineKind;
use weaves_wasm::{
    Control, ForeignKind, LinkedBead, Links, Prepared, Source, Start, Trampoline, Wasi, WasmModule,
};

use crate::error::TapestryError;
use crate::tapestry::{host_environment, Tapestry};

/// Indices at and above this in the configuration's name tables stand for
/// Wasm modules and beads (`WASM_INDEX + k`): they never reach the ELF
/// pipeline.
pub(crate) const WASM_INDEX: usize = 1 << 48;

/// Stack a wasmtime string needs beyond what Wasm code may use, for the
/// runtime's and the host calls' own frames.
const HOST_STACK: usize = 512 << 10;

/// A Wasm module the tapestry names.
#[derive(Clone, Debug)]
pub struct WasmModulePlan {
    pub name: String,
    pub path: PathBuf,
    pub line: usize,
    /// The module's bytes as a checkpoint image carries them (a restore
    /// runs these, not the file's).
    pub from_image: Option<Vec<u8>>,
}

/// A bead of a Wasm module.
#[derive(Clone, Debug)]
pub struct WasmBeadPlan {
    pub name: String,
    pub module: usize,
    /// Its own `engine`, if it names one.
    pub engine: Option<EngineKind>,
    pub line: usize,
}

/// A string that starts in a Wasm bead.
#[derive(Clone, Debug)]
pub struct WasmStringPlan {
    pub bead: usize,
    /// The exported function it starts at (`_start` unless named).
    pub entry: String,
}

/// `[[weave.import]]`: one import bound through the weave.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportSpec {
    /// The importing bead.
    pub(crate) bead: Spanned<String>,
    /// A Wasm bead's import `MODULE.NAME`, or a native bead's symbol.
    pub(crate) import: Spanned<String>,
    /// `BEAD:EXPORT`: what it is bound to.
    pub(crate) from: Spanned<String>,
    /// The function's parameter and result types (`i32`, `i64`, `f32`,
    /// `f64`), needed when one side is a native bead.
    pub(crate) params: Option<Spanned<Vec<String>>>,
    pub(crate) results: Option<Spanned<Vec<String>>>,
}

/// A bead of either kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeadRef {
    /// A Wasm bead (its index among the Wasm beads).
    Wasm(usize),
    /// A native bead (its index among the ELF beads).
    Native(usize),
}

/// One import bound through a weave.
#[derive(Clone, Debug)]
pub struct LinkPlan {
    pub weave: usize,
    pub weave_name: String,
    pub bead: BeadRef,
    pub bead_name: String,
    /// `(module, name)` of a Wasm bead's import; `("", symbol)` of a
    /// native bead's.
    pub import: (String, String),
    pub from: BeadRef,
    pub from_name: String,
    pub export: String,
    /// The declared signature, if any.
    pub sig: Option<weaves_wasm::Signature>,
    pub line: usize,
}

impl LinkPlan {
    /// How the import is named in messages.
    pub fn import_name(&self) -> String {
        match self.bead {
            BeadRef::Wasm(_) => format!("{}.{}", self.import.0, self.import.1),
            BeadRef::Native(_) => self.import.1.clone(),
        }
    }
}

/// The Wasm part of a plan.
#[derive(Clone, Debug)]
pub struct WasmPlan {
    /// `[tapestry] engine` (wasmtime unless it says otherwise).
    pub engine: EngineKind,
    /// `weaves run --engine`: every Wasm bead runs under this one.
    pub engine_override: Option<EngineKind>,
    /// `[tapestry] wasm_max_memory_mib`, in bytes.
    pub max_memory: u64,
    pub modules: Vec<WasmModulePlan>,
    pub beads: Vec<WasmBeadPlan>,
    /// The Wasm beads of each weave that has any, by weave index.
    pub weaves: BTreeMap<usize, Vec<usize>>,
    /// Strings that start in a Wasm bead, by string index.
    pub strings: BTreeMap<usize, WasmStringPlan>,
    /// Imports bound through weaves.
    pub links: Vec<LinkPlan>,
}

impl Default for WasmPlan {
    fn default() -> WasmPlan {
        WasmPlan {
            engine: EngineKind::default(),
            engine_override: None,
            max_memory: weaves_wasm::DEFAULT_MAX_MEMORY,
            modules: Vec::new(),
            beads: Vec::new(),
            weaves: BTreeMap::new(),
            strings: BTreeMap::new(),
            links: Vec::new(),
        }
    }
}

impl WasmPlan {
    pub(crate) fn configure(
        &mut self,
        engine: Option<&Spanned<String>>,
        max_mib: Option<&Spanned<u64>>,
        err: impl Fn(usize, String) -> TapestryError,
    ) -> Result<(), TapestryError> {
        if let Some(e) = engine {
            self.engine = EngineKind::parse(e.get_ref()).map_err(|m| err(e.span().start, m))?;
        }
        if let Some(m) = max_mib {
            let mib = *m.get_ref();
            if mib == 0 || mib > 4096 {
                return Err(err(
                    m.span().start,
                    format!("wasm_max_memory_mib = {mib} is outside 1..=4096"),
                ));
            }
            self.max_memory = mib << 20;
        }
        Ok(())
    }

    pub(crate) fn engine_of(
        &self,
        engine: Option<&Spanned<String>>,
        err: impl Fn(usize, String) -> TapestryError,
    ) -> Result<Option<EngineKind>, TapestryError> {
        engine
            .map(|e| EngineKind::parse(e.get_ref()).map_err(|m| err(e.span().start, m)))
            .transpose()
    }

    /// The Wasm bead and function string `entry` of weave `weave` starts
    /// at, if it starts in a Wasm bead: `BEAD:FUNCTION` naming one, or any
    /// entry of a weave whose beads are all Wasm beads (its first; `_start`
    /// when the string names no entry).
    pub(crate) fn entry_of(
        &self,
        weave: usize,
        elf_beads: &[usize],
        entry: &str,
        named: bool,
        bead_names: &HashMap<String, usize>,
        err: impl Fn(String) -> TapestryError,
    ) -> Result<Option<WasmStringPlan>, TapestryError> {
        let members = self.weaves.get(&weave).map(Vec::as_slice).unwrap_or(&[]);
        if let Some((bead, function)) = entry.split_once(':') {
            let Some(&index) = bead_names.get(bead) else {
                return Ok(None);
            };
            if index < WASM_INDEX {
                return Ok(None);
            }
            let b = index - WASM_INDEX;
            if !members.contains(&b) {
                return Err(err(format!(
                    "entry bead `{bead}` is not in the string's weave"
                )));
            }
            if function.is_empty() {
                return Err(err("empty entry symbol".into()));
            }
            return Ok(Some(WasmStringPlan {
                bead: b,
                entry: function.to_owned(),
            }));
        }
        match members.first() {
            Some(&b) if elf_beads.is_empty() => Ok(Some(WasmStringPlan {
                bead: b,
                entry: if named {
                    entry.to_owned()
                } else {
                    "_start".to_owned()
                },
            })),
            _ => Ok(None),
        }
    }

    /// Reads one `[[weave.import]]` of weave `weave` (instance `i`), whose
    /// members are `elf` and `wasm`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn link_of(
        &self,
        spec: &ImportSpec,
        i: Option<u32>,
        (weave, weave_name): (usize, &str),
        (elf, wasm): (&[usize], &[usize]),
        bead_names: &HashMap<String, usize>,
        err: impl Fn(usize, String) -> TapestryError,
        line: usize,
    ) -> Result<LinkPlan, TapestryError> {
        let expand = |s: &str| match i {
            Some(i) => s.replace("{i}", &i.to_string()),
            None => s.to_owned(),
        };
        let member = |name: &str, at: usize| -> Result<BeadRef, TapestryError> {
            let r = match bead_names.get(name) {
                Some(&b) if b >= WASM_INDEX => BeadRef::Wasm(b - WASM_INDEX),
                Some(&b) => BeadRef::Native(b),
                None => return Err(err(at, format!("unknown bead `{name}`"))),
            };
            let inside = match r {
                BeadRef::Wasm(b) => wasm.contains(&b),
                BeadRef::Native(b) => elf.contains(&b),
            };
            if !inside {
                return Err(err(
                    at,
                    format!("bead `{name}` is not in weave `{weave_name}`"),
                ));
            }
            Ok(r)
        };
        let bead_name = expand(spec.bead.get_ref());
        let bead = member(&bead_name, spec.bead.span().start)?;
        let from_text = expand(spec.from.get_ref());
        let Some((from_name, export)) = from_text.split_once(':') else {
            return Err(err(
                spec.from.span().start,
                format!("`from = \"{from_text}\"` is not `BEAD:EXPORT`"),
            ));
        };
        let from = member(from_name, spec.from.span().start)?;
        let import_text = expand(spec.import.get_ref());
        let import = match bead {
            BeadRef::Wasm(_) => match import_text.split_once('.') {
                Some((m, n)) if !m.is_empty() && !n.is_empty() => (m.to_owned(), n.to_owned()),
                _ => {
                    return Err(err(
                        spec.import.span().start,
                        format!("a Wasm bead's import is `MODULE.NAME`, not `{import_text}`"),
                    ))
                }
            },
            BeadRef::Native(_) => (String::new(), import_text.clone()),
        };
        if let (BeadRef::Native(_), BeadRef::Native(_)) = (bead, from) {
            return Err(err(
                spec.bead.span().start,
                "native beads bind to each other by symbol name; `[[weave.import]]` binds imports to or from Wasm beads".to_owned(),
            ));
        }
        let kinds = |list: &Option<Spanned<Vec<String>>>| -> Result<Vec<weaves_wasm::ValKind>, TapestryError> {
            match list {
                None => Ok(Vec::new()),
                Some(l) => l
                    .get_ref()
                    .iter()
                    .map(|k| weaves_wasm::ValKind::parse(k).map_err(|m| err(l.span().start, m)))
                    .collect(),
            }
        };
        let sig = if spec.params.is_some() || spec.results.is_some() {
            let sig = weaves_wasm::Signature {
                params: kinds(&spec.params)?,
                results: kinds(&spec.results)?,
            };
            sig.check().map_err(|m| err(spec.bead.span().start, m))?;
            Some(sig)
        } else {
            None
        };
        let native = matches!(bead, BeadRef::Native(_)) || matches!(from, BeadRef::Native(_));
        if native && sig.is_none() {
            return Err(err(
                spec.bead.span().start,
                format!("weave `{weave_name}`: bead `{bead_name}` imports `{import_text}` from a native bead's function or into a native bead: declare its `params` and `results`"),
            ));
        }
        let link = LinkPlan {
            weave,
            weave_name: weave_name.to_owned(),
            bead,
            bead_name,
            import,
            from,
            from_name: from_name.to_owned(),
            export: export.to_owned(),
            sig,
            line,
        };
        if let Some(other) = self
            .links
            .iter()
            .find(|l| l.bead == link.bead && l.import == link.import)
        {
            return Err(err(
                spec.bead.span().start,
                format!(
                    "bead `{}` imports `{}` through weave `{}` already (line {})",
                    link.bead_name,
                    link.import_name(),
                    other.weave_name,
                    other.line
                ),
            ));
        }
        Ok(link)
    }

    /// The engine bead `b` runs under.
    pub fn bead_engine(&self, b: usize) -> EngineKind {
        self.engine_override
            .or(self.beads[b].engine)
            .unwrap_or(self.engine)
    }
}

impl crate::Plan {
    /// Runs every Wasm bead under `engine` (`weaves run --engine`).
    pub fn set_wasm_engine(&mut self, engine: EngineKind) {
        self.wasm.engine_override = Some(engine);
    }
}

/// A trampoline standing for a Wasm export, bound into a native bead.
pub(crate) struct Claimed {
    /// The index of the import in the native bead's module.
    pub(crate) symbol: u32,
    /// Which of the plan's links it is.
    pub(crate) link: usize,
    pub(crate) trampoline: Trampoline,
}

/// Claims a trampoline for each link of the plan that binds an import of
/// native bead `b0` or later to a Wasm export; `module_of(b)` is bead
/// `b`'s module. Returns `(bead, claimed)` pairs.
pub(crate) fn claim_trampolines<'m>(
    plan: &crate::Plan,
    b0: usize,
    module_of: impl Fn(usize) -> &'m weaves_loader::Module,
) -> Result<Vec<(usize, Claimed)>, TapestryError> {
    let mut claimed = Vec::new();
    for (k, l) in plan.wasm.links.iter().enumerate() {
        let BeadRef::Native(b) = l.bead else { continue };
        if b < b0 {
            continue;
        }
        let fail = |m: String| link_error(&plan.path, l, m);
        let module = module_of(b);
        let symbol = module
            .imports()
            .iter()
            .copied()
            .find(|&i| module.symbol(i).name == l.import.1)
            .ok_or_else(|| {
                fail(format!(
                    "its module {} has no such undefined symbol",
                    module.path().display()
                ))
            })?;
        let sig = l.sig.clone().unwrap_or_default();
        let what = format!(
            "`{}` (bead `{}`'s export `{}`)",
            l.import.1, l.from_name, l.export
        );
        let trampoline = Trampoline::claim(sig, what).map_err(fail)?;
        claimed.push((
            b,
            Claimed {
                symbol,
                link: k,
                trampoline,
            },
        ));
    }
    Ok(claimed)
}

/// The loaded Wasm modules of a tapestry and the strings running them.
#[derive(Default)]
pub(crate) struct WasmBeads {
    /// One per Wasm module of the plan.
    pub(crate) modules: Vec<Prepared>,
    /// The Wasm beads with the imports weaves bind, once loaded (when the
    /// tapestry has any such binding).
    pub(crate) links: Option<Arc<Links>>,
    /// Native beads' imports bound to Wasm exports, by native bead.
    pub(crate) trampolines: Vec<(usize, Claimed)>,
    /// How each running Wasm string is asked to move, by string index.
    pub(crate) controls: Mutex<HashMap<usize, Arc<Control>>>,
}

/// What a Wasm string's entry needs (handed over as its argument).
struct Job {
    module: Prepared,
    entry: String,
    start: Start,
    engine: EngineKind,
    control: Arc<Control>,
    string: String,
    bead: String,
    /// The tapestry's links and the bead's index, when the bead imports
    /// through a weave (the string then runs in a world of its own).
    linked: Option<(Arc<Links>, usize)>,
}

impl Tapestry {
    /// Loads, checks and compiles the plan's Wasm modules (each for the
    /// engines its beads run under).
    pub(crate) fn load_wasm(&mut self) -> Result<(), TapestryError> {
        let plan = &self.plan.wasm;
        for (k, m) in plan
            .modules
            .iter()
            .enumerate()
            .skip(self.wasm.modules.len())
        {
            let fail = |message: String| TapestryError::Config {
                path: self.plan.path.clone(),
                message: format!("line {}: module `{}`: {message}", m.line, m.name),
            };
            // A module whose beads a weave binds may import what only the
            // bindings provide (checked bead by bead in `link_wasm`).
            let linked = plan
                .links
                .iter()
                .any(|l| matches!(l.bead, BeadRef::Wasm(b) if plan.beads[b].module == k));
            let bytes = match &m.from_image {
                Some(bytes) => Ok(bytes.clone()),
                None => std::fs::read(&m.path).map_err(|e| format!("{}: {e}", m.path.display())),
            }
            .map_err(&fail)?;
            let module = if linked {
                WasmModule::from_bytes_linked(&m.path, bytes, plan.max_memory)
            } else {
                WasmModule::from_bytes(&m.path, bytes, plan.max_memory)
            }
            .map_err(|e| fail(e.to_string()))?;
            let prepared = Prepared::new(module, plan.max_memory).map_err(&fail)?;
            let mut engines: Vec<EngineKind> = (0..plan.beads.len())
                .filter(|&b| plan.beads[b].module == k)
                .map(|b| plan.bead_engine(b))
                .collect();
            engines.dedup();
            for e in engines {
                prepared.compile(e).map_err(&fail)?;
            }
            self.wasm.modules.push(prepared);
        }
        for (&i, s) in &plan.strings {
            let b = &plan.beads[s.bead];
            let m = &self.wasm.modules[b.module];
            m.module
                .check_entry(&s.entry)
                .map_err(|message| TapestryError::Config {
                    path: self.plan.path.clone(),
                    message: format!(
                        "line {}: string `{}`: {message}",
                        self.plan.strings[i].line, self.plan.strings[i].name
                    ),
                })?;
        }
        self.link_wasm()
    }

    /// Checks the imports weaves bind against what their providers export
    /// and the declared signatures, and makes the tapestry's [`Links`]:
    /// each refusal is one line naming the weave, the bead and the import.
    fn link_wasm(&mut self) -> Result<(), TapestryError> {
        let plan = &self.plan.wasm;
        if plan.links.is_empty() {
            return Ok(());
        }
        let modules = &self.wasm.modules;
        let module_of = |b: usize| &modules[plan.beads[b].module].module;
        let fail = |l: &LinkPlan, m: String| link_error(&self.plan.path, l, m);
        let show = |(p, r): (&str, &str)| {
            weaves_wasm::Signature {
                params: p.chars().map(kind_of).collect(),
                results: r.chars().map(kind_of).collect(),
            }
            .to_string()
        };
        let mut beads: Vec<LinkedBead> = plan
            .beads
            .iter()
            .enumerate()
            .map(|(k, b)| LinkedBead {
                name: b.name.clone(),
                module: modules[b.module].clone(),
                engine: plan.bead_engine(k),
                imports: Vec::new(),
            })
            .collect();
        // The Wasm export `l` binds to, checked against `params, results`.
        let wasm_function = |l: &LinkPlan, p: usize, params: &str, results: &str| {
            let Some((_, pp, pr)) = module_of(p).functions.iter().find(|f| f.0 == l.export) else {
                return Err(fail(
                    l,
                    format!("bead `{}` exports no function `{}`", l.from_name, l.export),
                ));
            };
            if (pp.as_str(), pr.as_str()) != (params, results) {
                return Err(fail(
                    l,
                    format!(
                        "it has type {}, but bead `{}` exports `{}` as {}",
                        show((params, results)),
                        l.from_name,
                        l.export,
                        show((pp, pr))
                    ),
                ));
            }
            Ok(())
        };
        for l in &plan.links {
            let declared = l.sig.as_ref().map(|s| s.letters());
            match (l.bead, l.from) {
                (BeadRef::Wasm(b), from) => {
                    let Some(f) = module_of(b)
                        .foreign
                        .iter()
                        .find(|f| f.module == l.import.0 && f.name == l.import.1)
                    else {
                        return Err(fail(
                            l,
                            format!(
                                "its module {} has no such import",
                                module_of(b).path.display()
                            ),
                        ));
                    };
                    let source = match (from, &f.kind) {
                        (BeadRef::Wasm(p), kind) => {
                            if beads[p].engine != beads[b].engine {
                                return Err(fail(
                                    l,
                                    format!(
                                        "not supported: bead `{}` runs under {} and bead `{}` under {}; beads linked through a weave run under one engine",
                                        l.bead_name, beads[b].engine, l.from_name, beads[p].engine
                                    ),
                                ));
                            }
                            match kind {
                                ForeignKind::Func { params, results } => {
                                    wasm_function(l, p, params, results)?;
                                    if let Some((dp, dr)) = &declared {
                                        if (dp, dr) != (params, results) {
                                            return Err(fail(
                                                l,
                                                format!(
                                                    "it has type {}, but the weave declares {}",
                                                    show((params, results)),
                                                    show((dp, dr))
                                                ),
                                            ));
                                        }
                                    }
                                }
                                ForeignKind::Memory { min } => {
                                    let Some((_, size)) =
                                        module_of(p).memories.iter().find(|m| m.0 == l.export)
                                    else {
                                        return Err(fail(
                                            l,
                                            format!(
                                                "bead `{}` exports no memory `{}`",
                                                l.from_name, l.export
                                            ),
                                        ));
                                    };
                                    if size < min {
                                        return Err(fail(l, format!("it asks for a memory of at least {min} bytes, but bead `{}`'s memory `{}` has {size}", l.from_name, l.export)));
                                    }
                                }
                            }
                            Source::Wasm {
                                bead: p,
                                export: l.export.clone(),
                            }
                        }
                        (BeadRef::Native(n), ForeignKind::Func { params, results }) => {
                            let sig = l.sig.clone().unwrap_or_default();
                            let (dp, dr) = sig.letters();
                            if (&dp, &dr) != (params, results) {
                                return Err(fail(
                                    l,
                                    format!(
                                        "it has type {}, but the weave declares {}",
                                        show((params, results)),
                                        show((&dp, &dr))
                                    ),
                                ));
                            }
                            let addr = self.native_function(n, &l.export).ok_or_else(|| {
                                fail(
                                    l,
                                    format!(
                                        "bead `{}` exports no function `{}`",
                                        l.from_name, l.export
                                    ),
                                )
                            })?;
                            Source::Native { addr, sig }
                        }
                        (BeadRef::Native(_), ForeignKind::Memory { .. }) => {
                            return Err(fail(
                                l,
                                "not supported: a memory from a native bead".into(),
                            ))
                        }
                    };
                    beads[b]
                        .imports
                        .push(((l.import.0.clone(), l.import.1.clone()), source));
                }
                (BeadRef::Native(_), BeadRef::Wasm(p)) => {
                    let (dp, dr) = declared.unwrap_or_default();
                    wasm_function(l, p, &dp, &dr)?;
                }
                (BeadRef::Native(_), BeadRef::Native(_)) => {}
            }
        }
        for (k, b) in beads.iter().enumerate() {
            let m = module_of(k);
            if let Some(f) = m
                .foreign
                .iter()
                .find(|f| b.source(&f.module, &f.name).is_none())
            {
                return Err(TapestryError::Config {
                    path: self.plan.path.clone(),
                    message: format!(
                        "line {}: bead `{}`: {}: imports `{}.{}`, which the weave lacks",
                        plan.beads[k].line,
                        b.name,
                        m.path.display(),
                        f.module,
                        f.name
                    ),
                });
            }
        }
        if let Some(l) = cycle(plan, &beads) {
            return Err(fail(
                l,
                "not supported: a cycle of imports between Wasm beads".into(),
            ));
        }
        let links = Arc::new(Links::new(beads, plan.max_memory));
        for (_, c) in &self.wasm.trampolines {
            let l = &plan.links[c.link];
            let BeadRef::Wasm(p) = l.from else { continue };
            let (links, export) = (links.clone(), l.export.clone());
            c.trampoline.bind(Arc::new(move |args| {
                links.call_from_native(p, &export, args)
            }));
        }
        self.wasm.links = Some(links);
        Ok(())
    }

    /// The address of function `name` that native bead `b` exports.
    fn native_function(&self, b: usize, name: &str) -> Option<u64> {
        let image = &self.beads.get(b)?.image;
        let module = image.module();
        let i = module.find_export(name, None)?;
        if module.symbol(i).kind != weaves_loader::SymKind::Func {
            return None;
        }
        match image.own_target(i, 0) {
            weaves_loader::Target::Address(a) => Some(a),
            _ => None,
        }
    }

    /// How string `i` starts, if it starts in a Wasm bead.
    pub(crate) fn wasm_launch(&self, i: usize) -> Result<Option<Launch>, TapestryError> {
        self.wasm_launch_from(i, None)
    }

    /// How string `i` starts (or, with `start`, goes on), if it starts in
    /// a Wasm bead.
    pub(crate) fn wasm_launch_from(
        &self,
        i: usize,
        start: Option<Start>,
    ) -> Result<Option<Launch>, TapestryError> {
        let Some(ws) = self.plan.wasm.strings.get(&i) else {
            return Ok(None);
        };
        let s = &self.plan.strings[i];
        let bead = &self.plan.wasm.beads[ws.bead];
        let engine = self.plan.wasm.bead_engine(ws.bead);
        if engine == EngineKind::Wasmtime && s.stack_size < weaves_wasm::MAX_WASM_STACK + HOST_STACK
        {
            return Err(TapestryError::Run(format!(
                "string `{}`: a Wasm string under wasmtime needs a stack of at least {} KiB (stack_kib)",
                s.name,
                (weaves_wasm::MAX_WASM_STACK + HOST_STACK) >> 10
            )));
        }
        let mut env = host_environment();
        for (k, v) in &s.env {
            let prefix = format!("{k}=");
            env.retain(|e| !e.as_bytes().starts_with(prefix.as_bytes()));
            env.push(std::ffi::CString::new(format!("{k}={v}")).map_err(|_| {
                TapestryError::Run(format!("string `{}`: NUL in environment", s.name))
            })?);
        }
        let start = start.unwrap_or_else(|| {
            Start::Fresh(Wasi::new(
                s.args.iter().map(|a| a.as_bytes().to_vec()).collect(),
                env.into_iter().map(|e| e.into_bytes()).collect(),
            ))
        });
        let linked = self
            .wasm
            .links
            .as_ref()
            .filter(|l| l.is_linked(ws.bead))
            .map(|l| (l.clone(), ws.bead));
        if linked.is_some() && matches!(start, Start::Saved(_)) {
            return Err(TapestryError::Run(format!(
                "not supported: resuming string `{}`, whose Wasm bead imports through a weave",
                s.name
            )));
        }
        let control = Control::new();
        self.wasm
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(i, control.clone());
        let job = Arc::new(Job {
            module: self.wasm.modules[bead.module].clone(),
            entry: ws.entry.clone(),
            start,
            engine,
            control,
            string: s.name.clone(),
            bead: bead.name.clone(),
            linked,
        });
        let info = StringInfo {
            id: i as u32 + 1,
            name: s.name.clone(),
            weave: self.plan.weaves[s.weave].name.clone(),
            home: 0,
        };
        Ok(Some(Launch {
            ctx: Arc::new(ExecCtx::new(info, None)),
            entry: Entry::Thread {
                start: run_wasm_string as *const () as u64,
                arg: Arc::into_raw(job) as u64,
            },
            stack_size: s.stack_size,
            stack_at: None,
            mode: s.mode,
        }))
    }

    /// Asks Wasm string `name` to move to `engine` at its next
    /// reconfiguration point (`weaves migrate`).
    pub fn migrate_string(&self, name: &str, engine: EngineKind) -> Result<String, String> {
        let Some(i) = self
            .plan
            .strings
            .iter()
            .enumerate()
            .position(|(k, s)| s.name == name && !self.plan.removed.strings.contains(&k))
        else {
            return Err(format!("no string `{name}`"));
        };
        let Some(ws) = self.plan.wasm.strings.get(&i) else {
            return Err(format!("not supported: string `{name}` runs native code; only Wasm strings move between engines"));
        };
        if let Some(links) = self.wasm.links.as_ref().filter(|l| l.is_linked(ws.bead)) {
            return Err(format!(
                "not supported: string `{name}` runs Wasm bead `{}`, whose imports a weave binds; such a string is not captured",
                links.beads[ws.bead].name
            ));
        }
        let module = &self.wasm.modules[self.plan.wasm.beads[ws.bead].module];
        if !module.capturable {
            return Err(format!(
                "string `{name}`: module {} has no reconfiguration points (it imports no weaves.wv_reconfig_point), so it cannot be captured",
                module.module.path.display()
            ));
        }
        let controls = self.wasm.controls.lock().unwrap_or_else(|e| e.into_inner());
        let Some(control) = controls.get(&i) else {
            return Err(format!("string `{name}` is not running"));
        };
        control.request(engine);
        Ok(format!(
            "string `{name}` moves to {engine} at its next reconfiguration point"
        ))
    }
}

fn kind_of(letter: char) -> weaves_wasm::ValKind {
    match letter {
        'I' => weaves_wasm::ValKind::I64,
        'f' => weaves_wasm::ValKind::F32,
        'F' => weaves_wasm::ValKind::F64,
        _ => weaves_wasm::ValKind::I32,
    }
}

/// The first link that closes a cycle of Wasm-to-Wasm imports, if any.
fn cycle<'p>(plan: &'p WasmPlan, beads: &[LinkedBead]) -> Option<&'p LinkPlan> {
    let providers = |b: usize| {
        beads[b].imports.iter().filter_map(|(_, s)| match s {
            Source::Wasm { bead, .. } => Some(*bead),
            Source::Native { .. } => None,
        })
    };
    for l in &plan.links {
        let (BeadRef::Wasm(b), BeadRef::Wasm(p)) = (l.bead, l.from) else {
            continue;
        };
        // Does `p` reach `b`?
        let mut seen = vec![false; beads.len()];
        let mut todo = vec![p];
        while let Some(x) = todo.pop() {
            if x == b {
                return Some(l);
            }
            if !std::mem::replace(&mut seen[x], true) {
                todo.extend(providers(x));
            }
        }
    }
    None
}

/// What `inspect` shows of Wasm modules, beads and strings.
impl Tapestry {
    pub(crate) fn wasm_module_infos(&self) -> Vec<weaves_monitor::protocol::ModuleInfo> {
        let plan = &self.plan.wasm;
        plan.modules
            .iter()
            .enumerate()
            .map(|(k, m)| weaves_monitor::protocol::ModuleInfo {
                name: m.name.clone(),
                path: std::path::absolute(&m.path)
                    .unwrap_or_else(|_| m.path.clone())
                    .display()
                    .to_string(),
                build_id: None,
                kind: "wasm".into(),
                beads: plan.beads.iter().filter(|b| b.module == k).count(),
            })
            .collect()
    }

    /// Each Wasm bead's description (no arena image: base `-`, its size
    /// the module's initial linear memory), with owner 0 (no arena heap).
    pub(crate) fn wasm_bead_infos(
        &self,
    ) -> Vec<(weaves_monitor::protocol::BeadInfo, weaves_arena::OwnerId)> {
        let plan = &self.plan.wasm;
        plan.beads
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let memory = self
                    .wasm
                    .modules
                    .get(b.module)
                    .map_or(0, |m| m.module.initial_memory);
                let info = weaves_monitor::protocol::BeadInfo {
                    name: b.name.clone(),
                    module: plan.modules[b.module].name.clone(),
                    base: "-".into(),
                    size: memory,
                    data_bytes: memory,
                    heap_bytes: 0,
                    heap_reserved: 0,
                    weaves: plan
                        .weaves
                        .iter()
                        .filter(|(_, members)| members.contains(&k))
                        .map(|(&w, _)| self.plan.weaves[w].name.clone())
                        .collect(),
                    // The imports weaves bind, each to its provider.
                    imports: weaves_monitor::protocol::Imports {
                        beads: plan
                            .links
                            .iter()
                            .filter(|l| l.bead == BeadRef::Wasm(k))
                            .map(|l| weaves_monitor::protocol::Wire {
                                symbol: l.import_name(),
                                bead: Some(l.from_name.clone()),
                                via: "bead".into(),
                            })
                            .collect(),
                        ..Default::default()
                    },
                    engine: Some(plan.bead_engine(k).name().to_owned()),
                };
                (info, 0)
            })
            .collect()
    }

    /// The names of weave `w`'s Wasm beads.
    pub(crate) fn wasm_members(&self, w: usize) -> Vec<String> {
        let plan = &self.plan.wasm;
        plan.weaves
            .get(&w)
            .map(|m| m.iter().map(|&b| plan.beads[b].name.clone()).collect())
            .unwrap_or_default()
    }

    /// Each Wasm string's id and control.
    pub(crate) fn wasm_controls(&self) -> Vec<(u32, Arc<Control>)> {
        self.wasm
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(&i, c)| (i as u32 + 1, c.clone()))
            .collect()
    }
}

/// The entry of a Wasm string (a `void *(*)(void *)`, as a thread's).
extern "C" fn run_wasm_string(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Arc::into_raw` of the Job `wasm_launch` made for
    // this string, whose entry runs once.
    let job = unsafe { Arc::from_raw(arg as *const Job) };
    let ran = match (&job.linked, &job.start) {
        (Some((links, b)), Start::Fresh(wasi)) => {
            links.run(*b, &job.entry, wasi.clone(), job.control.clone())
        }
        _ => weaves_wasm::run_from(
            &job.module,
            &job.entry,
            job.start.clone(),
            job.engine,
            job.control.clone(),
        ),
    };
    let status = match ran {
        Ok(ended) => {
            for m in &ended.moves {
                tracing::info!(
                    "string `{}`: moved from {} to {} at reconfiguration point {} ({} KiB of linear memory)",
                    job.string,
                    m.from,
                    m.to,
                    m.point,
                    m.memory >> 10
                );
            }
            ended.status
        }
        Err(weaves_wasm::RunError::Stopped) => {
            drop(job);
            // Asked to stop, it left Wasm code at a host call: it ends as
            // a stopped string does.
            weaves_strings::stop_point();
            return std::ptr::null_mut();
        }
        Err(e) => {
            // One write for the whole line: other strings write to stderr
            // meanwhile, and `eprintln!` writes a line in pieces.
            let line = format!(
                "weaves: string `{}`: Wasm bead `{}`: {e}\n",
                job.string, job.bead
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            // As a process a trap ends: 128 + SIGABRT.
            134
        }
    };
    drop(job);
    weaves_strings::exit_current(status);
    status as isize as *mut c_void
}

/// The one line refusing the weave's binding `l` (`[[weave.import]]`).
fn link_error(path: &std::path::Path, l: &LinkPlan, m: String) -> TapestryError {
    TapestryError::Config {
        path: path.to_path_buf(),
        message: format!(
            "line {}: weave `{}`: bead `{}` imports `{}`: {m}",
            l.line,
            l.weave_name,
            l.bead_name,
            l.import_name()
        ),
    }
}
