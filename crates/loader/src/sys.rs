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
