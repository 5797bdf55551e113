//! Wasm strings in checkpoints: their instances live in an engine, outside
//! the arena, so an image carries them in a section of their own.
//!
//! While a checkpoint is pending, a running Wasm string saves itself at its
//! next reconfiguration point (`weaves_wasm::run_from`): it unwinds its
//! call stack into linear memory, leaves linear memory, globals and WASI
//! state with its control, and rests until the checkpoint is taken. The
//! image's `WASM` section holds those states and every Wasm module's bytes
//! (engine-independent, little-endian: `weaves_wasm::SavedSection`); the
//! header lists each Wasm string that had not ended. A restore resumes each
//! saved string, under the engine `weaves restore --engine` names or its
//! bead's, from the point it was saved at; one that had not started starts.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weaves_snapshot::Section;
use weaves_strings::Task;
use weaves_wasm::{Saved, SavedSection, Start};

use crate::error::TapestryError;
use crate::tapestry::Tapestry;

/// A Wasm string that had not ended when the image was taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WasmStringState {
    pub id: u32,
    pub name: String,
    /// Whether it had started (its saved state is then in the section).
    pub started: bool,
}

/// What a checkpoint keeps of the Wasm strings: the ids of all of them
/// (their states are not native strings'), those that had not ended, and
/// the `WASM` section.
pub(super) type WasmCapture = (Vec<u32>, Vec<WasmStringState>, Option<Section>);

/// The string id a Wasm string's plan index runs as.
fn id_of(i: usize) -> u32 {
    i as u32 + 1
}

impl Tapestry {
    /// Before strings are brought to rest: refuses a checkpoint that would
    /// have to catch a Wasm string with no reconfiguration points, and
    /// drops what strings saved for an earlier one.
    pub(super) fn prepare_wasm_capture(
        &self,
        sched: &weaves_strings::Scheduler,
    ) -> Result<(), String> {
        if let Some(l) = self.plan.wasm.links.first() {
            // Linked beads' instances live in their strings' worlds, native
            // strings' included, outside anything an image keeps.
            return Err(format!(
                "not supported: a checkpoint of a tapestry whose weave `{}` binds imports to or from Wasm beads (line {})",
                l.weave_name, l.line
            ));
        }
        if self.plan.wasm.strings.is_empty() {
            return Ok(());
        }
        let done: HashMap<u32, bool> = sched
            .tasks()
            .iter()
            .map(|t| (t.ctx.info.id, t.is_done()))
            .collect();
        for (&i, ws) in &self.plan.wasm.strings {
            let module = &self.wasm.modules[self.plan.wasm.beads[ws.bead].module];
            if !module.capturable && !done.get(&id_of(i)).copied().unwrap_or(false) {
                return Err(format!(
                    "not supported: a checkpoint of Wasm string `{}`: module {} has no \
                     reconfiguration points (it imports no weaves.wv_reconfig_point)",
                    self.plan.strings[i].name,
                    module.module.path.display()
                ));
            }
        }
        for c in self.wasm_controls() {
            c.1.forget_saved();
        }
        Ok(())
    }

    /// With every string at rest: the Wasm strings among `tasks` (their ids)
    /// and what the image keeps of them.
    pub(super) fn wasm_capture(&self, tasks: &[Arc<Task>]) -> Result<WasmCapture, String> {
        if self.plan.wasm.strings.is_empty() {
            return Ok((Vec::new(), Vec::new(), None));
        }
        let controls: HashMap<u32, _> = self.wasm_controls().into_iter().collect();
        let mut ids = Vec::new();
        let mut states = Vec::new();
        let mut section = SavedSection {
            modules: self
                .plan
                .wasm
                .modules
                .iter()
                .zip(&self.wasm.modules)
                .map(|(m, p)| (m.name.clone(), p.module.bytes.clone()))
                .collect(),
            strings: Vec::new(),
        };
        for (&i, ws) in &self.plan.wasm.strings {
            let id = id_of(i);
            let Some(task) = tasks.iter().find(|t| t.ctx.info.id == id) else {
                continue;
            };
            ids.push(id);
            if task.outcome().is_some() {
                continue; // listed with the ended strings
            }
            let name = self.plan.strings[i].name.clone();
            let started = task.started();
            if started {
                let saved = controls
                    .get(&id)
                    .and_then(|c| c.take_saved())
                    .ok_or_else(|| {
                        format!(
                            "Wasm string `{name}` came to rest without saving its computation \
                             (it rests only at a reconfiguration point)"
                        )
                    })?;
                let module = self.plan.wasm.beads[ws.bead].module as u32;
                section.strings.push((id, module, saved));
            }
            states.push(WasmStringState { id, name, started });
        }
        let section = Section {
            kind: weaves_wasm::SECTION_KIND,
            bytes: section.encode(),
        };
        Ok((ids, states, Some(section)))
    }
}

/// The saved Wasm strings of an image, by string id, and its modules' bytes
/// by name.
pub(super) type WasmOfImage = (HashMap<u32, Saved>, HashMap<String, Vec<u8>>);

/// Reads the image's `WASM` section, if it has one.
pub(super) fn wasm_of_image(extra: &[Section]) -> Result<WasmOfImage, TapestryError> {
    let Some(s) = extra.iter().find(|s| s.kind == weaves_wasm::SECTION_KIND) else {
        return Ok(Default::default());
    };
    let section = SavedSection::decode(&s.bytes)
        .map_err(|e| TapestryError::Run(format!("the image's Wasm section cannot be used: {e}")))?;
    Ok((
        section
            .strings
            .into_iter()
            .map(|(id, _, saved)| (id, saved))
            .collect(),
        section.modules.into_iter().collect(),
    ))
}

impl Tapestry {
    /// The launch that resumes Wasm string `s` of an image.
    pub(super) fn wasm_resume_launch(
        &self,
        s: &WasmStringState,
        saved: &mut HashMap<u32, Saved>,
    ) -> Result<(u32, weaves_strings::Launch), TapestryError> {
        let Some(i) = (s.id as usize).checked_sub(1) else {
            return Err(TapestryError::Run(format!(
                "Wasm string `{}` of the image has no id",
                s.name
            )));
        };
        let start = if s.started {
            let state = saved.remove(&s.id).ok_or_else(|| {
                TapestryError::Run(format!(
                    "the image holds no saved state for Wasm string `{}`",
                    s.name
                ))
            })?;
            Some(Start::Saved(state))
        } else {
            None
        };
        match self.wasm_launch_from(i, start)? {
            Some(l) if self.plan.strings.get(i).is_some_and(|p| p.name == s.name) => Ok((s.id, l)),
            _ => Err(TapestryError::Run(format!(
                "Wasm string `{}` of the image is not a Wasm string of its tapestry",
                s.name
            ))),
        }
    }
}
