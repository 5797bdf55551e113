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

/// Reads and verifies the image at `path`: every checksum is checked before
/// anything is handed back.
pub fn read_image(path: &Path) -> Result<Image, ImageError> {
    let data = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_owned(),
        source,
    })?;
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
