//! Restoring an image: the tapestry rebuilt from its stored description,
//! its memory and external state put back, its strings launched to resume.

use std::ffi::CString;
use std::sync::Arc;

use weaves_arena::{adopt_heap, Arena, PlacementState};
use weaves_snapshot::{Image, Layout};
use weaves_strings::{Entry, ExecCtx, Launch, Mode, StringInfo};

use super::external::{link_streams, reopen_files};
use super::{crc32, EndedString, Placement, StringState, TapestryState};
use crate::config::Plan;
use crate::error::TapestryError;
use crate::tapestry::Tapestry;

impl Tapestry {
    /// Rebuilds the tapestry an image describes and puts its memory back;
    /// returns it with the launches that resume its strings.
    pub fn restore(image: &Image) -> Result<Restored, TapestryError> {
        Tapestry::restore_with(image, None)
    }

    /// [`Tapestry::restore`], running every Wasm bead — and so resuming
    /// every Wasm string — under `engine` if given (`weaves restore
    /// --engine`), whichever engine it was saved under.
    pub fn restore_with(
        image: &Image,
        engine: Option<crate::wasm::EngineKind>,
    ) -> Result<Restored, TapestryError> {
        let fail = |m: String| TapestryError::Run(m);
        let state: TapestryState = serde_json::from_value(image.header.tapestry.clone())
            .map_err(|e| fail(format!("the image's tapestry state is unreadable: {e}")))?;
        for m in &state.modules {
            let changed = || {
                fail(format!(
                    "module {} changed since the checkpoint (size or checksum differs); \
                     restore needs the same files",
                    m.path.display()
                ))
            };
            // Size and type first: a path that is now a device or a FIFO,
            // or a file of another size, is refused without reading it.
            let meta = std::fs::metadata(&m.path)
                .map_err(|e| fail(format!("module {} of the image: {e}", m.path.display())))?;
            if !meta.is_file() || meta.len() != m.size {
                return Err(changed());
            }
            let bytes = std::fs::read(&m.path)
                .map_err(|e| fail(format!("module {} of the image: {e}", m.path.display())))?;
            if bytes.len() as u64 != m.size || crc32(&bytes) != m.crc32 {
                return Err(changed());
            }
        }
        let (mut saved, wasm_modules) = super::wasm::wasm_of_image(&image.extra)?;
        crate::set_checkpointable();
        let mut plan = Plan::parse(&state.source_path, &state.source)?;
        plan.workers = state.workers;
        if let Some(e) = engine {
            plan.set_wasm_engine(e);
        }
        for m in &mut plan.wasm.modules {
            m.from_image = wasm_modules.get(&m.name).cloned();
        }
        let t = Tapestry::build_without_init(plan)?;
        for (name, owner, base) in &state.beads {
            let b = t.beads.iter().find(|b| &b.name == name);
            match b {
                Some(b) if b.owner == *owner && b.image.base() == *base => {}
                Some(b) => {
                    return Err(fail(format!(
                        "layout differs: bead `{name}` is at {:#x} (owner {}), the image has it \
                         at {base:#x} (owner {owner})",
                        b.image.base(),
                        b.owner
                    )))
                }
                None => return Err(fail(format!("bead `{name}` of the image is missing"))),
            }
        }
        if let Some(why) = image.header.layout.mismatch(&Layout::current()) {
            return Err(fail(format!("cannot restore here: {why}")));
        }
        let arena = Arena::global().map_err(|e| fail(e.to_string()))?;
        arena.restore_placement(&placement_state(&state.placement));
        reopen_files(&state.files).map_err(fail)?;
        // SAFETY: the arena holds only the rebuilt beads (no initialiser
        // ran, no string started): the image's memory replaces theirs.
        unsafe { weaves_snapshot::apply(&image.header.vmas, &image.runs) }
            .map_err(|e| fail(format!("cannot write the image's memory back: {e}")))?;
        for &(owner, addr) in &state.heaps {
            // SAFETY: the heap's bytes were just restored at `addr`.
            unsafe { adopt_heap(owner, addr as usize) };
        }
        link_streams(&state.streams);
        for q in &state.queues {
            weaves_interpose::messages::refill(
                (q.owner, &q.iface),
                q.messages.clone(),
                q.delivered,
            );
        }
        let mut launches = state
            .strings
            .iter()
            .map(launch_of)
            .collect::<Result<Vec<_>, _>>()?;
        for s in &state.wasm_strings {
            launches.push(t.wasm_resume_launch(s, &mut saved)?);
        }
        Ok(Restored {
            tapestry: t,
            launches,
            ended: state.ended.clone(),
            threads: state.threads.clone(),
            unrestorable: state.unrestorable.clone(),
        })
    }
}

/// What a restored run starts from besides its launches: strings that had
/// ended, and the pthread ids bead code holds (id, string id).
pub(crate) type Resumed = (Vec<EndedString>, Vec<(u64, u32)>);

/// A tapestry rebuilt from an image, ready to run.
pub struct Restored {
    pub tapestry: Tapestry,
    pub(crate) launches: Vec<(u32, Launch)>,
    pub(crate) ended: Vec<EndedString>,
    pub(crate) threads: Vec<(u64, u32)>,
    pub unrestorable: Vec<String>,
}

fn launch_of(s: &StringState) -> Result<(u32, Launch), TapestryError> {
    let cstrings = |v: &[Vec<u8>]| -> Result<Vec<CString>, TapestryError> {
        v.iter()
            .map(|b| CString::new(b.clone()))
            .collect::<Result<_, _>>()
            .map_err(|_| TapestryError::Run(format!("string `{}`: NUL in the image", s.name)))
    };
    let env = s.env.as_deref().map(cstrings).transpose()?;
    let ctx = ExecCtx::new(
        StringInfo {
            id: s.id,
            name: s.name.clone(),
            weave: s.weave.clone(),
            home: s.home,
        },
        env,
    )
    .with_args(cstrings(&s.args)?);
    ctx.set_saved_errno(s.errno);
    ctx.set_tls_blocks(
        &s.tls
            .iter()
            .map(|&(m, b)| (m, b as usize))
            .collect::<Vec<_>>(),
    );
    ctx.set_thread_exit_handlers(
        s.thread_exit
            .iter()
            .map(|&(f, o)| (f as usize, o as usize))
            .collect(),
    );
    ctx.has_siblings
        .store(s.siblings, std::sync::atomic::Ordering::Relaxed);
    let (entry, stack_at) = match (&s.boundary, &s.stack) {
        (Some((record, target)), Some((low, usable))) => (
            Entry::Resume {
                record: *record,
                target: *target,
            },
            Some((*low as usize, *usable as usize)),
        ),
        (None, None) => match s.entry.0.as_str() {
            "main" => (Entry::Main(s.entry.1), None),
            "thread" => (
                Entry::Thread {
                    start: s.entry.1,
                    arg: s.entry.2,
                },
                None,
            ),
            _ => {
                return Err(TapestryError::Run(format!(
                    "string `{}`: bad entry",
                    s.name
                )))
            }
        },
        _ => {
            return Err(TapestryError::Run(format!(
                "string `{}` was caught outside a checkpoint point",
                s.name
            )))
        }
    };
    Ok((
        s.id,
        Launch {
            ctx: Arc::new(ctx),
            entry,
            stack_size: s.stack_size as usize,
            mode: if s.thread_mode {
                Mode::Thread
            } else {
                Mode::Fiber
            },
            stack_at,
        },
    ))
}

fn placement_state(p: &Placement) -> PlacementState {
    PlacementState {
        bump: p.bump as usize,
        free: p
            .free
            .iter()
            .map(|&(a, l)| (a as usize, l as usize))
            .collect(),
        next_owner: p.next_owner,
        owners: p
            .owners
            .iter()
            .map(|&(a, l, o)| (a as usize, l as usize, o))
            .collect(),
    }
}

impl Restored {
    /// Runs the restored strings to their end (as [`Tapestry::run_monitored`]).
    pub fn run_monitored<G>(
        &mut self,
        monitor: impl FnOnce(Arc<crate::LiveView>) -> G,
    ) -> Result<crate::RunReport, TapestryError> {
        let launches = std::mem::take(&mut self.launches);
        let ended = std::mem::take(&mut self.ended);
        let threads = std::mem::take(&mut self.threads);
        self.tapestry
            .drive(launches, Some((ended, threads)), monitor)
    }
}
