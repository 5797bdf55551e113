//! Threads across nodes. `pthread_create` places the new thread on a node
//! (round-robin or packed) and that node runs it as a string of its own
//! tapestry: same start address, same argument pointer, valid because the
//! address space is one. A thread id carries its node in its top byte
//! (node 0's ids are the plain node-local ones).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use weaves_interpose::dsm_hooks::{create_local, detach_local, join_local, self_local};
use weaves_strings::blocking::{current_task, park};
use weaves_strings::Task;

use crate::node::node;
use crate::stats::{count, Counter};
use crate::wire::Op;
use crate::Placement;

const NODE_SHIFT: u32 = 56;
const LOCAL: u64 = (1 << NODE_SHIFT) - 1;

fn encode(node: u32, local: u64) -> u64 {
    local | (node as u64) << NODE_SHIFT
}

fn decode(id: u64) -> (u32, u64) {
    ((id >> NODE_SHIFT) as u32, id & LOCAL)
}

static CREATED: AtomicU64 = AtomicU64::new(0);

/// The node the next thread goes to.
fn place(nodes: u32, placement: Placement) -> u32 {
    let i = CREATED.fetch_add(1, Ordering::Relaxed) + 1;
    match placement {
        Placement::RoundRobin => (i % nodes as u64) as u32,
        Placement::Packed => {
            let per_node = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
            (i / per_node).min(nodes as u64 - 1) as u32
        }
    }
}

unsafe extern "C" fn create(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
) -> i32 {
    let Some(n) = node() else {
        return libc::EAGAIN;
    };
    let to = place(n.nodes, crate::placement());
    if to == n.me {
        let (start, arg) = wrapped(start, arg);
        let mut local = 0u64;
        // SAFETY: the caller's arguments; `local` is writable.
        let rc = unsafe { create_local(&mut local, attr, start, arg) };
        if rc == 0 {
            count(Counter::Threads, 1);
            // SAFETY: the caller passes a writable pthread_t.
            unsafe { *out = encode(n.me, local) };
        }
        return rc;
    }
    // What the creator wrote reaches the thread (a release here, an
    // acquire where it starts).
    crate::sync::publish();
    let (rc, local) = n.call(
        to,
        Op::Spawn {
            start: start as u64,
            arg: arg as u64,
        },
    );
    if rc == 0 {
        // SAFETY: as above.
        unsafe { *out = encode(to, local) };
    }
    rc
}

unsafe extern "C" fn join(thread: u64, result: *mut u64) -> i32 {
    let Some(n) = node() else {
        return libc::ESRCH;
    };
    let (at, local) = decode(thread);
    if at == n.me {
        // SAFETY: the caller's arguments.
        return unsafe { join_local(local, result) };
    }
    crate::failure::doing(crate::failure::Doing::Join(at));
    let (rc, value) = n.call(at, Op::Join { thread: local });
    crate::failure::doing(crate::failure::Doing::Running);
    if rc == 0 {
        crate::sync::acquire();
    }
    if rc == 0 && !result.is_null() {
        // SAFETY: the caller passes a writable void *.
        unsafe { *result = value };
    }
    rc
}

unsafe extern "C" fn detach(thread: u64) -> i32 {
    let Some(n) = node() else {
        return libc::ESRCH;
    };
    let (at, local) = decode(thread);
    if at == n.me {
        return detach_local(local);
    }
    n.call(at, Op::Detach { thread: local }).0
}

extern "C" fn self_() -> u64 {
    let me = node().map_or(0, |n| n.me);
    encode(me, self_local())
}

/// The start routine and argument a thread of this node runs: under
/// `lrc`, the program's wrapped so that a release follows it (its joiner,
/// maybe on another node, acquires). The wrapper's box is this node's.
fn wrapped(start: usize, arg: usize) -> (usize, usize) {
    if crate::lrc::active() {
        (
            released_at_end as *const () as usize,
            Box::into_raw(Box::new((start, arg))) as usize,
        )
    } else {
        (start, arg)
    }
}

/// Under `lrc`, a thread's start routine: the program's, then a release.
extern "C" fn released_at_end(pair: usize) -> usize {
    // SAFETY: `create` boxed (start, arg) for this thread alone; `start`
    // is the program's `void *(*)(void *)`.
    let (start, arg) = *unsafe { Box::from_raw(pair as *mut (usize, usize)) };
    // SAFETY: as above.
    let start: extern "C" fn(usize) -> usize = unsafe { std::mem::transmute(start) };
    let value = start(arg);
    crate::sync::publish();
    value
}

/// `pthread_exit`: under `lrc`, a release first.
unsafe extern "C" fn exit(value: u64) {
    crate::sync::publish();
    // SAFETY: ending the calling thread as the program asked.
    unsafe { weaves_interpose::dsm_hooks::exit_local(value) }
}

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_exit" => exit as *const () as usize,
        "pthread_create" => create as *const () as usize,
        "pthread_join" => join as *const () as usize,
        "pthread_detach" => detach as *const () as usize,
        "pthread_self" => self_ as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}

// ---- the service string -------------------------------------------------------

struct Spawn {
    from: u32,
    slot: u64,
    start: u64,
    arg: u64,
}

/// Threads other nodes asked this node to start, and the service string
/// that starts them (it runs in the program's weave, so the threads are
/// strings like the ones `pthread_create` makes there).
static SPAWNS: Mutex<VecDeque<Spawn>> = Mutex::new(VecDeque::new());
static SERVICE: Mutex<Option<Arc<Task>>> = Mutex::new(None);

pub(crate) fn spawn_for(from: u32, slot: u64, start: u64, arg: u64) {
    SPAWNS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(Spawn {
            from,
            slot,
            start,
            arg,
        });
    if let Some(t) = SERVICE.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        t.wake();
    }
}

/// Joins a thread of this node for node `from` (on a helper thread: the
/// engine never waits).
pub(crate) fn join_for(from: u32, slot: u64, thread: u64) {
    std::thread::spawn(move || {
        let mut value = 0u64;
        // SAFETY: `value` is writable; joining outside strings waits on the
        // task.
        let rc = unsafe { join_local(thread, &mut value) };
        if let Some(n) = node() {
            n.post(from, crate::node::reply(slot, rc, value));
        }
    });
}

/// The entry of a node's service string (nodes other than 0 run it
/// instead of `main`): starts the threads other nodes ask for, until the
/// run ends.
pub(crate) extern "C" fn service_main(
    _argc: i32,
    _argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) -> i32 {
    *SERVICE.lock().unwrap_or_else(|e| e.into_inner()) = current_task();
    loop {
        let next = SPAWNS.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        match next {
            Some(s) => {
                // What the creator published reaches this node first.
                crate::sync::acquire();
                let mut local = 0u64;
                let (start, arg) = wrapped(s.start as usize, s.arg as usize);
                // SAFETY: `start` is the address another node's program
                // passed to pthread_create: the same code here.
                let rc = unsafe { create_local(&mut local, std::ptr::null(), start, arg) };
                if rc == 0 {
                    count(Counter::Threads, 1);
                }
                if let Some(n) = node() {
                    n.post(s.from, crate::node::reply(s.slot, rc, local));
                }
            }
            None => park(),
        }
    }
}
