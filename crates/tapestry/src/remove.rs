//! Taking things out of a running tapestry (`weaves remove`).
//!
//! Removal is checked first and refused with the reason while anything
//! still uses the element: a weave with running strings, a bead that a
//! weave lists, another bead binds to, or a message binding names. A
//! removed bead's finalisers run, its heap, TLS template and image go back,
//! and its name is free again. Removed elements keep their index (the plan
//! records them as removed), so nothing else is renumbered.

use std::sync::Arc;

use weaves_strings::{FiberStack, Task};

use crate::config::Plan;
use crate::tapestry::{Bead, Tapestry};

/// What `weaves remove` may take out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bead,
    Weave,
    String,
    Binding,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, String> {
        match s {
            "bead" => Ok(Kind::Bead),
            "weave" => Ok(Kind::Weave),
            "string" => Ok(Kind::String),
            "binding" => Ok(Kind::Binding),
            other => Err(format!(
                "cannot remove a `{other}`: say bead, weave, string or binding"
            )),
        }
    }
}

/// The index of `name` among `items` that are not removed, or why not.
fn find<T>(
    what: &str,
    name: &str,
    items: &[T],
    removed: &std::collections::BTreeSet<usize>,
    name_of: impl Fn(&T) -> String,
) -> Result<usize, String> {
    let names: Vec<(usize, String)> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(i, x)| (i, name_of(x)))
        .collect();
    names
        .iter()
        .find(|(_, n)| n == name)
        .map(|(i, _)| *i)
        .ok_or_else(|| {
            format!(
                "no {what} `{name}`{}",
                crate::config::suggest(name, names.iter().map(|(_, n)| n.as_str()))
            )
        })
}

/// Whether `name` may be removed from `plan` now: its index, or the reason
/// it may not. `beads` are the tapestry's beads (who binds to whom), `live`
/// the strings started so far, `stopped` plan strings to count as ended
/// (an atomic script block checks removals after the stops before them).
pub(crate) fn check(
    plan: &Plan,
    beads: &[Bead],
    kind: Kind,
    name: &str,
    live: &[Arc<Task>],
    stopped: &[usize],
) -> Result<usize, String> {
    let gone = &plan.removed;
    let running = |t: &&Arc<Task>| {
        !t.is_done()
            && !stopped
                .iter()
                .any(|&s| plan.strings[s].name == t.ctx.info.name)
    };
    match kind {
        Kind::Weave => {
            let w = find("weave", name, &plan.weaves, &gone.weaves, |w| {
                w.name.clone()
            })?;
            let names: Vec<&str> = live
                .iter()
                .filter(|t| t.ctx.info.weave == name)
                .filter(running)
                .map(|t| t.ctx.info.name.as_str())
                .collect();
            if !names.is_empty() {
                return Err(format!(
                    "weave `{name}` still has running strings: {}",
                    names.join(", ")
                ));
            }
            Ok(w)
        }
        Kind::Bead => {
            let b = find("bead", name, &plan.beads, &gone.beads, |b| b.name.clone())?;
            let weaves: Vec<&str> = plan
                .weaves
                .iter()
                .enumerate()
                .filter(|(i, w)| !gone.weaves.contains(i) && w.beads.contains(&b))
                .map(|(_, w)| w.name.as_str())
                .collect();
            if !weaves.is_empty() {
                return Err(format!(
                    "bead `{name}` is still in weave(s) {}: remove them first",
                    weaves.join(", ")
                ));
            }
            if plan.tuple_spaces.iter().any(|t| t.beads.contains(&b)) {
                return Err(format!(
                    "bead `{name}` shares variables through a tuple space: it stays while the tapestry runs"
                ));
            }
            let users: Vec<String> = beads
                .iter()
                .enumerate()
                .filter(|(i, other)| !gone.beads.contains(i) && other.providers.contains(&b))
                .map(|(_, other)| {
                    let symbols: Vec<&str> = other
                        .imports
                        .beads
                        .iter()
                        .filter(|w| w.bead.as_deref() == Some(name))
                        .map(|w| w.symbol.as_str())
                        .collect();
                    format!("`{}` ({})", other.name, symbols.join(", "))
                })
                .collect();
            if !users.is_empty() {
                return Err(format!(
                    "bead `{name}` is still bound by bead(s) {}",
                    users.join(", ")
                ));
            }
            let bound: Vec<String> = plan
                .bindings
                .iter()
                .enumerate()
                .filter(|(i, x)| !gone.bindings.contains(i) && (x.from.0 == b || x.to.0 == b))
                .map(|(_, x)| {
                    format!(
                        "{}.{} -> {}.{}",
                        plan.beads[x.from.0].name, x.from.1, plan.beads[x.to.0].name, x.to.1
                    )
                })
                .collect();
            if !bound.is_empty() {
                return Err(format!(
                    "bead `{name}` still has message bindings: {}",
                    bound.join(", ")
                ));
            }
            Ok(b)
        }
        Kind::Binding => find("binding from", name, &plan.bindings, &gone.bindings, |x| {
            format!("{}.{}", plan.beads[x.from.0].name, x.from.1)
        }),
        Kind::String => {
            let s = find("string", name, &plan.strings, &gone.strings, |s| {
                s.name.clone()
            })?;
            if live
                .iter()
                .filter(|t| t.ctx.info.name == name)
                .any(|t| running(&t))
            {
                return Err(format!(
                    "string `{name}` is running: only ended strings can be removed (stop it first: `stop {name}` in a `weaves script`)"
                ));
            }
            Ok(s)
        }
    }
}

/// Records element `i` of kind `kind` as removed in `plan`.
pub(crate) fn mark_removed(plan: &mut Plan, kind: Kind, i: usize) {
    let gone = &mut plan.removed;
    match kind {
        Kind::Bead => gone.beads.insert(i),
        Kind::Weave => gone.weaves.insert(i),
        Kind::String => gone.strings.insert(i),
        Kind::Binding => gone.bindings.insert(i),
    };
}

/// Lets go of what only a live element needs; its index and name stay, so
/// nothing is renumbered.
pub(crate) fn shed(plan: &mut Plan, kind: Kind, i: usize) {
    match kind {
        Kind::Weave => plan.weaves[i].beads = Vec::new(),
        Kind::String => {
            let s = &mut plan.strings[i];
            s.entry_bead = None;
            s.args = Vec::new();
            s.env = Vec::new();
            s.entry_symbol = String::new();
        }
        Kind::Bead | Kind::Binding => {}
    }
}

impl Tapestry {
    /// Removes `name`; `live` are the tasks of the strings started so far.
    pub(crate) fn remove(
        &mut self,
        kind: Kind,
        name: &str,
        live: &[Arc<Task>],
        handles: &mut Vec<Option<Arc<Task>>>,
    ) -> Result<serde_json::Value, String> {
        let i = check(&self.plan, &self.beads, kind, name, live, &[])?;
        match kind {
            Kind::Weave => {
                for b in &mut self.beads {
                    b.weaves.retain(|&x| x != i);
                }
            }
            Kind::Bead => self.release_bead(i)?,
            Kind::Binding => {
                let from = &self.plan.bindings[i].from;
                weaves_interpose::messages::unbind((self.beads[from.0].owner, &from.1));
            }
            Kind::String => {
                if let Some(h) = handles.get_mut(i) {
                    *h = None;
                }
            }
        }
        mark_removed(&mut self.plan, kind, i);
        shed(&mut self.plan, kind, i);
        self.forget_trailing_removed(handles);
        Ok(
            serde_json::json!({ "removed": { "kind": format!("{kind:?}").to_lowercase(), "name": name } }),
        )
    }

    /// Forgets removed strings, weaves and beads at the end of their lists
    /// entirely, so that the next ones added take their places: a tapestry
    /// that adds and removes them over and over stays the same size.
    /// Nothing refers to such an index any more: a removed string is gone
    /// (its id may be given again, as a pid is); a weave goes only once no
    /// string, removed or not, names it; a bead only when no weave, bead,
    /// message binding or tuple space uses it (removed weaves and strings
    /// shed their references).
    pub(crate) fn forget_trailing_removed(&mut self, handles: &mut Vec<Option<Arc<Task>>>) {
        loop {
            let gone = &mut self.plan.removed;
            if let Some(s) = self.plan.strings.len().checked_sub(1) {
                if gone.strings.remove(&s) {
                    self.plan.strings.pop();
                    self.entries.truncate(s);
                    handles.truncate(s);
                    continue;
                }
            }
            if let Some(w) = self.plan.weaves.len().checked_sub(1) {
                if gone.weaves.contains(&w) && !self.plan.strings.iter().any(|s| s.weave == w) {
                    gone.weaves.remove(&w);
                    self.plan.weaves.pop();
                    continue;
                }
            }
            if let Some(b) = self.plan.beads.len().checked_sub(1) {
                if gone.beads.remove(&b) {
                    self.plan.beads.pop();
                    self.beads.pop();
                    self.bindings.pop();
                    self.init_order.retain(|&x| x != b);
                    continue;
                }
            }
            break;
        }
    }

    /// Runs bead `b`'s finalisers and gives its memory back.
    pub(crate) fn release_bead(&mut self, b: usize) -> Result<(), String> {
        let mut stack =
            FiberStack::new(weaves_strings::DEFAULT_STACK).map_err(|e| e.to_string())?;
        if let Some(fault) = self.finalise_bead(b, &mut stack) {
            // The bead goes all the same; its removal is the change asked for.
            eprintln!("weaves: {fault}");
        }
        let bead = &self.beads[b];
        weaves_interpose::unregister_bead(bead.owner);
        weaves_strings::tls::unregister(bead.owner);
        // SAFETY: the bead is in no weave, no bead binds to it and no
        // string runs in it (its weaves are gone, and a weave goes only
        // once its strings have ended); its finalisers have run. Nothing
        // uses its heap or image any more.
        unsafe {
            weaves_arena::Heap::destroy(bead.owner);
            bead.image.release();
        }
        // The record keeps its index (nothing is renumbered) but gives up
        // what only a live bead needs: a tapestry changed a thousand times
        // must not hold a thousand beads' binding tables.
        let bead = &mut self.beads[b];
        bead.weaves = Vec::new();
        bead.providers = Vec::new();
        bead.imports = Default::default();
        self.bindings[b] = crate::binder::Binding::empty();
        Ok(())
    }
}
