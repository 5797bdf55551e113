//! `pthread_spin_*` for bead code: a string that finds the lock held
//! spins a little, then yields.
//!
//! A program's threads are preempted anywhere in its own code (see
//! `preempt`), so a thread may be switched out while it holds a spin lock.
//! Another thread of the program on the same worker then spun in the C
//! library's `pthread_spin_lock` — code no tick preempts — and the worker
//! never ran the holder again. Here the lock is the object's int (0 free,
//! 1 held, as glibc's generic spin lock), and a waiter that has spun
//! [`SPINS`] times without seeing it free yields (a safe point: the holder
//! gets the worker back). Outside fiber strings the waiter yields its
//! thread.
//!
//! A spin lock bead code uses must be used only through these functions,
//! as the runtime's other locks.

use std::sync::atomic::{AtomicI32, Ordering};

/// Looks at a held lock this many times before yielding.
const SPINS: u32 = 128;

/// # Safety
/// `lock` points at a live `pthread_spinlock_t` (an int, 4-aligned).
unsafe fn word<'a>(lock: *mut i32) -> &'a AtomicI32 {
    // SAFETY: caller contract.
    unsafe { AtomicI32::from_ptr(lock) }
}

unsafe extern "C" fn spin_init(lock: *mut i32, _pshared: i32) -> i32 {
    // SAFETY: the caller passes a pthread_spinlock_t.
    unsafe { word(lock) }.store(0, Ordering::Release);
    0
}

unsafe extern "C" fn spin_destroy(_lock: *mut i32) -> i32 {
    0
}

unsafe extern "C" fn spin_lock(lock: *mut i32) -> i32 {
    // SAFETY: the caller passes a pthread_spinlock_t.
    let w = unsafe { word(lock) };
    loop {
        if w.swap(1, Ordering::Acquire) == 0 {
            return 0;
        }
        let mut spins = 0;
        while w.load(Ordering::Relaxed) != 0 && spins < SPINS {
            std::hint::spin_loop();
            spins += 1;
        }
        if w.load(Ordering::Relaxed) != 0 {
            weaves_strings::blocking::yield_now();
        }
    }
}

unsafe extern "C" fn spin_trylock(lock: *mut i32) -> i32 {
    // SAFETY: the caller passes a pthread_spinlock_t.
    if unsafe { word(lock) }.swap(1, Ordering::Acquire) == 0 {
        0
    } else {
        libc::EBUSY
    }
}

unsafe extern "C" fn spin_unlock(lock: *mut i32) -> i32 {
    // SAFETY: the caller passes a pthread_spinlock_t.
    unsafe { word(lock) }.store(0, Ordering::Release);
    0
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_spin_init" => spin_init as *const () as usize,
        "pthread_spin_destroy" => spin_destroy as *const () as usize,
        "pthread_spin_lock" => spin_lock as *const () as usize,
        "pthread_spin_trylock" => spin_trylock as *const () as usize,
        "pthread_spin_unlock" => spin_unlock as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
