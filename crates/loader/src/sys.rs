//! Mapping module files into the arena.

use std::os::fd::AsRawFd;

/// Maps `len` bytes of `file` at `offset` to exactly `addr`, private.
///
/// # Safety
/// `[addr, addr+len)` must be arena memory owned by the caller; its previous
/// contents are replaced.
pub(crate) unsafe fn map_file(
    file: &std::fs::File,
    addr: usize,
    len: usize,
    prot: i32,
    offset: u64,
) -> std::io::Result<()> {
    // SAFETY: the caller owns the range (contract above). MAP_PRIVATE means
    // writes never reach the file; unwritten pages stay shared with every
    // other mapping of the file through the page cache.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            file.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `PF_*` segment flags to `PROT_*` bits.
pub(crate) fn prot_of(flags: u32) -> i32 {
    let mut p = 0;
    if flags & crate::abi::PF_R != 0 {
        p |= libc::PROT_READ;
    }
    if flags & crate::abi::PF_W != 0 {
        p |= libc::PROT_WRITE;
    }
    if flags & crate::abi::PF_X != 0 {
        p |= libc::PROT_EXEC;
    }
    p
}

/// Changes the protection of `[addr, addr+len)`.
///
/// # Safety
/// The range must be a mapping the caller owns; code or data there must be
/// usable with the new protection.
pub(crate) unsafe fn protect(addr: usize, len: usize, prot: i32) -> std::io::Result<()> {
    // SAFETY: per the caller's contract.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A whole module file mapped read-only for parsing: nothing is read from
/// the file until the parser touches it, so a huge file is refused after
/// its first page, and a valid one costs only the pages its headers point
/// at. Unmapped when dropped.
///
/// A file truncated by someone else while it is mapped would fault (SIGBUS)
/// on the pages cut off; beads map their module files the same way, so the
/// runtime makes the same assumption for them: module files do not shrink
/// while they are in use.
pub(crate) struct MappedFile {
    ptr: *mut libc::c_void,
    len: usize,
}

impl MappedFile {
    /// Maps `len` bytes of `file` (its size when it was checked).
    pub(crate) fn new(file: &std::fs::File, len: u64) -> std::io::Result<MappedFile> {
        let len = usize::try_from(len)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::OutOfMemory, "file too large"))?;
        if len == 0 {
            return Ok(MappedFile {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh read-only private mapping at an address the kernel
        // chooses; it aliases nothing of ours.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MappedFile { ptr, len })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is a live read-only mapping of `len` bytes, unmapped
        // only when `self` is dropped, which the returned borrow prevents.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping made in `new`, no longer borrowed.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}
