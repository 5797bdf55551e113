//! `pthread_cleanup_push`/`pop` and what `pthread_exit` does with them,
//! for strings.
//!
//! In C, glibc's `pthread_cleanup_push` is a macro: it fills a
//! `__pthread_unwind_buf_t` on the caller's stack with `__sigsetjmp` and
//! registers it (`__pthread_register_cancel`); `pthread_cleanup_pop`
//! unregisters it (`__pthread_unregister_cancel`) and may call the handler.
//! To run the handlers, the exiting thread jumps to the newest buffer: the
//! `__sigsetjmp` returns again, the macro calls the handler, then
//! `__pthread_unwind_next`, which jumps to the next older buffer, and so on;
//! after the oldest, the thread ends (and its thread-specific data
//! destructors run). glibc keeps the newest buffer in the thread's
//! descriptor — the worker's, whichever string runs — so here each string
//! keeps its own list, threaded through the buffers as glibc threads it:
//!
//! ```text
//! __pthread_unwind_buf_t (104 bytes)
//! offset 0:  jmp_buf (8 words)      offset 64: mask_was_saved (int)
//! offset 72: prev (the next older registered buffer; glibc's priv.data.prev)
//! ```
//!
//! Outside strings the C library's own functions run. Not supported: the
//! C++ form of the macros (an object whose destructor is the handler) and
//! destructors of other objects on the exiting string's stack — `pthread_exit`
//! here ends the string without unwinding its stack.

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_strings::{current, exit_current_with, RuntimeSection};

/// Offset of `prev` in a `__pthread_unwind_buf_t`.
const PREV: usize = 72;

#[derive(Default, Clone, Copy)]
struct Cleanups {
    /// The newest registered buffer (0: none).
    top: usize,
    /// Set once the string is exiting: the value its joiner gets.
    exiting: Option<u64>,
}

/// Per string id.
static CLEANUPS: Mutex<Option<HashMap<u32, Cleanups>>> = Mutex::new(None);

fn with<R>(id: u32, f: impl FnOnce(&mut Cleanups) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let mut g = CLEANUPS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new).entry(id).or_default())
}

fn forget(id: u32) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = CLEANUPS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&id);
    }
}

extern "C" {
    #[link_name = "__pthread_register_cancel"]
    fn libc_register(buf: *mut u8);
    #[link_name = "__pthread_unregister_cancel"]
    fn libc_unregister(buf: *mut u8);
    #[link_name = "__pthread_unwind_next"]
    fn libc_unwind_next(buf: *mut u8) -> !;
    #[link_name = "longjmp"]
    fn libc_longjmp(env: *mut libc::c_void, value: i32) -> !;
}

fn string_id() -> Option<u32> {
    if weaves_strings::forked::in_forked_child() {
        return None;
    }
    current().map(|c| c.info.id)
}

unsafe extern "C" fn register(buf: *mut u8) {
    let Some(id) = string_id() else {
        // SAFETY: the caller's buffer, for the C library's own list.
        return unsafe { libc_register(buf) };
    };
    with(id, |c| {
        // SAFETY: the caller's __pthread_unwind_buf_t (104 bytes).
        unsafe { buf.add(PREV).cast::<usize>().write_unaligned(c.top) };
        c.top = buf as usize;
    });
}

unsafe extern "C" fn unregister(buf: *mut u8) {
    let Some(id) = string_id() else {
        // SAFETY: as in `register`.
        return unsafe { libc_unregister(buf) };
    };
    // SAFETY: a buffer `register` filled in.
    let prev = unsafe { buf.add(PREV).cast::<usize>().read_unaligned() };
    with(id, |c| c.top = prev);
}

/// After a handler ran: on to the next older one, or end the string.
unsafe extern "C" fn unwind_next(buf: *mut u8) -> ! {
    let Some(id) = string_id() else {
        // SAFETY: as in `register`.
        unsafe { libc_unwind_next(buf) }
    };
    // SAFETY: a buffer `register` filled in.
    let prev = unsafe { buf.add(PREV).cast::<usize>().read_unaligned() };
    let value = with(id, |c| {
        c.top = prev;
        c.exiting.unwrap_or(0)
    });
    // SAFETY: `prev` is null or a registered buffer of this string.
    unsafe { continue_exit(id, prev, value) }
}

/// `pthread_exit` for a string: runs its cleanup handlers, newest first,
/// then ends it with `value`. Returns outside strings.
pub(crate) fn exit(value: u64) {
    let Some(id) = string_id() else { return };
    let top = with(id, |c| {
        c.exiting = Some(value);
        c.top
    });
    // SAFETY: `top` is null or the newest registered buffer of this
    // string, whose frame is still live (handlers are popped before their
    // frame returns).
    unsafe { continue_exit(id, top, value) }
}

/// # Safety
/// `buf` is 0 or a registered cleanup buffer of the running string whose
/// frame is live. Nothing with a destructor may be live in the caller: a
/// jump skips it.
unsafe fn continue_exit(id: u32, buf: usize, value: u64) -> ! {
    if buf != 0 {
        // SAFETY: back into the frame that set the buffer, on this stack:
        // its `__sigsetjmp` returns 1 and the macro calls the handler.
        unsafe { libc_longjmp(buf as *mut libc::c_void, 1) }
    }
    forget(id);
    crate::cancel::forget(id);
    exit_current_with(value as i64);
    unreachable!("an exited string came back");
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "__pthread_register_cancel" | "__pthread_register_cancel_defer" => {
            register as *const () as usize
        }
        "__pthread_unregister_cancel" | "__pthread_unregister_cancel_restore" => {
            unregister as *const () as usize
        }
        "__pthread_unwind_next" => unwind_next as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
