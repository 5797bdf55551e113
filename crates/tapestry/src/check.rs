//! `weaves check`: everything a run does before any bead code runs —
//! parse the file, load the modules, map one image per bead, bind every
//! import, apply COPY relocations and tuple spaces, relocate, find every
//! string's entry — then unmap it all. No initialiser, no string runs.

use crate::config::Plan;
use crate::error::TapestryError;
use crate::extend::Extension;
use crate::tapestry::Tapestry;

/// What a tapestry that passed its check holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub modules: usize,
    pub beads: usize,
    pub weaves: usize,
    pub strings: usize,
    pub tuple_spaces: usize,
    pub bindings: usize,
}

impl Tapestry {
    /// Builds `plan` as a run would, up to the point where bead code would
    /// start, and takes it down again. The error is the one `weaves run`
    /// would give — with `bind = "now"`: a function found nowhere, which a
    /// run binds lazily, is reported here.
    pub fn check(mut plan: Plan) -> Result<Checked, TapestryError> {
        plan.bind_now = true;
        let checked = Checked {
            modules: plan.modules.len(),
            beads: plan.beads.len(),
            weaves: plan.weaves.len(),
            strings: plan.strings.len(),
            tuple_spaces: plan.tuple_spaces.len(),
            bindings: plan.bindings.len(),
        };
        let span = tracing::debug_span!("check", file = %plan.path.display());
        let _span = span.enter();
        Tapestry::build_as(plan, Extension::Verify)?;
        Ok(checked)
    }
}
