//! Thin wrappers over `mmap`/`mprotect`: the only place in this crate that talks
//! to the kernel about address space.

use std::io;

/// Access rights of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    None,
    Read,
    ReadWrite,
    ReadExec,
}

impl Protection {
    pub(crate) fn bits(self) -> libc::c_int {
        match self {
            Protection::None => libc::PROT_NONE,
            Protection::Read => libc::PROT_READ,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Protection::ReadExec => libc::PROT_READ | libc::PROT_EXEC,
        }
    }
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Reserves `len` bytes at exactly `addr`, inaccessible and without commit
/// charge. Fails rather than replacing anything already mapped there.
pub(crate) fn reserve_fixed(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so this
    // cannot invalidate memory anyone else uses; the result is checked below.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    if p as usize != addr {
        // A kernel older than 4.17 treats NOREPLACE as a hint: give it back.
        // SAFETY: `p` is the mapping of `len` bytes we just created.
        unsafe { libc::munmap(p, len) };
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "address range not available",
        ));
    }
    Ok(())
}

/// Maps fresh zeroed anonymous memory over `[addr, addr+len)`, which must lie
/// inside a range this process reserved (the arena).
///
/// # Safety
/// The range must belong to the caller: any previous contents are discarded.
pub(crate) unsafe fn map_anonymous(addr: usize, len: usize, prot: Protection) -> io::Result<()> {
    // SAFETY: the caller owns the range (contract above); MAP_FIXED replaces
    // only that range.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot.bits(),
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Maps anonymous memory anywhere (outside the arena), for runtime tables.
pub(crate) fn map_table(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing cannot
    // alias anything.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// Gives `[addr, addr+len)`, reserved inaccessible and never touched since
/// (fresh or released: its pages are zero), protection `prot`.
///
/// `mprotect`, not `mmap(MAP_FIXED)`: replacing a mapping flushes every
/// CPU's TLB for this process (an IPI to each CPU running one of our
/// threads), while raising the protection of pages that have no page-table
/// entries flushes nothing.
///
/// # Safety
/// The range must belong to the caller and lie in the arena's reservation.
pub(crate) unsafe fn protect(addr: usize, len: usize, prot: Protection) -> io::Result<()> {
    // SAFETY: the caller owns the range (contract above).
    if unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot.bits()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `MADV_GUARD_INSTALL` (Linux 6.13): page-table guard regions that fault
/// like `PROT_NONE` without splitting the mapping.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Makes `[addr, addr+len)` fault on any access: a lightweight guard region
/// where the kernel has them (no new kernel mapping, no write lock on the
/// address space), `PROT_NONE` otherwise.
///
/// # Safety
/// The range must belong to the caller; nothing may be stored there.
pub(crate) unsafe fn guard(addr: usize, len: usize) -> io::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static LIGHTWEIGHT_MISSING: AtomicBool = AtomicBool::new(false);
    if !LIGHTWEIGHT_MISSING.load(Ordering::Relaxed) {
        // SAFETY: advising our own range; on kernels without the feature the
        // call fails with EINVAL and changes nothing.
        if unsafe { libc::madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL) } == 0 {
            return Ok(());
        }
        LIGHTWEIGHT_MISSING.store(true, Ordering::Relaxed);
    }
    // SAFETY: per the caller's contract.
    unsafe { protect(addr, len, Protection::None) }
}
