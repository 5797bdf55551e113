//! `free` and `realloc` of a block another node allocated: each node's
//! heap lives in its own span and only that node's allocator may change
//! it, so the block goes back to its home, which frees it on a thread of
//! its own (never on a thread that answers messages: the heap's lock may
//! be held by a string waiting for a page those threads bring).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, Once};

use crate::node::node;
use crate::wire::{Msg, Op};

type CFree = unsafe extern "C" fn(*mut libc::c_void);

fn runtime_free() -> Option<CFree> {
    let a = weaves_interpose::dsm_hooks::runtime_definition("free")? as usize;
    // SAFETY: `a` is the runtime's `free`, a C `void free(void *)`.
    Some(unsafe { std::mem::transmute::<usize, CFree>(a) })
}

/// The runtime's test for other nodes' blocks (see
/// `weaves_interpose::dsm_hooks::ForeignBlock`).
pub(crate) fn foreign(addr: usize, free: bool) -> bool {
    let Some(n) = node() else { return false };
    let Some(home) = weaves_arena::node_of(addr).map(|h| h as u32) else {
        return false;
    };
    if home == n.me {
        return false;
    }
    if free {
        n.post(
            home,
            Msg::Call {
                slot: 0,
                op: Op::Free { addr: addr as u64 },
            },
        );
    }
    true
}

static QUEUE: (Mutex<VecDeque<u64>>, Condvar) = (Mutex::new(VecDeque::new()), Condvar::new());
static FREER: Once = Once::new();

/// Another node frees `addr`, a block of this node's heap.
pub(crate) fn free_for(addr: u64) {
    FREER.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("dsm-free".into())
            .spawn(|| loop {
                let next = {
                    let mut q = QUEUE.0.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        match q.pop_front() {
                            Some(a) => break a,
                            None => q = QUEUE.1.wait(q).unwrap_or_else(|e| e.into_inner()),
                        }
                    }
                };
                if let Some(f) = runtime_free() {
                    // SAFETY: a block of this node's heap that its owner
                    // (the program, on another node) freed.
                    unsafe { f(next as *mut libc::c_void) };
                }
            });
    });
    QUEUE
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(addr);
    QUEUE.1.notify_one();
}
