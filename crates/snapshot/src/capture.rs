//! Which arena memory a checkpoint holds, copying it out and writing it
//! back.

use std::io::{BufRead, Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};
use weaves_arena::{ARENA_BASE, NODE_SPAN};

/// An accessible mapping inside the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vma {
    pub addr: u64,
    pub len: u64,
    /// `PROT_*` bits.
    pub prot: i32,
}

/// Bytes of memory at `addr`.
#[derive(Clone, Debug)]
pub struct PageRun {
    pub addr: u64,
    pub bytes: Vec<u8>,
}

const PAGE: u64 = 4096;

/// The accessible mappings inside the arena, from `/proc/self/maps`.
pub fn capture_vmas() -> std::io::Result<Vec<Vma>> {
    let maps = std::fs::File::open("/proc/self/maps")?;
    let (lo, hi) = (ARENA_BASE as u64, (ARENA_BASE + NODE_SPAN) as u64);
    let mut out: Vec<Vma> = Vec::new();
    for line in std::io::BufReader::new(maps).lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if b <= lo || a >= hi {
            continue;
        }
        let p = perms.as_bytes();
        let prot = (if p.first() == Some(&b'r') {
            libc::PROT_READ
        } else {
            0
        }) | (if p.get(1) == Some(&b'w') {
            libc::PROT_WRITE
        } else {
            0
        }) | (if p.get(2) == Some(&b'x') {
            libc::PROT_EXEC
        } else {
            0
        });
        if prot == 0 {
            continue;
        }
        // Kept one per kernel mapping (not merged with neighbours): write
        // tracking is per mapping.
        let (a, b) = (a.max(lo), b.min(hi));
        out.push(Vma {
            addr: a,
            len: b - a,
            prot,
        });
    }
    Ok(out)
}

/// Runs of pages in `vmas` that the process holds privately (present or
/// swapped, and not a page of a file mapping left unwritten): what a
/// checkpoint must store. Returns (address, length) pairs.
pub fn present_runs(vmas: &[Vma]) -> std::io::Result<Vec<(u64, u64)>> {
    let mut pagemap = std::fs::File::open("/proc/self/pagemap")?;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut buf = vec![0u8; 8 * 4096];
    for v in vmas {
        let first = v.addr / PAGE;
        let count = v.len / PAGE;
        let mut done = 0u64;
        while done < count {
            let n = (count - done).min(4096);
            pagemap.seek(SeekFrom::Start((first + done) * 8))?;
            let bytes = &mut buf[..(n * 8) as usize];
            pagemap.read_exact(bytes)?;
            for i in 0..n {
                let k = (i * 8) as usize;
                let e = u64::from_le_bytes(bytes[k..k + 8].try_into().expect("8 bytes"));
                let present_or_swapped = e & (3 << 62) != 0;
                let file_page = e & (1 << 61) != 0;
                // Stack guards (lightweight guard regions) read as markers.
                let guard = e & (1 << 58) != 0;
                if present_or_swapped && !file_page && !guard && !is_marker(e) {
                    let addr = (first + done + i) * PAGE;
                    match runs.last_mut() {
                        Some(last) if last.0 + last.1 == addr => last.1 += PAGE,
                        _ => runs.push((addr, PAGE)),
                    }
                }
            }
            done += n;
        }
    }
    Ok(runs)
}

/// Whether a pagemap entry is a page-table marker rather than a page: a
/// swap entry of the last swap type, which the kernel keeps for markers
/// (write-protect markers of untouched pages under write tracking, guard
/// regions). Real swap areas use lower types. (The type is visible only
/// with CAP_SYS_ADMIN; `WriteTracker::new` refuses to track without it.)
pub(crate) fn is_marker(entry: u64) -> bool {
    const SWAPPED: u64 = 1 << 62;
    const SWP_PTE_MARKER: u64 = 0x1f;
    entry & SWAPPED != 0 && entry & 0x1f == SWP_PTE_MARKER
}

/// Whether this process sees page frame numbers and swap entries in
/// `/proc/self/pagemap` (it needs CAP_SYS_ADMIN).
pub(crate) fn pagemap_shows_frames() -> bool {
    let probe = 0u64;
    let addr = std::ptr::addr_of!(probe) as u64;
    let Ok(mut pagemap) = std::fs::File::open("/proc/self/pagemap") else {
        return false;
    };
    let mut e = [0u8; 8];
    if pagemap.seek(SeekFrom::Start(addr / PAGE * 8)).is_err()
        || pagemap.read_exact(&mut e).is_err()
    {
        return false;
    }
    let e = u64::from_le_bytes(e);
    e & (1 << 63) != 0 && e & ((1 << 55) - 1) != 0
}

/// Copies the bytes of `runs` (which must be readable).
pub fn copy_pages(runs: &[(u64, u64)]) -> Vec<PageRun> {
    runs.iter()
        .map(|&(addr, len)| {
            let mut bytes = vec![0u8; len as usize];
            // SAFETY: the run lies in an accessible arena mapping that
            // nothing unmaps while a checkpoint holds the strings at rest.
            unsafe {
                std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), len as usize)
            };
            PageRun { addr, bytes }
        })
        .collect()
}

/// Makes the arena's mappings `vmas` accessible as recorded and writes
/// `runs` into them.
///
/// # Safety
/// The ranges must be arena memory that no running code uses: the process
/// is being restored, or rolled back with every string at rest.
pub unsafe fn apply(vmas: &[Vma], runs: &[PageRun]) -> std::io::Result<()> {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    for v in vmas {
        // SAFETY: arena addresses (checked when the image was read), which
        // the caller owns.
        if unsafe { libc::mprotect(v.addr as *mut _, v.len as usize, v.prot | rw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for r in runs {
        // SAFETY: made writable just above (every run lies in a recorded
        // mapping).
        unsafe {
            std::ptr::copy_nonoverlapping(r.bytes.as_ptr(), r.addr as *mut u8, r.bytes.len())
        };
    }
    for v in vmas.iter().filter(|v| v.prot != v.prot | rw) {
        // SAFETY: as above.
        if unsafe { libc::mprotect(v.addr as *mut _, v.len as usize, v.prot) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
