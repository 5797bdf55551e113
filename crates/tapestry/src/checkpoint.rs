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

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use weaves_arena::{adopt_heap, existing_heap, Arena, PlacementState};
use weaves_checkpoint::{image::Header, Image, Layout, PageRun};
use weaves_strings::{Entry, ExecCtx, Launch, Mode, Outcome, Scheduler, StringInfo, Task};

use crate::config::Plan;
use crate::error::TapestryError;
use crate::tapestry::Tapestry;

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
    /// What could not be saved (listed at restore).
    pub unrestorable: Vec<String>,
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

/// A file bead code had open.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileState {
    pub fd: i32,
    pub path: PathBuf,
    pub flags: i32,
    pub offset: u64,
    pub size: u64,
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
}

impl Tapestry {
    /// Copies everything a restore needs, with every string at rest for the
    /// copy only.
    pub(crate) fn capture(&self, sched: &Scheduler, strict: bool) -> Result<Capture, String> {
        if self.changed_live {
            return Err(
                "not supported: checkpoint of a tapestry changed while running \
                        (apply, remove or script)"
                    .into(),
            );
        }
        let modules = self.module_identities()?;
        let quiet = sched.quiesce(QUIESCE_WITHIN).map_err(|e| e.to_string())?;
        let paused = Instant::now();
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
        let vmas = weaves_checkpoint::capture_vmas().map_err(|e| e.to_string())?;
        let runs = weaves_checkpoint::present_runs(&vmas).map_err(|e| e.to_string())?;
        let pages = weaves_checkpoint::copy_pages(&runs);
        let arena = Arena::global().map_err(|e| e.to_string())?;
        let placement = placement_of(&arena.placement_state());
        let heaps = self
            .beads
            .iter()
            .filter_map(|b| existing_heap(b.owner).map(|h| (b.owner, h.address() as u64)))
            .collect();
        let mut strings = Vec::new();
        let mut ended = Vec::new();
        for t in &quiet.tasks {
            match t.outcome() {
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
        let pause = paused.elapsed();
        drop(quiet);
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
            unrestorable,
        };
        let header = Header {
            layout: Layout::current(),
            vmas,
            tapestry: serde_json::to_value(&state).map_err(|e| e.to_string())?,
            taken_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
        };
        Ok(Capture {
            header,
            runs: pages,
            pause,
        })
    }

    fn module_identities(&self) -> Result<Vec<ModuleIdentity>, String> {
        self.modules
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
            .collect()
    }

    /// Rebuilds the tapestry an image describes and puts its memory back;
    /// returns it with the launches that resume its strings.
    pub fn restore(image: &Image) -> Result<Restored, TapestryError> {
        let fail = |m: String| TapestryError::Run(m);
        let state: TapestryState = serde_json::from_value(image.header.tapestry.clone())
            .map_err(|e| fail(format!("the image's tapestry state is unreadable: {e}")))?;
        for m in &state.modules {
            let bytes = std::fs::read(&m.path)
                .map_err(|e| fail(format!("module {} of the image: {e}", m.path.display())))?;
            if bytes.len() as u64 != m.size || crc32(&bytes) != m.crc32 {
                return Err(fail(format!(
                    "module {} changed since the checkpoint (size or checksum differs); \
                     restore needs the same files",
                    m.path.display()
                )));
            }
        }
        crate::set_checkpointable();
        let mut plan = Plan::parse(&state.source_path, &state.source)?;
        plan.workers = state.workers;
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
        unsafe { weaves_checkpoint::apply(&image.header.vmas, &image.runs) }
            .map_err(|e| fail(format!("cannot write the image's memory back: {e}")))?;
        for &(owner, addr) in &state.heaps {
            // SAFETY: the heap's bytes were just restored at `addr`.
            unsafe { adopt_heap(owner, addr as usize) };
        }
        link_streams(&state.streams);
        let launches = state
            .strings
            .iter()
            .map(launch_of)
            .collect::<Result<Vec<_>, _>>()?;
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

/// Descriptors the process was started with (the caller's, not bead
/// state).
static INHERITED: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();

/// Notes the descriptors open now as inherited: called before the
/// tapestry is built.
pub fn note_inherited_descriptors() {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let _ = INHERITED.set(fds);
}

/// Regular files open in the process beyond stdin/out/err (bead code's:
/// the runtime keeps none open while strings run), and a description of
/// every other descriptor that is external state (sockets, pipes,
/// devices) — those cannot be restored.
fn open_files() -> (Vec<FileState>, Vec<String>) {
    let mut files = Vec::new();
    let mut other = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return (files, other);
    };
    let inherited = INHERITED.get().cloned().unwrap_or_default();
    let entries: Vec<_> = dir.flatten().collect();
    for entry in entries {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if fd <= 2 || inherited.contains(&fd) {
            continue;
        }
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.starts_with("/proc") {
            continue;
        }
        // SAFETY: fstat on a descriptor of ours into a local.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFREG {
            if target.starts_with("/proc") {
                continue;
            }
            // SAFETY: plain queries on our own descriptor.
            let (flags, offset) = unsafe {
                (
                    libc::fcntl(fd, libc::F_GETFL),
                    libc::lseek(fd, 0, libc::SEEK_CUR),
                )
            };
            files.push(FileState {
                fd,
                path: target,
                flags,
                offset: offset.max(0) as u64,
                size: st.st_size as u64,
            });
        } else if runtime_descriptor(fd, kind, &target) {
            continue;
        } else {
            other.push(format!("fd {fd} ({})", target.display()));
        }
    }
    (files, other)
}

/// The runtime's own descriptors: event polling, eventfds, timers and the
/// monitor's listening socket.
fn runtime_descriptor(fd: i32, kind: u32, target: &Path) -> bool {
    if target.to_string_lossy().starts_with("anon_inode:") {
        return true;
    }
    if kind == libc::S_IFSOCK {
        let mut listening: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: querying an option of our own socket into a local.
        let ok = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                &mut listening as *mut i32 as *mut libc::c_void,
                &mut len,
            )
        } == 0;
        let mut domain: i32 = 0;
        let mut dlen = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: as above.
        let unix = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                &mut domain as *mut i32 as *mut libc::c_void,
                &mut dlen,
            )
        } == 0
            && domain == libc::AF_UNIX;
        return unix && ((ok && listening != 0) || monitor_connection(fd));
    }
    false
}

/// Whether `fd` is a connection to this process's control socket (its
/// local address is the socket `PID.sock` the monitor listens on).
fn monitor_connection(fd: i32) -> bool {
    // SAFETY: reading our own socket's address into a local of the right
    // size.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: as above.
    let ok =
        unsafe { libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) } == 0;
    if !ok {
        return false;
    }
    let path: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&path).ends_with(&format!("/{}.sock", std::process::id()))
}

/// Reopens the image's files at their descriptors and offsets, cut back to
/// their checkpointed sizes.
fn reopen_files(files: &[FileState]) -> Result<(), String> {
    for f in files {
        let path = CString::new(f.path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("file {}: NUL in its path", f.path.display()))?;
        let flags = f.flags & !(libc::O_CREAT | libc::O_TRUNC | libc::O_EXCL);
        // SAFETY: opening a path with flags; checked below.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(format!(
                "cannot reopen {} (fd {} of the image): {}",
                f.path.display(),
                f.fd,
                std::io::Error::last_os_error()
            ));
        }
        let writable = f.flags & libc::O_ACCMODE != libc::O_RDONLY;
        // SAFETY: plain calls on the descriptor just opened, moved to the
        // number bead code knows (the restoring runtime opened nothing of
        // its own below it yet, and stdio is 0-2).
        unsafe {
            if writable && libc::ftruncate(fd, f.size as i64) != 0 {
                return Err(format!(
                    "cannot cut {} back to {} bytes: {}",
                    f.path.display(),
                    f.size,
                    std::io::Error::last_os_error()
                ));
            }
            if fd != f.fd {
                if libc::dup2(fd, f.fd) < 0 {
                    return Err(format!(
                        "cannot put {} at fd {}: {}",
                        f.path.display(),
                        f.fd,
                        std::io::Error::last_os_error()
                    ));
                }
                libc::close(fd);
            }
            libc::lseek(f.fd, f.offset as i64, libc::SEEK_SET);
        }
    }
    Ok(())
}

extern "C" {
    static mut _IO_list_all: *mut libc::c_void;
    fn _IO_link_in(fp: *mut libc::c_void);
}

/// glibc's `FILE._chain` offset on x86-64.
const FILE_CHAIN: usize = 0x68;

/// stdio streams whose `FILE` lives in arena memory (bead code opened
/// them): a restore links them into the C library's list again, so `exit`
/// flushes them.
fn bead_streams() -> Vec<u64> {
    let (lo, hi) = (
        weaves_arena::ARENA_BASE as u64,
        (weaves_arena::ARENA_BASE + weaves_arena::NODE_SPAN) as u64,
    );
    let mut out = Vec::new();
    // SAFETY: walking the C library's stream list while every string is at
    // rest (none opens or closes a stream); each FILE's chain pointer is at
    // FILE_CHAIN.
    unsafe {
        let mut fp = _IO_list_all as u64;
        while fp != 0 {
            if (lo..hi).contains(&fp) {
                out.push(fp);
            }
            fp = *((fp as usize + FILE_CHAIN) as *const u64);
        }
    }
    out
}

fn link_streams(streams: &[u64]) {
    for &fp in streams {
        // SAFETY: a FILE restored into arena memory; glibc's list does not
        // hold it in this process (and `_IO_link_in` skips linked ones).
        unsafe {
            // Clear _IO_LINKED (0x80) so that it is linked in afresh.
            let flags = fp as usize as *mut i32;
            *flags &= !0x80;
            _IO_link_in(fp as usize as *mut libc::c_void);
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn crc32(b: &[u8]) -> u32 {
    weaves_checkpoint::checksum(b)
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

fn next_image_in(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot make checkpoint directory {}: {e}", dir.display()))?;
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
        path: Option<PathBuf>,
        dir: Option<PathBuf>,
        strict: bool,
    ) -> Result<Taken, String> {
        let t0 = Instant::now();
        let configured = self.plan.checkpoint.clone().unwrap_or_default();
        let (target, keep_in) = match (path, dir) {
            (Some(p), _) => (p, None),
            (None, Some(d)) => (next_image_in(&d)?, None),
            (None, None) => match &configured.dir {
                Some(d) => (next_image_in(d)?, Some(d.clone())),
                None => {
                    return Err("no place for the image: give -o PATH or --dir DIR, or the \
                                tapestry a [checkpoint] dir"
                        .into())
                }
            },
        };
        let capture = self.capture(sched, strict)?;
        let pages: u64 = capture
            .runs
            .iter()
            .map(|r| r.bytes.len() as u64 / 4096)
            .sum();
        let bytes = weaves_checkpoint::write_image(&target, &capture.header, &capture.runs)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        if let Some(d) = keep_in {
            if let Ok(all) = images_in(&d) {
                let excess = all.len().saturating_sub(configured.keep.max(1));
                for old in &all[..excess] {
                    let _ = std::fs::remove_file(old);
                }
            }
        }
        let unrestorable = serde_json::from_value::<TapestryState>(capture.header.tapestry)
            .map(|s| s.unrestorable)
            .unwrap_or_default();
        Ok(Taken {
            path: Some(target),
            bytes,
            pages,
            pause_us: capture.pause.as_micros() as u64,
            total_ms: t0.elapsed().as_secs_f64() * 1e3,
            incremental: false,
            unrestorable,
        })
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
