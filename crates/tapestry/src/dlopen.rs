//! `dlopen` of a private library from bead code: the library becomes a bead
//! (with beads of its own private `DT_NEEDED` libraries), made by the
//! thread that runs the tapestry through the live-extension path.
//!
//! The library's bead gets a weave of its own, `(BEAD)`, holding it and its
//! private dependencies; that weave's *scope* is the opener's weave (and the
//! weave's earlier `RTLD_GLOBAL` libraries), searched first. So the library
//! binds as the system loader would bind it — the program and its global
//! scope first, then the library's own local scope — and can call back into
//! its host, while no running bead is rebound and no running weave changes.
//! Which file is private and which is a system library is decided by the
//! caller (`weaves_interpose::dl`).
//!
//! `dlclose` of its last handle unloads it ([`Tapestry::close_library`]):
//! its weave goes, its finalisers run and its beads' memory goes back,
//! unless another bead binds to it (as the system loader keeps a library
//! another one bound symbols of).

use std::path::Path;
use std::sync::Arc;

use weaves_arena::OwnerId;
use weaves_interpose::OpenRequest;
use weaves_strings::Task;

use crate::config::{BeadPlan, ModulePlan, WeavePlan};
use crate::error::TapestryError;
use crate::extend::Extension;
use crate::remove::{mark_removed, shed, Kind};
use crate::tapestry::Tapestry;

impl Tapestry {
    /// Loads `request.path` for the program `request.home` in weave
    /// `request.weave`. Returns the new beads, the library's first. The
    /// error is what `dlerror` says.
    pub(crate) fn open_library(&mut self, request: OpenRequest) -> Result<Vec<OwnerId>, String> {
        let path = &request.path;
        let index_of = |o: OwnerId| self.beads.iter().position(|b| b.owner == o);
        let w = (0..self.plan.weaves.len())
            .find(|&w| {
                self.plan.weaves[w].name == request.weave && !self.plan.removed.weaves.contains(&w)
            })
            .ok_or_else(|| {
                format!(
                    "{}: no weave `{}` to load it into",
                    path.display(),
                    request.weave
                )
            })?;
        let home = index_of(request.home)
            .map(|b| self.plan.beads[b].name.clone())
            .unwrap_or_else(|| request.weave.clone());
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );

        let mut plan = self.plan.clone();
        let mut scope = plan.weaves[w].scope.clone();
        scope.extend(&plan.weaves[w].beads);
        scope.extend(request.globals.iter().filter_map(|&o| index_of(o)));
        let module_name = unique(&file, plan.modules.iter().map(|m| m.name.as_str()));
        plan.modules.push(ModulePlan {
            name: module_name,
            path: path.clone(),
            line: 0,
            opened: true,
        });
        // A removed bead's name is free again (an unloaded library's).
        let bead_name = unique(
            &format!("{home}/{file}"),
            plan.beads
                .iter()
                .enumerate()
                .filter(|(i, _)| !plan.removed.beads.contains(i))
                .map(|(_, b)| b.name.as_str()),
        );
        plan.beads.push(BeadPlan {
            name: bead_name.clone(),
            module: plan.modules.len() - 1,
            line: 0,
        });
        let weave_name = unique(
            &format!("({bead_name})"),
            plan.weaves.iter().map(|w| w.name.as_str()),
        );
        plan.weaves.push(WeavePlan {
            name: weave_name,
            beads: vec![plan.beads.len() - 1],
            line: 0,
            scope,
        });
        let nw = plan.weaves.len() - 1;
        self.changed_live = true;
        self.extend(plan, Extension::Open)
            .map_err(|e| dlerror_text(path, e))?;
        tracing::debug!(
            "dlopen: {} loaded as bead `{bead_name}` for weave `{}`",
            path.display(),
            request.weave
        );
        Ok(self.plan.weaves[nw]
            .beads
            .iter()
            .map(|&b| self.beads[b].owner)
            .collect())
    }
}

impl Tapestry {
    /// Unloads the beads of a library `dlopen` loaded (the library's first,
    /// then its private dependencies), whose last handle was closed: true
    /// once they are gone, false if they must stay because another bead
    /// binds to them, a weave other than their own holds them, or a string
    /// runs in their weave. `live` are the strings started so far.
    pub(crate) fn close_library(
        &mut self,
        owners: &[OwnerId],
        live: &[Arc<Task>],
        handles: &mut Vec<Option<Arc<Task>>>,
    ) -> Result<bool, String> {
        let gone = &self.plan.removed;
        let set: Vec<usize> = owners
            .iter()
            .filter_map(|&o| {
                (0..self.beads.len())
                    .find(|&b| self.beads[b].owner == o && !gone.beads.contains(&b))
            })
            .collect();
        if set.len() != owners.len() || set.is_empty() {
            return Err("dlclose: the library is not loaded".into());
        }
        let bound = (0..self.beads.len())
            .filter(|b| !set.contains(b) && !gone.beads.contains(b))
            .any(|b| self.beads[b].providers.iter().any(|p| set.contains(p)));
        let live_weaves: Vec<usize> = (0..self.plan.weaves.len())
            .filter(|w| !gone.weaves.contains(w))
            .collect();
        let (own, others): (Vec<usize>, Vec<usize>) = live_weaves
            .into_iter()
            .filter(|&w| self.plan.weaves[w].beads.iter().any(|b| set.contains(b)))
            .partition(|&w| self.plan.weaves[w].beads.iter().all(|b| set.contains(b)));
        let running = live.iter().filter(|t| !t.is_done()).any(|t| {
            owners.contains(&t.ctx.info.home)
                || own
                    .iter()
                    .any(|&w| self.plan.weaves[w].name == t.ctx.info.weave)
        });
        if bound || !others.is_empty() || running {
            tracing::debug!(
                "dlclose: `{}` stays loaded (in use)",
                self.plan.beads[set[0]].name
            );
            return Ok(false);
        }
        for &w in &own {
            for b in &mut self.beads {
                b.weaves.retain(|&x| x != w);
            }
            mark_removed(&mut self.plan, Kind::Weave, w);
            shed(&mut self.plan, Kind::Weave, w);
        }
        for w in &mut self.plan.weaves {
            w.scope.retain(|b| !set.contains(b));
        }
        // The library's finalisers first, then its dependencies', as the
        // system loader runs them.
        for &b in &set {
            self.release_bead(b)?;
            mark_removed(&mut self.plan, Kind::Bead, b);
        }
        tracing::debug!("dlclose: `{}` unloaded", self.plan.beads[set[0]].name);
        self.forget_trailing_removed(handles);
        Ok(true)
    }
}

/// `name`, or `name#2`, `name#3`… whichever `taken` does not hold.
fn unique<'a>(name: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    let free = |n: &str| !taken.clone().any(|t| t == n);
    if free(name) {
        return name.to_owned();
    }
    (2..)
        .map(|k| format!("{name}#{k}"))
        .find(|n| free(n))
        .unwrap_or_default()
}

/// What `dlerror` says about a refusal, in the system loader's words where
/// it has them.
fn dlerror_text(path: &Path, e: TapestryError) -> String {
    match e {
        TapestryError::Unresolved(v) => match v.first() {
            Some(u) => format!(
                "{}: undefined symbol: {}",
                u.module.display(),
                u.symbols.first().map_or("?", String::as_str)
            ),
            None => format!("{}: unresolved symbols", path.display()),
        },
        TapestryError::Module(m) => format!("{}: {}", path.display(), m.source),
        e => format!("{}: {e}", path.display()),
    }
}
