//! The `%gs` segment base of the calling thread, which strings of PIE beads
//! with local-exec thread-locals use as their thread pointer (see
//! [`crate::tls::enter_local_exec`]).
//!
//! `wrgsbase` costs a few cycles where the CPU and kernel allow user code
//! to use it (`HWCAP2_FSGSBASE`); elsewhere `arch_prctl(ARCH_SET_GS)` does
//! the same in a system call. Either way the value is cached per thread so
//! that resuming strings of the same bead one after another costs nothing.

use std::cell::Cell;
use std::sync::OnceLock;

const HWCAP2_FSGSBASE: u64 = 1 << 1;
const ARCH_SET_GS: libc::c_int = 0x1001;

thread_local! {
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

fn user_fsgsbase() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    // SAFETY: getauxval only reads the auxiliary vector.
    *AVAILABLE.get_or_init(|| unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_FSGSBASE != 0)
}

/// Sets the calling thread's `%gs` base to `base`.
pub(crate) fn set_base(base: u64) {
    if CURRENT.with(Cell::get) == base {
        return;
    }
    if user_fsgsbase() {
        // SAFETY: the kernel lets user code write the GS base
        // (HWCAP2_FSGSBASE); nothing in this process's own code or the C
        // library addresses memory through %gs, so only bead code that was
        // rewritten to use it sees the change.
        unsafe { std::arch::asm!("wrgsbase {}", in(reg) base, options(nostack, preserves_flags)) };
    } else {
        // SAFETY: ARCH_SET_GS takes the new base as its second argument and
        // touches no memory of ours.
        let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, base) };
        if r != 0 {
            return;
        }
    }
    CURRENT.with(|c| c.set(base));
}
