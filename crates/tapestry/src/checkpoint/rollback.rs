//! Rolling a running tapestry back to a checkpoint.
//!
//! The image is read and checked against the running tapestry first (same
//! description, modules, beads and layout): a refused rollback changes
//! nothing. Then every string is brought to rest, output already made is
//! delivered, descriptors bead code opened since the start are marked
//! close-on-exec, and the process re-executes itself as `weaves restore
//! IMAGE`: the same process (its id, and so its control socket name, its
//! parent, its standard streams), with every string, bead and runtime table
//! exactly as the image has them. Resetting the runtime's own tables
//! (waiters, timers, pthread ids, message queues) in place would need each
//! of them to know how to forget; a restore already builds all of them
//! from the image.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use weaves_strings::Scheduler;

use super::external::{close_on_exec_beyond_inherited, take_pending_output, write_pending_output};
use super::{images_in, Layout, TapestryState, QUIESCE_WITHIN};
use crate::tapestry::Tapestry;

impl Tapestry {
    /// Rolls back to the image at `path` (or a directory's newest), or to
    /// the latest checkpoint of this run. Calls `about_to` just before the
    /// process is replaced; returns only if the rollback is refused or
    /// fails (then strings go on as they were).
    pub(crate) fn roll_back(
        &mut self,
        sched: &Scheduler,
        path: Option<PathBuf>,
        about_to: impl FnOnce(),
    ) -> Result<Infallible, String> {
        self.refuse_if_changed_live("rollback")?;
        let target = match path {
            Some(p) if p.is_dir() => images_in(&p)
                .map_err(|e| format!("cannot list {}: {e}", p.display()))?
                .pop()
                .ok_or_else(|| format!("{} holds no checkpoint image", p.display()))?,
            Some(p) => p,
            None => self.chain.latest.clone().ok_or(
                "no checkpoint to roll back to: this run has taken none (wv_checkpoint, \
                 weaves checkpoint, or [checkpoint] interval_ms)",
            )?,
        };
        self.check_rollback(&target)?;
        self.prepare_wasm_capture(sched)?;
        let quiet = sched.quiesce(QUIESCE_WITHIN).map_err(|e| e.to_string())?;
        write_pending_output(&take_pending_output());
        // SAFETY: every string is at rest: no stdio call holds a stream.
        unsafe { libc::fflush(std::ptr::null_mut()) };
        let keep_open = self
            .chain
            .memory
            .as_ref()
            .map(std::os::fd::AsRawFd::as_raw_fd);
        close_on_exec_beyond_inherited(keep_open);
        about_to();
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
        let mut restore = std::process::Command::new(exe);
        restore.arg("restore");
        // The monitor's uptime goes on from the run's first start.
        if let Some(since) = self
            .started_at
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        {
            restore.arg(format!("--started-at-ms={}", since.as_millis()));
        }
        let err = std::os::unix::process::CommandExt::exec(restore.arg(&target));
        drop(quiet);
        Err(format!("cannot re-execute to roll back: {err}"))
    }

    /// Refuses an image that is not a checkpoint of this very tapestry.
    fn check_rollback(&mut self, target: &Path) -> Result<(), String> {
        let image = weaves_snapshot::read_chain(target).map_err(|e| e.to_string())?;
        let state: TapestryState = serde_json::from_value(image.header.tapestry.clone())
            .map_err(|e| format!("the image's tapestry state is unreadable: {e}"))?;
        drop(image.runs);
        if state.source != self.plan.source || state.source_path != self.plan.path {
            return Err(format!(
                "{} is a checkpoint of another tapestry ({}), not of {}",
                target.display(),
                state.source_path.display(),
                self.plan.path.display()
            ));
        }
        let now = self.module_identities()?;
        for (then, now) in state.modules.iter().zip(&now) {
            if then.crc32 != now.crc32 || then.size != now.size {
                return Err(format!(
                    "module {} changed since the checkpoint; a rollback needs the same files",
                    then.path.display()
                ));
            }
        }
        let beads: Vec<(String, u32, u64)> = self
            .beads
            .iter()
            .map(|b| (b.name.clone(), b.owner, b.image.base()))
            .collect();
        if beads != state.beads {
            return Err("the image's beads are not the running tapestry's".into());
        }
        if let Some(why) = image.header.layout.mismatch(&Layout::current()) {
            return Err(format!("cannot roll back here: {why}"));
        }
        Ok(())
    }
}
