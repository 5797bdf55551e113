//! Loading the tapestry's modules and what they need.
//!
//! Each `DT_NEEDED` entry of a module is satisfied, in this order, by:
//!
//! 1. a module the tapestry declares (matched by file name or `DT_SONAME`):
//!    the user wires its beads into weaves explicitly — this is how one
//!    shared bead can stand in for a library many modules need;
//! 2. a *private* library found through the module's `DT_RUNPATH`/`DT_RPATH`
//!    (`$ORIGIN` expanded) or beside the module: it is loaded as a module of
//!    its own, and every bead of the needing module gets a bead of it, named
//!    `BEAD/LIBRARY`, placed right after the bead in each of its weaves (so
//!    it has private globals too, exactly like the module itself);
//! 3. a system library, loaded once by the system loader and shared. A
//!    library found in a system library directory (`/usr/lib`, …) is always
//!    one, even beside a module declared from that directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use weaves_loader::{Module, SymKind};

use crate::config::{BeadPlan, ModulePlan, Plan, WeavePlan};
use crate::error::TapestryError;
use crate::system;
use crate::tapestry::Loaded;

/// Loads the modules of `plan` past the `existing` ones, adding private
/// dependency modules and their beads to it. A live change (`live`) may not
/// add private dependencies: their beads would have to join running weaves.
pub(crate) fn load_modules_from(
    plan: &mut Plan,
    existing: &[Loaded],
    live: bool,
) -> Result<Vec<Loaded>, TapestryError> {
    let first = existing.len();
    let declared = plan.modules.len();
    let mut loaded: Vec<Arc<Module>> = existing.iter().map(|l| l.module.clone()).collect();
    for m in &plan.modules[first..] {
        loaded.push(Arc::new(load_one(plan, m)?));
    }
    let mut provided: Vec<String> = Vec::new();
    for (m, module) in plan.modules.iter().zip(&loaded).filter(|(m, _)| !m.opened) {
        provided.extend(m.path.file_name().map(|f| f.to_string_lossy().into_owned()));
        provided.extend(module.soname().map(str::to_owned));
    }

    let mut private: Vec<Vec<usize>> = vec![Vec::new(); first];
    let mut systems: Vec<Vec<usize>> = Vec::new();
    let mut m = first;
    while m < plan.modules.len() {
        if m >= loaded.len() {
            let mp = plan.modules[m].clone();
            loaded.push(Arc::new(load_one(plan, &mp)?));
        }
        let module = loaded[m].clone();
        let mp = plan.modules[m].clone();
        let mut deps = Vec::new();
        let mut sys = Vec::new();
        for needed in module.needed() {
            if provided.iter().any(|p| p == needed) {
                continue;
            }
            if let Some(path) = find_private(&module, &mp.path, needed) {
                if live {
                    return Err(TapestryError::Run(format!(
                        "not supported: module `{}` ({}) needs the private library {}, and a running tapestry cannot add private library beads yet",
                        mp.name,
                        mp.path.display(),
                        path.display()
                    )));
                }
                let canonical = path.canonicalize().unwrap_or(path.clone());
                let idx = match plan.modules[declared..]
                    .iter()
                    .position(|o| o.path.canonicalize().ok().as_ref() == Some(&canonical))
                {
                    Some(i) => declared + i,
                    None => {
                        plan.modules.push(ModulePlan {
                            name: needed.clone(),
                            path: canonical,
                            line: mp.line,
                            opened: mp.opened,
                        });
                        plan.modules.len() - 1
                    }
                };
                if idx == m || deps.contains(&idx) {
                    continue;
                }
                deps.push(idx);
                continue;
            }
            let h = system::open(needed).map_err(|why| {
                TapestryError::Bind(format!(
                    "module `{}` ({}) needs {needed}, which is neither a module of the tapestry, nor beside it, nor a system library: {why}",
                    mp.name,
                    mp.path.display()
                ))
            })?;
            sys.push(h);
        }
        private.push(deps);
        systems.push(sys);
        m += 1;
    }
    add_private_beads(plan, &private)?;

    Ok(loaded
        .into_iter()
        .skip(first)
        .zip(systems)
        .map(|(module, system)| {
            let own_refs = module
                .symbols()
                .iter()
                .enumerate()
                .filter(|(i, s)| {
                    s.defined
                        && s.kind != SymKind::Other
                        && !module.copy_imports().contains(&(*i as u32))
                })
                .map(|(i, _)| i as u32)
                .collect();
            Loaded {
                module,
                system,
                own_refs,
                system_cache: Mutex::new(HashMap::new()),
            }
        })
        .collect())
}

fn load_one(plan: &Plan, m: &ModulePlan) -> Result<Module, TapestryError> {
    Module::load(&m.path).map_err(|source| {
        let hint = match &source {
            weaves_loader::LoadError::Io { source: e, .. }
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                near_file(&m.path)
            }
            _ => String::new(),
        };
        TapestryError::Module(Box::new(crate::error::ModuleError {
            tapestry: plan.path.clone(),
            line: m.line,
            name: m.name.clone(),
            source,
            hint,
        }))
    })
}

/// ` (did you mean `FILE`?)` for a file beside the missing `path` whose
/// name is close to its name, or nothing.
fn near_file(path: &Path) -> String {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return String::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return String::new();
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crate::config::suggest(&name.to_string_lossy(), names.iter().map(String::as_str))
}

/// A non-system library `needed` by `module`: in its run path or beside it,
/// and not inside a system library directory. A module that is itself a
/// system library (say `liblua5.4.so.0`, declared to get one interpreter
/// per bead) finds `libm.so.6` beside it: that stays the system's, shared
/// as it is for every other module.
fn find_private(module: &Module, path: &Path, needed: &str) -> Option<PathBuf> {
    let found = if needed.contains('/') {
        let p = PathBuf::from(needed);
        p.is_file().then_some(p)
    } else {
        module
            .runpath()
            .iter()
            .map(|d| Path::new(d).join(needed))
            .chain(path.parent().map(|d| d.join(needed)))
            .find(|p| p.is_file())
    }?;
    let canonical = found.canonicalize().unwrap_or_else(|_| found.clone());
    let system = weaves_interpose::dl::SYSTEM_DIRS
        .iter()
        .any(|d| canonical.starts_with(d));
    (!system).then_some(found)
}

/// Gives every bead a private bead of each private dependency of its module
/// (recursively), placed right after it in each weave that holds it.
fn add_private_beads(plan: &mut Plan, private: &[Vec<usize>]) -> Result<(), TapestryError> {
    let declared = plan.beads.len();
    for b in 0..declared {
        let mut chain = Vec::new();
        expand(
            plan,
            private,
            b,
            &mut chain,
            &mut vec![plan.beads[b].module],
        )?;
        if chain.is_empty() {
            continue;
        }
        if !plan.weaves.iter().any(|w| w.beads.contains(&b)) {
            // A bead in no weave still binds to its private libraries.
            let line = plan.beads[b].line;
            plan.weaves.push(WeavePlan {
                name: format!("({})", plan.beads[b].name),
                beads: vec![b],
                line,
                scope: Vec::new(),
            });
        }
        for w in &mut plan.weaves {
            if let Some(pos) = w.beads.iter().position(|&x| x == b) {
                for (k, &c) in chain.iter().enumerate() {
                    w.beads.insert(pos + 1 + k, c);
                }
            }
        }
    }
    Ok(())
}

fn expand(
    plan: &mut Plan,
    private: &[Vec<usize>],
    bead: usize,
    chain: &mut Vec<usize>,
    path: &mut Vec<usize>,
) -> Result<(), TapestryError> {
    let module = plan.beads[bead].module;
    for &dep in &private[module] {
        if path.contains(&dep) {
            continue; // a dependency cycle: one bead per library on the path is enough
        }
        let name = format!("{}/{}", plan.beads[bead].name, plan.modules[dep].name);
        plan.beads.push(BeadPlan {
            name,
            module: dep,
            line: plan.beads[bead].line,
        });
        let nb = plan.beads.len() - 1;
        chain.push(nb);
        path.push(dep);
        expand(plan, private, nb, chain, path)?;
        path.pop();
    }
    Ok(())
}
