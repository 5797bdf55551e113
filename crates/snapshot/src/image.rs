//! The image file: checksummed sections, written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capture::{PageRun, Vma};
use crate::layout::Layout;

const MAGIC: &[u8; 8] = b"WVCKPT01";
const END: &[u8; 8] = b"WVEND!!!";
const HEADER: &[u8; 4] = b"HEAD";
const PAGES: &[u8; 4] = b"PAGE";

/// Everything in an image but the page bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Where the process's code and system libraries were.
    pub layout: Layout,
    /// Accessible arena mappings and their protections.
    pub vmas: Vec<Vma>,
    /// The tapestry's part: its description and state.
    pub tapestry: serde_json::Value,
    /// Microseconds since the Unix epoch when it was taken.
    pub taken_us: u64,
    /// This image's identity (its children name it).
    #[serde(default)]
    pub id: u64,
    /// For an incremental image: the image its pages are a delta on.
    #[serde(default)]
    pub parent: Option<Parent>,
    /// For an incremental image: ranges it holds whole (mappings made
    /// since its parent): nothing of older images shows through there.
    #[serde(default)]
    pub fresh: Vec<(u64, u64)>,
}

/// The image an incremental image builds on: a file in the same
/// directory, and its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub file: String,
    pub id: u64,
}

/// A read, verified image.
#[derive(Clone, Debug)]
pub struct Image {
    pub header: Header,
    pub runs: Vec<PageRun>,
    /// Sections of other kinds (state kept outside the arena, such as Wasm
    /// instances'), each whole in every image: a chain takes the newest's.
    pub extra: Vec<Section>,
}

/// A section of an image besides its header and pages: a four-byte kind
/// and its bytes, whose meaning belongs to whoever wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub kind: [u8; 4],
    pub bytes: Vec<u8>,
}

/// Why an image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read checkpoint image {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint image {path} is damaged: {what}; nothing was restored")]
    Damaged { path: PathBuf, what: String },
    #[error("checkpoint image {path} is incremental, and {what}; nothing was restored")]
    Chain { path: PathBuf, what: String },
}

fn damaged(path: &Path, what: impl Into<String>) -> ImageError {
    ImageError::Damaged {
        path: path.to_owned(),
        what: what.into(),
    }
}

/// Writes an image to `path` atomically: a temporary file beside it is
/// written, synced and renamed over `path`, and the directory synced.
/// `before_commit` runs once the data is on disk, just before the rename
/// makes the image visible (or when writing failed). Returns the bytes
/// written.
pub fn write_image(
    path: &Path,
    header: &Header,
    runs: &[PageRun],
    before_commit: impl FnOnce(),
) -> std::io::Result<u64> {
    write_image_with(path, header, runs, &[], before_commit)
}

/// [`write_image`] with sections of other kinds after the pages.
pub fn write_image_with(
    path: &Path,
    header: &Header,
    runs: &[PageRun],
    extra: &[Section],
    before_commit: impl FnOnce(),
) -> std::io::Result<u64> {
    let mut before_commit = Some(before_commit);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("image"),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let total = write_sections(&mut w, header, runs, extra)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if let Some(f) = before_commit.take() {
            f();
        }
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(total)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    if let Some(f) = before_commit.take() {
        f();
    }
    result
}

/// Writes an image into `file` (an anonymous in-memory file, say) from its
/// start, replacing what it held. Returns the bytes written.
pub fn write_image_to(
    file: &std::fs::File,
    header: &Header,
    runs: &[PageRun],
    extra: &[Section],
) -> std::io::Result<u64> {
    use std::io::Seek;
    file.set_len(0)?;
    let mut handle = file;
    handle.rewind()?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, handle);
    let total = write_sections(&mut w, header, runs, extra)?;
    w.flush()?;
    Ok(total)
}

/// The image's bytes: magic, sections, trailer.
fn write_sections(
    mut w: &mut impl Write,
    header: &Header,
    runs: &[PageRun],
    extra: &[Section],
) -> std::io::Result<u64> {
    w.write_all(MAGIC)?;
    let mut sums = crc32fast::Hasher::new();
    let mut total = MAGIC.len() as u64;
    let head = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    total += section(&mut w, HEADER, &[&head], &mut sums)?;
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(runs.len());
    for r in runs {
        let mut p = Vec::with_capacity(16);
        p.extend_from_slice(&r.addr.to_le_bytes());
        p.extend_from_slice(&(r.bytes.len() as u64).to_le_bytes());
        parts.push(p);
    }
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(runs.len() * 2);
    for (p, r) in parts.iter().zip(runs) {
        pieces.push(p);
        pieces.push(&r.bytes);
    }
    total += section(&mut w, PAGES, &pieces, &mut sums)?;
    for x in extra {
        total += section(&mut w, &x.kind, &[&x.bytes], &mut sums)?;
    }
    w.write_all(END)?;
    w.write_all(&(2 + extra.len() as u32).to_le_bytes())?;
    w.write_all(&sums.finalize().to_le_bytes())?;
    total += 16;
    Ok(total)
}

fn section(
    w: &mut impl Write,
    kind: &[u8; 4],
    pieces: &[&[u8]],
    sums: &mut crc32fast::Hasher,
) -> std::io::Result<u64> {
    let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
    let mut crc = crc32fast::Hasher::new();
    for p in pieces {
        crc.update(p);
    }
    let crc = crc.finalize();
    sums.update(&crc.to_le_bytes());
    w.write_all(kind)?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&crc.to_le_bytes())?;
    for p in pieces {
        w.write_all(p)?;
    }
    Ok(16 + len)
}

/// Reads only the header of the image at `path` (its first section, whose
/// checksum is verified).
pub fn read_header(path: &Path) -> Result<Header, ImageError> {
    use std::io::Read;
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 24];
    f.read_exact(&mut head)
        .map_err(|_| damaged(path, "truncated before its header"))?;
    if &head[..8] != MAGIC || &head[8..12] != HEADER {
        return Err(damaged(
            path,
            "it is not a weaves checkpoint image (bad magic)",
        ));
    }
    let len = u64::from_le_bytes(head[12..20].try_into().expect("8"));
    let crc = u32::from_le_bytes(head[20..24].try_into().expect("4"));
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l < 1 << 30)
        .ok_or_else(|| damaged(path, "the header has a bad length"))?;
    let mut payload = vec![0u8; len];
    f.read_exact(&mut payload)
        .map_err(|_| damaged(path, "truncated inside its header"))?;
    if crc32fast::hash(&payload) != crc {
        return Err(damaged(path, "checksum mismatch in section HEAD at byte 8"));
    }
    serde_json::from_slice(&payload).map_err(|e| damaged(path, format!("unreadable header: {e}")))
}

/// Reads the image at `path` and, if it is incremental, the images it
/// builds on (in its directory), each verified whole; returns one image
/// with the memory they make together.
pub fn read_chain(path: &Path) -> Result<Image, ImageError> {
    read_chain_with(path, &|_| {})
}

/// [`read_chain`], telling `progress` how many bytes it has read so far
/// (for a progress bar).
pub fn read_chain_with(path: &Path, progress: &dyn Fn(u64)) -> Result<Image, ImageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let read_so_far = std::cell::Cell::new(0u64);
    let counted = |n: u64| {
        read_so_far.set(read_so_far.get() + n);
        progress(read_so_far.get());
    };
    let mut chain = vec![read_image_with(path, &counted)?];
    while let Some(parent) = chain.last().and_then(|i| i.header.parent.clone()) {
        let chain_err = |what: String| ImageError::Chain {
            path: path.to_owned(),
            what,
        };
        if chain.len() > 10_000 {
            return Err(chain_err("its chain of parents does not end".into()));
        }
        // A parent is a file of the same directory: a name with a path
        // in it (`../x`, `/dev/zero`) is not one this writer made.
        let plain = Path::new(&parent.file)
            .components()
            .map(|c| matches!(c, std::path::Component::Normal(_)))
            .collect::<Vec<_>>()
            == [true];
        if !plain {
            return Err(chain_err(format!(
                "it names its parent `{}`, which is not a file name in its directory",
                parent.file
            )));
        }
        let file = dir.join(&parent.file);
        if !file.exists() {
            return Err(chain_err(format!(
                "the image it builds on, {}, is missing",
                file.display()
            )));
        }
        let image = read_image_with(&file, &counted).map_err(|e| {
            chain_err(format!(
                "the image it builds on cannot be used: {}",
                e.to_string().trim_end_matches("; nothing was restored")
            ))
        })?;
        if image.header.id != parent.id {
            return Err(chain_err(format!(
                "{} is not the image it builds on (a different checkpoint took its name)",
                file.display()
            )));
        }
        chain.push(image);
    }
    let newest = chain.remove(0);
    Ok(merge_chain(newest, chain))
}

/// The memory a chain of images makes together: `newest`, then `older`
/// (each the image the one before builds on). A newer image's pages
/// replace older ones', and its fresh ranges drop what older ones held
/// there. The result has the newest image's header.
pub fn merge_chain(newest: Image, older: Vec<Image>) -> Image {
    if older.is_empty() {
        return newest;
    }
    let mut chain = older;
    chain.insert(0, newest);
    // Oldest first: each image's pages replace what older ones held there,
    // and its fresh ranges drop what older ones held in them.
    let mut pages: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let newest_header = chain[0].header.clone();
    let newest_extra = chain[0].extra.clone();
    for image in chain.into_iter().rev() {
        for &(addr, len) in &image.header.fresh {
            // A crafted range may run past the end of the address space:
            // it then covers everything from `addr` on.
            let stale: Vec<u64> = match addr.checked_add(len) {
                Some(end) => pages.range(addr..end).map(|(&a, _)| a).collect(),
                None => pages.range(addr..).map(|(&a, _)| a).collect(),
            };
            for a in stale {
                pages.remove(&a);
            }
        }
        for run in image.runs {
            for (i, page) in run.bytes.chunks(PAGE_BYTES).enumerate() {
                // Runs were checked to lie inside their image's mappings,
                // so this cannot overflow; wrapping keeps a crafted one
                // from panicking anyway.
                pages.insert(
                    run.addr.wrapping_add((i * PAGE_BYTES) as u64),
                    page.to_vec(),
                );
            }
        }
    }
    let vmas = &newest_header.vmas;
    let mut runs: Vec<PageRun> = Vec::new();
    for (addr, bytes) in pages {
        if !within(vmas, addr, bytes.len() as u64) {
            continue; // unmapped since
        }
        match runs.last_mut() {
            Some(last) if last.addr.checked_add(last.bytes.len() as u64) == Some(addr) => {
                last.bytes.extend_from_slice(&bytes)
            }
            _ => runs.push(PageRun { addr, bytes }),
        }
    }
    Image {
        header: newest_header,
        runs,
        extra: newest_extra,
    }
}

/// Whether `[addr, addr + len)` lies inside one of `vmas` (no arithmetic
/// here can overflow, whatever a damaged header holds).
fn within(vmas: &[crate::capture::Vma], addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    vmas.iter()
        .any(|v| addr >= v.addr && v.addr.checked_add(v.len).is_some_and(|v_end| end <= v_end))
}

const PAGE_BYTES: usize = 4096;

/// Reads and verifies the image at `path`: every checksum is checked before
/// anything is handed back.
pub fn read_image(path: &Path) -> Result<Image, ImageError> {
    read_image_with(path, &|_| {})
}

/// [`read_image`], telling `progress` of each piece of bytes read.
fn read_image_with(path: &Path, progress: &dyn Fn(u64)) -> Result<Image, ImageError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    // Only a regular file is read: a FIFO would wait for a writer and a
    // device never end (O_NONBLOCK: should the path become a FIFO between
    // the check and the open, the open does not wait).
    let not_regular = || damaged(path, "it is not a regular file");
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let size = meta.len() as usize;
    let mut data = Vec::with_capacity(size);
    loop {
        let before = data.len();
        let got = (&mut file)
            .take(8 << 20)
            .read_to_end(&mut data)
            .map_err(io)?;
        if got == 0 {
            break;
        }
        progress((data.len() - before) as u64);
    }
    decode_image(path, &data)
}

/// The bytes an image file holds for `header` and `runs` (what
/// [`write_image`] writes).
pub fn encode_image(header: &Header, runs: &[PageRun]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_sections(&mut out, header, runs, &[])?;
    Ok(out)
}

/// Verifies and decodes an image's bytes (`path` only names it in errors):
/// every checksum is checked before anything is handed back, and no
/// length field — checksummed or not — can make it read out of bounds,
/// overflow or allocate more than the bytes given.
pub fn decode_image(path: &Path, data: &[u8]) -> Result<Image, ImageError> {
    if data.len() < MAGIC.len() || &data[..8] != MAGIC {
        return Err(damaged(
            path,
            "it is not a weaves checkpoint image (bad magic)",
        ));
    }
    let mut at = 8usize;
    let mut sums = crc32fast::Hasher::new();
    let mut sections: Vec<(&[u8], &[u8])> = Vec::new();
    loop {
        if data.len().saturating_sub(at) < 16 {
            return Err(damaged(path, format!("truncated at byte {at}")));
        }
        if &data[at..at + 8] == END {
            let count = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4"));
            let total = u32::from_le_bytes(data[at + 12..at + 16].try_into().expect("4"));
            if count as usize != sections.len() || total != sums.clone().finalize() {
                return Err(damaged(path, "the trailer does not match its sections"));
            }
            if at + 16 != data.len() {
                return Err(damaged(path, "bytes after the trailer"));
            }
            break;
        }
        let kind = &data[at..at + 4];
        let len = u64::from_le_bytes(data[at + 4..at + 12].try_into().expect("8"));
        let crc = u32::from_le_bytes(data[at + 12..at + 16].try_into().expect("4"));
        let start = at + 16;
        let Some(end) = usize::try_from(len).ok().and_then(|l| start.checked_add(l)) else {
            return Err(damaged(
                path,
                format!("section at byte {at} has a bad length"),
            ));
        };
        if end > data.len() {
            return Err(damaged(
                path,
                format!("truncated inside the section at byte {at}"),
            ));
        }
        let payload = &data[start..end];
        if crc32fast::hash(payload) != crc {
            return Err(damaged(
                path,
                format!(
                    "checksum mismatch in section {} at byte {at}",
                    String::from_utf8_lossy(kind)
                ),
            ));
        }
        sums.update(&crc.to_le_bytes());
        sections.push((kind, payload));
        at = end;
    }
    let find = |k: &[u8; 4]| sections.iter().find(|(kind, _)| kind == k).map(|(_, p)| *p);
    let head = find(HEADER).ok_or_else(|| damaged(path, "no header section"))?;
    let header: Header = serde_json::from_slice(head)
        .map_err(|e| damaged(path, format!("unreadable header: {e}")))?;
    // A restore makes these writable and writes into them: they must be
    // whole pages of this node's arena, and nothing else.
    let (lo, hi) = (
        weaves_arena::ARENA_BASE as u64,
        (weaves_arena::ARENA_BASE + weaves_arena::NODE_SPAN) as u64,
    );
    for v in &header.vmas {
        let aligned = v.addr % PAGE_BYTES as u64 == 0 && v.len % PAGE_BYTES as u64 == 0;
        let inside = v.addr >= lo && v.addr.checked_add(v.len).is_some_and(|end| end <= hi);
        if !aligned || !inside || v.len == 0 {
            return Err(damaged(
                path,
                format!(
                    "mapping at {:#x} (+{:#x}) is not whole pages of the arena",
                    v.addr, v.len
                ),
            ));
        }
    }
    let pages = find(PAGES).ok_or_else(|| damaged(path, "no page section"))?;
    let mut runs = Vec::new();
    let mut p = 0usize;
    while p < pages.len() {
        let rest = &pages[p..];
        if rest.len() < 16 {
            return Err(damaged(path, "a page run is cut short"));
        }
        let addr = u64::from_le_bytes(rest[0..8].try_into().expect("8"));
        let len = u64::from_le_bytes(rest[8..16].try_into().expect("8"));
        // The length is checked against the bytes that are there before it
        // is used for anything (it is checksummed, but a checksum only
        // says the writer meant it).
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|l| rest.get(16..16usize.checked_add(l)?));
        let Some(bytes) = bytes.filter(|_| within(&header.vmas, addr, len)) else {
            return Err(damaged(
                path,
                format!("page run at {addr:#x} lies outside its mappings"),
            ));
        };
        runs.push(PageRun {
            addr,
            bytes: bytes.to_vec(),
        });
        p += 16 + bytes.len();
    }
    let extra = sections
        .iter()
        .filter(|(kind, _)| *kind != HEADER && *kind != PAGES)
        .map(|(kind, bytes)| Section {
            kind: (*kind).try_into().expect("4"),
            bytes: bytes.to_vec(),
        })
        .collect();
    Ok(Image {
        header,
        runs,
        extra,
    })
}
