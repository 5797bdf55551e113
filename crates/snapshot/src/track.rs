//! Which pages were written since the last checkpoint: the kernel's
//! write-protect tracking (userfaultfd in asynchronous write-protect mode,
//! read and re-armed with the `PAGEMAP_SCAN` ioctl, Linux 6.7+).
//!
//! How it works: a mapping registered with a userfaultfd for write-protect
//! faults, with `UFFD_FEATURE_WP_ASYNC`, has its pages write-protected by
//! `UFFDIO_WRITEPROTECT`; the first write to a protected page is resolved
//! by the kernel itself (no thread waits, no signal), which clears the
//! protection, and that is what `PAGEMAP_SCAN` reports as *written*.
//! Scanning with `PM_SCAN_WP_MATCHING` protects the pages it reports again,
//! atomically, so each scan returns exactly the pages written since the one
//! before. Writes by system calls (a `read` into a buffer) count like
//! stores, and pages the process dropped (`MADV_DONTNEED`) are reported
//! too: their content changed (to zero).
//!
//! A mapping made since the last scan (a new stack, a heap grown with
//! `mmap`) is not registered: the scan refuses it, and the caller copies
//! it whole; [`WriteTracker::collect`] registers and protects it for next
//! time. Soft-dirty bits would do the same job without registration, but
//! kernels built without them are common.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::Vma;

// From <linux/userfaultfd.h> and <linux/fs.h> (newer than the libc crate).
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_API: u64 = 0xaa;
const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
const PAGE_IS_WPALLOWED: u64 = 1 << 0;
const PAGE_IS_WRITTEN: u64 = 1 << 1;
/// Guard regions (Linux 6.14+) read as written (they carry no
/// write-protect bit) but are not pages: they are excluded.
const PAGE_IS_GUARD: u64 = 1 << 8;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `_IOWR(type, nr, size)` on x86-64.
const fn iowr(ty: u8, nr: u8, size: usize) -> libc::c_ulong {
    ((3u64 << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64) as libc::c_ulong
}

const UFFDIO_API: libc::c_ulong = iowr(0xaa, 0x3f, std::mem::size_of::<UffdioApi>());
const UFFDIO_REGISTER: libc::c_ulong = iowr(0xaa, 0x00, std::mem::size_of::<UffdioRegister>());
const UFFDIO_WRITEPROTECT: libc::c_ulong =
    iowr(0xaa, 0x06, std::mem::size_of::<UffdioWriteprotect>());
const PAGEMAP_SCAN: libc::c_ulong = iowr(b'f', 16, std::mem::size_of::<PmScanArg>());

/// What a mapping holds that a checkpoint must store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Tracked since the last scan: these (address, length) runs were
    /// written.
    Runs(Vec<(u64, u64)>),
    /// Not tracked until now (new since the last scan): all of it may have
    /// changed.
    Untracked,
}

/// Tracks writes to arena mappings between checkpoints.
pub struct WriteTracker {
    wp: WriteProtect,
}

impl WriteTracker {
    /// A tracker, or why this kernel cannot track writes.
    pub fn new() -> std::io::Result<WriteTracker> {
        if !crate::capture::pagemap_shows_frames() {
            // Untouched pages of tracked mappings carry write-protect
            // markers, which look like swapped pages unless the swap type
            // shows.
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "needs CAP_SYS_ADMIN to tell swapped pages from write-protect markers in \
                 /proc/self/pagemap",
            ));
        }
        Ok(WriteTracker {
            wp: WriteProtect::new()?,
        })
    }

    /// For each of `vmas`: the pages written since the last call, or
    /// `Untracked` for a mapping not tracked until now. Afterwards every
    /// one of them is tracked and write-protected: the next call reports
    /// writes from now on.
    ///
    /// Call it only while nothing writes to these mappings (strings at
    /// rest): a write racing the scan could be lost to the next image.
    pub fn collect(&mut self, vmas: &[Vma]) -> std::io::Result<Vec<Written>> {
        vmas.iter()
            .map(
                |v| match self.wp.written(v.addr, v.addr + v.len, Scan::Rearm) {
                    Ok(runs) => Ok(Written::Runs(runs)),
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                        self.wp.register(v.addr, v.len)?;
                        self.wp.protect(v.addr, v.len)?;
                        Ok(Written::Untracked)
                    }
                    Err(e) => Err(e),
                },
            )
            .collect()
    }
}

/// How [`WriteProtect::written`] scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Only registered mappings (EPERM otherwise); the pages reported are
    /// write-protected again, atomically.
    Rearm,
    /// Any range, nothing changed; only pages of registered mappings are
    /// reported (the others carry no protection to lose).
    Peek,
}

/// The kernel's asynchronous write protection of this process's pages: a
/// userfaultfd in `UFFD_FEATURE_WP_ASYNC` mode and `/proc/self/pagemap`
/// to ask which protected pages were written since.
pub struct WriteProtect {
    uffd: OwnedFd,
    pagemap: File,
    /// Whether the kernel knows `PAGE_IS_GUARD` (else it has no guard
    /// regions to exclude).
    guards: AtomicBool,
}

impl WriteProtect {
    /// The handle, or why this kernel cannot protect pages this way
    /// (Linux 6.7+).
    pub fn new() -> std::io::Result<WriteProtect> {
        // SAFETY: a plain system call; the descriptor it returns is ours.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_userfaultfd,
                libc::O_CLOEXEC | libc::O_NONBLOCK | UFFD_USER_MODE_ONLY,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned to us and nothing else owns it.
        let uffd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut api = UffdioApi {
            api: UFFD_API,
            features: UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
            ioctls: 0,
        };
        // SAFETY: the ioctl reads and writes `api`, a live struct of the
        // layout it expects.
        if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API, &mut api) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let pagemap = File::open("/proc/self/pagemap")?;
        Ok(WriteProtect {
            uffd,
            pagemap,
            guards: AtomicBool::new(true),
        })
    }

    /// Registers `[addr, addr+len)` for write protection (its mappings are
    /// split at the ends; registering twice is harmless).
    pub fn register(&self, addr: u64, len: u64) -> std::io::Result<()> {
        let mut reg = UffdioRegister {
            range: UffdioRange { start: addr, len },
            mode: UFFDIO_REGISTER_MODE_WP,
            ioctls: 0,
        };
        // SAFETY: the ioctl reads and writes `reg`; it changes how the
        // kernel tracks the range, not its contents.
        if unsafe { libc::ioctl(self.uffd.as_raw_fd(), UFFDIO_REGISTER, &mut reg) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Write-protects the registered `[addr, addr+len)`: the next write to
    /// each page is noted (and let through) by the kernel.
    pub fn protect(&self, addr: u64, len: u64) -> std::io::Result<()> {
        let mut wp = UffdioWriteprotect {
            range: UffdioRange { start: addr, len },
            mode: UFFDIO_WRITEPROTECT_MODE_WP,
        };
        // SAFETY: the ioctl reads `wp`; in asynchronous mode a protected
        // page is unprotected by the kernel on its first write, so nothing
        // blocks.
        if unsafe { libc::ioctl(self.uffd.as_raw_fd(), UFFDIO_WRITEPROTECT, &mut wp) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The written runs in `[start, end)`, scanned as `how` says.
    pub fn written(&self, start: u64, end: u64, how: Scan) -> std::io::Result<Vec<(u64, u64)>> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut regions = vec![PageRegion::default(); 512];
        let mut at = start;
        while at < end {
            let guards = self.guards.load(Ordering::Relaxed);
            let guard = if guards { PAGE_IS_GUARD } else { 0 };
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: match how {
                    Scan::Rearm => PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                    Scan::Peek => 0,
                },
                start: at,
                end,
                walk_end: 0,
                vec: regions.as_mut_ptr() as u64,
                vec_len: regions.len() as u64,
                max_pages: 0,
                // Written and not a guard region (and, peeking,
                // registered).
                category_inverted: guard,
                category_mask: PAGE_IS_WRITTEN
                    | guard
                    | match how {
                        Scan::Rearm => 0,
                        Scan::Peek => PAGE_IS_WPALLOWED,
                    },
                category_anyof_mask: 0,
                return_mask: PAGE_IS_WRITTEN,
            };
            // SAFETY: the kernel writes at most `vec_len` regions into
            // `regions` (alive and that long) and updates `arg`.
            let n = unsafe { libc::ioctl(self.pagemap.as_raw_fd(), PAGEMAP_SCAN, &mut arg) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINVAL) && guards {
                    self.guards.store(false, Ordering::Relaxed);
                    continue;
                }
                return Err(e);
            }
            for r in &regions[..n as usize] {
                match out.last_mut() {
                    Some(last) if last.0 + last.1 == r.start => last.1 += r.end - r.start,
                    _ => out.push((r.start, r.end - r.start)),
                }
            }
            if arg.walk_end <= at {
                break;
            }
            at = arg.walk_end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    #[test]
    fn reports_the_pages_written_since_the_last_collect() {
        let len = 64 * PAGE;
        // SAFETY: a fresh private mapping, unmapped at the end.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let base = p as u64;
        let vma = [Vma {
            addr: base,
            len,
            prot: libc::PROT_READ | libc::PROT_WRITE,
        }];
        let mut t = WriteTracker::new().expect(
            "this kernel cannot track writes (userfaultfd write-protect, PAGEMAP_SCAN: Linux 6.7+)",
        );
        let write = |page: u64| {
            // SAFETY: inside the mapping made above.
            unsafe { *((base + page * PAGE + 17) as *mut u8) = 1 };
        };
        write(0);
        assert_eq!(t.collect(&vma).unwrap(), vec![Written::Untracked]);
        assert_eq!(t.collect(&vma).unwrap(), vec![Written::Runs(vec![])]);
        write(3);
        write(10);
        write(11);
        assert_eq!(
            t.collect(&vma).unwrap(),
            vec![Written::Runs(vec![
                (base + 3 * PAGE, PAGE),
                (base + 10 * PAGE, 2 * PAGE)
            ])]
        );
        // A read-into-buffer system call counts as a write.
        let fd = std::fs::File::open("/dev/zero").unwrap();
        // SAFETY: 100 bytes inside the mapping.
        let n = unsafe { libc::read(fd.as_raw_fd(), (base + 20 * PAGE) as *mut _, 100) };
        assert_eq!(n, 100);
        assert_eq!(
            t.collect(&vma).unwrap(),
            vec![Written::Runs(vec![(base + 20 * PAGE, PAGE)])]
        );
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(p, len as usize) };
    }
}
