//! Checkpoints of a running tapestry, and restoring one into a new process.
//!
//! Taking one ([`Tapestry::checkpoint`]), on the thread that runs the
//! tapestry:
//!
//! 1. every string is brought to rest at a boundary
//!    (`Scheduler::quiesce`), stdio buffers are flushed;
//! 2. frozen, the arena's mappings, the pages the process holds privately,
//!    the arena's placement, the beads' heaps, each string's state and the
//!    open files are copied (the pause is this copy);
//! 3. strings go on, and the copy is written to disk (atomically) while
//!    they run.
//!
//! Restoring ([`Tapestry::restore`]) rebuilds the same tapestry from the
//! description stored in the image, in a process with the same layout:
//! building maps the same beads in the same order, so they land at the same
//! arena addresses (checked), but runs no initialiser; then the arena's
//! placement and memory are put back, heaps adopted, files reopened, and
//! each string is launched to resume at its boundary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use weaves_arena::{existing_heap, Arena, PlacementState};
use weaves_snapshot::{image::Header, Layout, PageRun, Parent, WriteTracker, Written};
use weaves_strings::{Entry, Mode, Outcome, Scheduler, Task};

use crate::tapestry::Tapestry;

mod dir;
mod external;
mod restore;
mod rollback;
mod wasm;

pub use dir::{prepare_configured_dir, prepare_dir};

pub use external::note_inherited_descriptors;
use external::{bead_streams, open_files, take_pending_output, write_pending_output};
pub use restore::Restored;
pub(crate) use restore::Resumed;

/// How long strings get to come to rest before a checkpoint gives up.
const QUIESCE_WITHIN: Duration = Duration::from_secs(10);

/// The tapestry's part of an image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TapestryState {
    /// The tapestry file's text and where it was (module paths are relative
    /// to it).
    pub source: String,
    pub source_path: PathBuf,
    pub workers: usize,
    pub modules: Vec<ModuleIdentity>,
    /// (name, owner id, base address) of every bead.
    pub beads: Vec<(String, u32, u64)>,
    pub placement: Placement,
    /// (owner id, heap address).
    pub heaps: Vec<(u32, u64)>,
    pub strings: Vec<StringState>,
    /// Strings that had ended: their reports.
    pub ended: Vec<EndedString>,
    /// pthread ids bead code holds: (id, string id).
    pub threads: Vec<(u64, u32)>,
    pub files: Vec<FileState>,
    /// stdio streams of bead code (`FILE *` in bead heaps).
    pub streams: Vec<u64>,
    /// Messages queued on in-interfaces.
    #[serde(default)]
    pub queues: Vec<QueueState>,
    /// What could not be saved (listed at restore).
    pub unrestorable: Vec<String>,
    /// Wasm strings that had not ended (their computations are in the
    /// image's `WASM` section).
    #[serde(default)]
    pub wasm_strings: Vec<wasm::WasmStringState>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModuleIdentity {
    pub path: PathBuf,
    pub build_id: Option<String>,
    pub size: u64,
    pub crc32: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Placement {
    pub bump: u64,
    pub free: Vec<(u64, u64)>,
    pub next_owner: u32,
    pub owners: Vec<(u64, u64, u32)>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndedString {
    pub id: u32,
    pub name: String,
    pub weave: String,
    pub status: i32,
    pub exited: bool,
}

/// One string that had not ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StringState {
    pub id: u32,
    pub name: String,
    pub weave: String,
    pub home: u32,
    pub thread_mode: bool,
    /// `Main(addr)` or `Thread(start, arg)`.
    pub entry: (String, u64, u64),
    pub stack_size: u64,
    /// (lowest address, usable bytes) once started.
    pub stack: Option<(u64, u64)>,
    /// (record, resume target) once started.
    pub boundary: Option<(u64, u64)>,
    pub errno: i32,
    pub tls: Vec<(u64, u64)>,
    pub thread_exit: Vec<(u64, u64)>,
    pub args: Vec<Vec<u8>>,
    pub env: Option<Vec<Vec<u8>>>,
    pub siblings: bool,
}

/// The messages waiting on one in-interface (`bead.iface`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueState {
    pub owner: u32,
    pub iface: String,
    pub messages: Vec<Vec<u8>>,
    pub delivered: u64,
}

/// A file bead code had open.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileState {
    pub fd: i32,
    pub path: PathBuf,
    pub flags: i32,
    pub offset: u64,
    pub size: u64,
}

/// Milliseconds to the microsecond (`2.015`, not `2.0150569999999997`).
fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

/// How many incremental images may follow a full one before the chain is
/// compacted: the newest is rewritten as a full image (a restore reads the
/// whole chain; this bounds it).
const MAX_DELTAS: usize = 8;

/// What this process's checkpoints so far mean for the next one.
#[derive(Default)]
pub(crate) struct Chain {
    /// Tracks writes since the last capture (made at the first one).
    tracker: Option<WriteTracker>,
    /// Why writes cannot be tracked here, once known.
    untrackable: Option<String>,
    /// The last image written: directory, file name, id, and how many
    /// incremental images lead to it from a full one.
    last: Option<(PathBuf, String, u64, usize)>,
    seq: u64,
    /// The image a rollback goes back to: the newest this run took (or
    /// restored from).
    pub(crate) latest: Option<PathBuf>,
    /// The anonymous file holding the in-memory image, once there is one.
    memory: Option<std::fs::File>,
    /// The modules' identities, once read.
    identities: Option<Vec<ModuleIdentity>>,
}

impl Chain {
    /// The runs a capture stores for `vmas`: all present pages, or with a
    /// parent only the written ones (and whole the mappings made since).
    /// Arms write tracking for the next capture. Returns the runs, the
    /// fresh ranges and the parent actually used.
    fn pages_to_store(
        &mut self,
        vmas: &[weaves_snapshot::Vma],
        parent: Option<Parent>,
    ) -> Result<StoredPages, String> {
        let all = |vmas: &[weaves_snapshot::Vma]| {
            weaves_snapshot::present_runs(vmas).map_err(|e| e.to_string())
        };
        let Some(tracker) = self.tracker.as_mut() else {
            return Ok((all(vmas)?, Vec::new(), None));
        };
        let written = tracker
            .collect(vmas)
            .map_err(|e| format!("cannot read which pages were written: {e}"))?;
        if parent.is_none() {
            return Ok((all(vmas)?, Vec::new(), None));
        }
        let mut runs = Vec::new();
        let mut fresh = Vec::new();
        for (v, w) in vmas.iter().zip(written) {
            match w {
                Written::Runs(r) => runs.extend(r),
                Written::Untracked => {
                    fresh.push((v.addr, v.len));
                    runs.extend(all(std::slice::from_ref(v))?);
                }
            }
        }
        runs.sort_unstable();
        Ok((runs, fresh, parent))
    }

    /// Starts tracking writes if the tapestry wants incremental images and
    /// the kernel can; says once why not.
    fn arm(&mut self, incremental: bool) {
        if !incremental || self.tracker.is_some() || self.untrackable.is_some() {
            return;
        }
        match WriteTracker::new() {
            Ok(t) => self.tracker = Some(t),
            Err(e) => {
                let why = format!(
                    "checkpoints are full images: this kernel cannot track written pages \
                     (userfaultfd write-protect with PAGEMAP_SCAN, Linux 6.7+: {e})"
                );
                tracing::warn!("{why}");
                self.untrackable = Some(why);
            }
        }
    }

    /// The image a new one in `dir` may be a delta on: the previous
    /// checkpoint of this run — whoever asked for it: `weaves checkpoint`,
    /// the periodic timer, `wv_checkpoint` — when it went into the same
    /// directory (however the directory was named) and is still there.
    fn parent_in(&self, dir: &Path) -> Result<(Parent, usize), &'static str> {
        if self.tracker.is_none() {
            return Err("written pages are not tracked here");
        }
        let Some((d, file, id, depth)) = self.last.as_ref() else {
            return Err("the previous checkpoint of this run was not written into a directory");
        };
        if !same_dir(d, dir) {
            return Err("the previous checkpoint of this run went into another directory");
        }
        if !d.join(file).is_file() {
            return Err("the previous image of this run is gone");
        }
        Ok((
            Parent {
                file: file.clone(),
                id: *id,
            },
            *depth,
        ))
    }
}

type StoredPages = (Vec<(u64, u64)>, Vec<(u64, u64)>, Option<Parent>);

/// Whether `a` and `b` name one directory (`images`, `./images` and its
/// absolute path do).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// Where a checkpoint's image goes.
pub(crate) enum Destination {
    /// This file.
    File(PathBuf),
    /// The next image of this directory.
    Dir(PathBuf),
    /// The next image of the tapestry's `[checkpoint] dir`.
    Configured,
    /// There, or in memory if the tapestry has none (`wv_checkpoint`: for
    /// rolling back to).
    ConfiguredOrMemory,
}

/// A checkpoint's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Taken {
    pub path: Option<PathBuf>,
    pub bytes: u64,
    pub pages: u64,
    pub pause_us: u64,
    pub total_ms: f64,
    pub incremental: bool,
    pub unrestorable: Vec<String>,
}

/// A copy of the tapestry's state, taken while strings were at rest.
pub struct Capture {
    pub header: Header,
    pub runs: Vec<PageRun>,
    pub pause: Duration,
    /// stdout/stderr bytes to deliver once the image is written.
    pub pending_output: Vec<(i32, Vec<u8>)>,
    pub unrestorable: Vec<String>,
    /// Sections besides header and pages (Wasm strings' state).
    pub extra: Vec<weaves_snapshot::Section>,
}

impl Tapestry {
    /// Copies everything a restore needs, with every string at rest for the
    /// copy only.
    ///
    /// With `parent`, the copy is a delta on that image: only pages written
    /// since it was taken (and mappings made since, whole).
    pub(crate) fn capture(
        &mut self,
        sched: &Scheduler,
        strict: bool,
        parent: Option<Parent>,
    ) -> Result<Capture, String> {
        self.refuse_if_changed_live("checkpoint")?;
        let modules = self.module_identities()?;
        self.prepare_wasm_capture(sched)?;
        let asked = Instant::now();
        let quiet = sched.quiesce(QUIESCE_WITHIN).map_err(|e| e.to_string())?;
        let paused = Instant::now();
        tracing::debug!(
            "quiesce: {} string(s) at rest after {} µs",
            quiet.tasks.len(),
            (paused - asked).as_micros()
        );
        let pending_output = take_pending_output();
        // SAFETY: flushing every stdio stream; strings are at rest, so none
        // is inside a stdio call holding a stream's lock.
        unsafe { libc::fflush(std::ptr::null_mut()) };
        let (files, unrestorable) = open_files();
        if strict && !unrestorable.is_empty() {
            return Err(format!(
                "--strict: state that cannot be restored: {}",
                unrestorable.join(", ")
            ));
        }
        let vmas = weaves_snapshot::capture_vmas().map_err(|e| e.to_string())?;
        let (runs, fresh, parent) = self.chain.pages_to_store(&vmas, parent)?;
        let pages = weaves_snapshot::copy_pages(&runs);
        let arena = Arena::global().map_err(|e| e.to_string())?;
        let placement = placement_of(&arena.placement_state());
        let heaps = self
            .beads
            .iter()
            .filter_map(|b| existing_heap(b.owner).map(|h| (b.owner, h.address() as u64)))
            .collect();
        let (wasm_ids, wasm_strings, wasm_section) = self.wasm_capture(&quiet.tasks)?;
        let mut strings = Vec::new();
        let mut ended = Vec::new();
        for t in &quiet.tasks {
            match t.outcome() {
                None if wasm_ids.contains(&t.ctx.info.id) => {}
                Some(o) => ended.push(EndedString {
                    id: t.ctx.info.id,
                    name: t.ctx.info.name.clone(),
                    weave: t.ctx.info.weave.clone(),
                    status: o.status(),
                    exited: matches!(o, Outcome::Exited(_)),
                }),
                None => strings.push(string_state(t)),
            }
        }
        let threads = weaves_interpose::checkpoint::thread_ids();
        let streams = bead_streams();
        let queues = weaves_interpose::messages::queued()
            .into_iter()
            .map(|(owner, iface, messages, delivered)| QueueState {
                owner,
                iface,
                messages,
                delivered,
            })
            .collect();
        let pause = paused.elapsed();
        drop(quiet);
        tracing::debug!(
            "capture: {} page run(s) copied; strings held {} µs",
            runs.len(),
            pause.as_micros()
        );
        let state = TapestryState {
            source: self.plan.source.clone(),
            source_path: self.plan.path.clone(),
            workers: self.plan.workers,
            modules,
            beads: self
                .beads
                .iter()
                .map(|b| (b.name.clone(), b.owner, b.image.base()))
                .collect(),
            placement,
            heaps,
            strings,
            ended,
            threads,
            files,
            streams,
            queues,
            unrestorable: unrestorable.clone(),
            wasm_strings,
        };
        let taken_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.chain.seq += 1;
        let header = Header {
            layout: Layout::current(),
            vmas,
            tapestry: serde_json::to_value(&state).map_err(|e| e.to_string())?,
            taken_us,
            id: taken_us.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (u64::from(std::process::id()) << 40)
                ^ self.chain.seq,
            parent,
            fresh,
        };
        Ok(Capture {
            header,
            runs: pages,
            pause,
            pending_output,
            unrestorable,
            extra: wasm_section.into_iter().collect(),
        })
    }

    /// A restore rebuilds the tapestry from its description alone, which
    /// a live change has left behind.
    fn refuse_if_changed_live(&self, what: &str) -> Result<(), String> {
        if self.changed_live {
            return Err(format!(
                "not supported: {what} of a tapestry changed while running \
                 (apply, remove or script)"
            ));
        }
        Ok(())
    }

    /// The loaded modules' identities, read from their files once per run
    /// (a live change, which could add modules, refuses checkpoints).
    fn module_identities(&mut self) -> Result<Vec<ModuleIdentity>, String> {
        if let Some(known) = &self.chain.identities {
            return Ok(known.clone());
        }
        let found: Vec<ModuleIdentity> = self
            .modules
            .iter()
            .map(|m| {
                let path = m.module.path().to_owned();
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read module {}: {e}", path.display()))?;
                Ok(ModuleIdentity {
                    build_id: m.module.build_id().map(hex),
                    size: bytes.len() as u64,
                    crc32: crc32(&bytes),
                    path,
                })
            })
            .collect::<Result<_, String>>()?;
        self.chain.identities = Some(found.clone());
        Ok(found)
    }
}

fn string_state(t: &Arc<Task>) -> StringState {
    let ctx = &t.ctx;
    let (entry, stack_size) = t.launched();
    let entry = match entry {
        Entry::Main(a) => ("main".to_owned(), a, 0),
        Entry::Thread { start, arg } => ("thread".to_owned(), start, arg),
        Entry::Resume { record, target } => ("resume".to_owned(), record, target),
    };
    let started = t.started();
    let (low, high) = ctx.stack_bounds();
    let (record, target) = ctx.boundary();
    StringState {
        id: ctx.info.id,
        name: ctx.info.name.clone(),
        weave: ctx.info.weave.clone(),
        home: ctx.info.home,
        thread_mode: t.mode == Mode::Thread,
        entry,
        stack_size: stack_size as u64,
        stack: (started && high > low).then(|| {
            (
                low as u64,
                (high - low - weaves_strings::STACK_GUARD) as u64,
            )
        }),
        boundary: (started && record != 0).then_some((record as u64, target)),
        errno: ctx.saved_errno(),
        tls: ctx
            .tls_blocks()
            .into_iter()
            .map(|(m, b)| (m, b as u64))
            .collect(),
        thread_exit: ctx
            .thread_exit_handlers()
            .into_iter()
            .map(|(f, o)| (f as u64, o as u64))
            .collect(),
        args: ctx.args().iter().map(|a| a.as_bytes().to_vec()).collect(),
        env: ctx
            .own_environment()
            .map(|e| e.into_iter().map(|c| c.into_bytes()).collect()),
        siblings: ctx.has_siblings.load(std::sync::atomic::Ordering::Relaxed),
    }
}

fn placement_of(p: &PlacementState) -> Placement {
    Placement {
        bump: p.bump as u64,
        free: p.free.iter().map(|&(a, l)| (a as u64, l as u64)).collect(),
        next_owner: p.next_owner,
        owners: p
            .owners
            .iter()
            .map(|&(a, l, o)| (a as u64, l as u64, o))
            .collect(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn crc32(b: &[u8]) -> u32 {
    weaves_snapshot::checksum(b)
}

/// Image files in a checkpoint directory are named `ckpt-NNNNNN.wvimg`.
const PREFIX: &str = "ckpt-";
const SUFFIX: &str = ".wvimg";

/// The complete images in `dir`, oldest first (temporary files of an image
/// being written start with a dot and are not listed).
pub fn images_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let Some(n) = name.to_str() else { continue };
        if let Some(seq) = n
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
            .and_then(|d| d.parse::<u64>().ok())
        {
            found.push((seq, e.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Rewrites the incremental image at `path` as a full one with the same
/// memory (its chain put together), atomically.
fn compact(path: &Path) -> Result<(), String> {
    let mut image = weaves_snapshot::read_chain(path).map_err(|e| e.to_string())?;
    image.header.parent = None;
    image.header.fresh.clear();
    weaves_snapshot::write_image_with(path, &image.header, &image.runs, &image.extra, || {})
        .map(|_| ())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Whether `path` is named like an image of a checkpoint directory.
fn in_images_dir(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
}

/// Deletes the images of `dir` beyond the newest `keep`, except those a
/// kept incremental image builds on.
fn prune(dir: &Path, keep: usize) {
    let Ok(all) = images_in(dir) else { return };
    let mut needed: Vec<PathBuf> = Vec::new();
    for newest in all.iter().rev().take(keep) {
        let mut at = Some(newest.clone());
        while let Some(p) = at {
            if needed.contains(&p) {
                break;
            }
            at = weaves_snapshot::read_header(&p)
                .ok()
                .and_then(|h| h.parent)
                .map(|parent| dir.join(parent.file));
            needed.push(p);
        }
    }
    for old in all.iter().filter(|p| !needed.contains(p)) {
        let _ = std::fs::remove_file(old);
    }
}

fn next_image_in(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot make checkpoint directory {}: {e}", dir.display()))?;
    dir::remove_stale_temporaries(dir);
    let last = images_in(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .last()
        .and_then(|p| {
            p.file_name()?
                .to_str()?
                .strip_prefix(PREFIX)?
                .strip_suffix(SUFFIX)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    Ok(dir.join(format!("{PREFIX}{:06}{SUFFIX}", last + 1)))
}

impl Tapestry {
    /// Takes a checkpoint and writes it to `path`, or as the next image in
    /// `dir`, or in the tapestry's `[checkpoint] dir` (keeping its newest
    /// `keep` images).
    pub(crate) fn checkpoint_to(
        &mut self,
        sched: &Scheduler,
        to: Destination,
        strict: bool,
        full: bool,
    ) -> Result<Taken, String> {
        let t0 = Instant::now();
        let configured = self.plan.checkpoint.clone().unwrap_or_default();
        let (target, keep_in) = match (to, &configured.dir) {
            (Destination::File(p), _) => (p, None),
            (Destination::Dir(d), _) => (next_image_in(&d)?, None),
            (Destination::Configured | Destination::ConfiguredOrMemory, Some(d)) => {
                (next_image_in(d)?, Some(d.clone()))
            }
            (Destination::ConfiguredOrMemory, None) => {
                return self.checkpoint_in_memory(sched, strict, t0)
            }
            (Destination::Configured, None) => {
                return Err("no place for the image: give -o PATH or --dir DIR, or the \
                            tapestry a [checkpoint] dir"
                    .into())
            }
        };
        let target_dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let span = tracing::debug_span!("checkpoint", to = %target.display());
        let _span = span.enter();
        self.chain.arm(configured.incremental);
        // A delta only on the previous image, in the same directory, when
        // asked for neither a full image nor a file of its own.
        let on = match (full, configured.incremental, in_images_dir(&target)) {
            (true, _, _) => Err("--full"),
            (_, false, _) => Err("[checkpoint] incremental = false"),
            (_, _, false) => {
                Err("the image is a file of its own (-o), not the next of a directory")
            }
            _ => self.chain.parent_in(&target_dir),
        };
        match &on {
            Ok((parent, depth)) => tracing::debug!(
                "incremental on {} ({} delta(s) deep)",
                parent.file,
                depth + 1
            ),
            Err(why) => tracing::debug!("full image: {why}"),
        }
        let on = on.ok();
        // Whatever happens now, the tracker's notion of "since" moves to
        // this capture: only this image can be the next one's parent.
        self.chain.last = None;
        let depth = on.as_ref().map_or(0, |(_, d)| d + 1);
        let capture = self.capture(sched, strict, on.map(|(p, _)| p))?;
        let incremental = capture.header.parent.is_some();
        let pages: u64 = capture
            .runs
            .iter()
            .map(|r| r.bytes.len() as u64 / 4096)
            .sum();
        // Output made before the capture leaves just before the image
        // becomes visible (or when it could not be written): a crash
        // before that restores the previous image, which makes it again.
        let written = weaves_snapshot::write_image_with(
            &target,
            &capture.header,
            &capture.runs,
            &capture.extra,
            || write_pending_output(&capture.pending_output),
        );
        let bytes = written.map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        tracing::debug!(
            "write: {bytes} bytes, {pages} pages, {} in {:.3} ms in all",
            if incremental { "incremental" } else { "full" },
            millis(t0.elapsed())
        );
        // A long chain is compacted while strings run: the newest image is
        // rewritten whole, keeping its name and id, so the next delta
        // builds on it as it would have; older images become prunable.
        let depth = if depth >= MAX_DELTAS {
            match compact(&target) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::warn!("cannot compact the checkpoint chain: {e}");
                    depth
                }
            }
        } else {
            depth
        };
        if let Some(name) = target.file_name().and_then(|n| n.to_str()) {
            self.chain.last = Some((target_dir, name.to_owned(), capture.header.id, depth));
        }
        self.chain.latest = Some(target.clone());
        if let Some(d) = keep_in {
            prune(&d, configured.keep.max(1));
        }
        Ok(Taken {
            path: Some(target),
            bytes,
            pages,
            pause_us: capture.pause.as_micros() as u64,
            total_ms: millis(t0.elapsed()),
            incremental,
            unrestorable: capture.unrestorable,
        })
    }
}

impl Tapestry {
    /// Takes a full checkpoint into an anonymous in-memory file (kept open
    /// across the re-execution of a rollback, which reads it back).
    fn checkpoint_in_memory(
        &mut self,
        sched: &Scheduler,
        strict: bool,
        t0: Instant,
    ) -> Result<Taken, String> {
        if self.chain.memory.is_none() {
            // Not close-on-exec: a rollback re-executes the process and
            // restores from it.
            // SAFETY: a plain system call with a NUL-terminated name.
            let fd = unsafe { libc::memfd_create(c"weaves-snapshot".as_ptr(), 0) };
            if fd < 0 {
                return Err(format!(
                    "cannot make an in-memory image: {}",
                    std::io::Error::last_os_error()
                ));
            }
            // SAFETY: `fd` was just created and is owned by nothing else.
            self.chain.memory =
                Some(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        self.chain.last = None;
        let capture = self.capture(sched, strict, None)?;
        let file = self.chain.memory.as_ref().expect("made above");
        let bytes =
            weaves_snapshot::write_image_to(file, &capture.header, &capture.runs, &capture.extra)
                .map_err(|e| format!("cannot write the in-memory image: {e}"))?;
        write_pending_output(&capture.pending_output);
        let path = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(file)
        ));
        self.chain.latest = Some(path);
        Ok(Taken {
            path: None,
            bytes,
            pages: capture
                .runs
                .iter()
                .map(|r| r.bytes.len() as u64 / 4096)
                .sum(),
            pause_us: capture.pause.as_micros() as u64,
            total_ms: millis(t0.elapsed()),
            incremental: false,
            unrestorable: capture.unrestorable,
        })
    }

    /// Remembers the image this tapestry was restored from as the one a
    /// rollback goes back to (adopting an in-memory image's descriptor).
    pub fn restored_from(&mut self, image: &Path) {
        if let Some(fd) = image
            .to_str()
            .and_then(|p| p.strip_prefix("/proc/self/fd/"))
            .and_then(|n| n.parse::<i32>().ok())
        {
            // SAFETY: the descriptor of the in-memory image this process
            // inherited across the rollback's exec; nothing else owns it.
            self.chain.memory =
                Some(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        }
        self.chain.latest = Some(image.to_owned());
    }
}
