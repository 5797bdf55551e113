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
#[derive(Debug)]
pub struct Image {
    pub header: Header,
    pub runs: Vec<PageRun>,
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
        let total = write_sections(&mut w, header, runs)?;
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
) -> std::io::Result<u64> {
    use std::io::Seek;
    file.set_len(0)?;
    let mut handle = file;
    handle.rewind()?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, handle);
    let total = write_sections(&mut w, header, runs)?;
    w.flush()?;
    Ok(total)
}

/// The image's bytes: magic, sections, trailer.
fn write_sections(
    mut w: &mut impl Write,
    header: &Header,
    runs: &[PageRun],
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
    w.write_all(END)?;
    w.write_all(&2u32.to_le_bytes())?;
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
    if chain.len() == 1 {
        return Ok(chain.pop().expect("one image"));
    }
    // Oldest first: each image's pages replace what older ones held there,
    // and its fresh ranges drop what older ones held in them.
    let mut pages: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let newest_header = chain[0].header.clone();
    for image in chain.into_iter().rev() {
        for &(addr, len) in &image.header.fresh {
            let stale: Vec<u64> = pages.range(addr..addr + len).map(|(&a, _)| a).collect();
            for a in stale {
                pages.remove(&a);
            }
        }
        for run in image.runs {
            for (i, page) in run.bytes.chunks(PAGE_BYTES).enumerate() {
                pages.insert(run.addr + (i * PAGE_BYTES) as u64, page.to_vec());
            }
        }
    }
    let vmas = &newest_header.vmas;
    let mut runs: Vec<PageRun> = Vec::new();
    for (addr, bytes) in pages {
        if !vmas
            .iter()
            .any(|v| addr >= v.addr && addr + bytes.len() as u64 <= v.addr + v.len)
        {
            continue; // unmapped since
        }
        match runs.last_mut() {
            Some(last) if last.addr + last.bytes.len() as u64 == addr => {
                last.bytes.extend_from_slice(&bytes)
            }
            _ => runs.push(PageRun { addr, bytes }),
        }
    }
    Ok(Image {
        header: newest_header,
        runs,
    })
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
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_or(0, |m| m.len()) as usize;
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
        if data.len() < at + 16 {
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
    let pages = find(PAGES).ok_or_else(|| damaged(path, "no page section"))?;
    let mut runs = Vec::new();
    let mut p = 0usize;
    while p < pages.len() {
        if pages.len() < p + 16 {
            return Err(damaged(path, "a page run is cut short"));
        }
        let addr = u64::from_le_bytes(pages[p..p + 8].try_into().expect("8"));
        let len = u64::from_le_bytes(pages[p + 8..p + 16].try_into().expect("8")) as usize;
        let inside = header
            .vmas
            .iter()
            .any(|v| addr >= v.addr && addr + len as u64 <= v.addr + v.len);
        if !inside || pages.len() < p + 16 + len {
            return Err(damaged(
                path,
                format!("page run at {addr:#x} lies outside its mappings"),
            ));
        }
        runs.push(PageRun {
            addr,
            bytes: pages[p + 16..p + 16 + len].to_vec(),
        });
        p += 16 + len;
    }
    Ok(Image { header, runs })
}
