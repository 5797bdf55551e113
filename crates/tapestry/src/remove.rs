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

use crate::tapestry::Tapestry;

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

impl Tapestry {
    /// Removes `name`; `live` are the tasks of the strings started so far.
    pub(crate) fn remove(
        &mut self,
        kind: Kind,
        name: &str,
        live: &[Arc<Task>],
        handles: &mut [Option<Arc<Task>>],
    ) -> Result<serde_json::Value, String> {
        match kind {
            Kind::Weave => self.remove_weave(name, live),
            Kind::Bead => self.remove_bead(name),
            Kind::Binding => self.remove_binding(name),
            Kind::String => self.remove_string(name, handles),
        }?;
        Ok(
            serde_json::json!({ "removed": { "kind": format!("{kind:?}").to_lowercase(), "name": name } }),
        )
    }

    fn find(&self, what: &str, name: &str, names: Vec<(usize, &str)>) -> Result<usize, String> {
        names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(i, _)| *i)
            .ok_or_else(|| {
                format!(
                    "no {what} `{name}`{}",
                    crate::config::suggest(name, names.iter().map(|(_, n)| *n))
                )
            })
    }

    fn remove_weave(&mut self, name: &str, live: &[Arc<Task>]) -> Result<(), String> {
        let plan = &self.plan;
        let names = plan
            .weaves
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.removed.weaves.contains(i))
            .map(|(i, w)| (i, w.name.as_str()))
            .collect();
        let w = self.find("weave", name, names)?;
        let running: Vec<&str> = live
            .iter()
            .filter(|t| t.ctx.info.weave == name && !t.is_done())
            .map(|t| t.ctx.info.name.as_str())
            .collect();
        if !running.is_empty() {
            return Err(format!(
                "weave `{name}` still has running strings: {}",
                running.join(", ")
            ));
        }
        self.plan.removed.weaves.insert(w);
        for b in &mut self.beads {
            b.weaves.retain(|&x| x != w);
        }
        Ok(())
    }

    fn remove_bead(&mut self, name: &str) -> Result<(), String> {
        let plan = &self.plan;
        let names = plan
            .beads
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.removed.beads.contains(i))
            .map(|(i, b)| (i, b.name.as_str()))
            .collect();
        let b = self.find("bead", name, names)?;
        let weaves: Vec<&str> = plan
            .weaves
            .iter()
            .enumerate()
            .filter(|(i, w)| !plan.removed.weaves.contains(i) && w.beads.contains(&b))
            .map(|(_, w)| w.name.as_str())
            .collect();
        if !weaves.is_empty() {
            return Err(format!(
                "bead `{name}` is still in weave(s) {}: remove them first",
                weaves.join(", ")
            ));
        }
        let users: Vec<String> = self
            .beads
            .iter()
            .enumerate()
            .filter(|(i, other)| !plan.removed.beads.contains(i) && other.providers.contains(&b))
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
            .filter(|(i, x)| !plan.removed.bindings.contains(i) && (x.from.0 == b || x.to.0 == b))
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
        let mut stack =
            FiberStack::new(weaves_strings::DEFAULT_STACK).map_err(|e| e.to_string())?;
        self.finalise_bead(b, &mut stack);
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
        self.plan.removed.beads.insert(b);
        Ok(())
    }

    fn remove_binding(&mut self, name: &str) -> Result<(), String> {
        let plan = &self.plan;
        let ends: Vec<(usize, String)> = plan
            .bindings
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.removed.bindings.contains(i))
            .map(|(i, x)| (i, format!("{}.{}", plan.beads[x.from.0].name, x.from.1)))
            .collect();
        let k = self.find(
            "binding from",
            name,
            ends.iter().map(|(i, n)| (*i, n.as_str())).collect(),
        )?;
        let from = &self.plan.bindings[k].from;
        weaves_interpose::messages::unbind((self.beads[from.0].owner, &from.1));
        self.plan.removed.bindings.insert(k);
        Ok(())
    }

    fn remove_string(
        &mut self,
        name: &str,
        handles: &mut [Option<Arc<Task>>],
    ) -> Result<(), String> {
        let plan = &self.plan;
        let names = plan
            .strings
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.removed.strings.contains(i))
            .map(|(i, s)| (i, s.name.as_str()))
            .collect();
        let s = self.find("string", name, names)?;
        if handles[s].as_ref().is_some_and(|t| !t.is_done()) {
            return Err(format!(
                "string `{name}` is running: only ended strings can be removed (stop it first: `stop {name}` in a `weaves script`)"
            ));
        }
        handles[s] = None;
        self.plan.removed.strings.insert(s);
        Ok(())
    }
}
