//! Synchronisation through the manager (node 0): mutexes granted first in,
//! first out; condition variables; barriers; `pthread_once`; keys of
//! thread-specific data. Objects are named by their address; the
//! program's bytes of a `pthread_mutex_t` and the like are not used.
//!
//! The interposed calls below send the manager a [`Op`] and park the
//! calling string until it answers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use crate::node::{node, Outbox};
use crate::stats::{count, Counter};
use crate::wire::{Msg, Op};

/// Node 0 manages every synchronisation object.
const MANAGER: u32 = 0;

type Waiter = (u32, u64);

#[derive(Default)]
struct Lock {
    held: bool,
    queue: VecDeque<Waiter>,
}

struct Barrier {
    count: u32,
    arrived: Vec<Waiter>,
}

#[derive(Default)]
struct Once {
    done: bool,
    running: bool,
    waiting: Vec<Waiter>,
}

/// The manager's tables (used on node 0 only).
#[derive(Default)]
pub(crate) struct Manager {
    locks: HashMap<u64, Lock>,
    /// Condition variable → (waiter, the mutex it re-acquires).
    conds: HashMap<u64, VecDeque<(Waiter, u64)>>,
    barriers: HashMap<u64, Barrier>,
    onces: HashMap<u64, Once>,
    /// Keys handed out: their destructors.
    keys: Vec<u64>,
}

fn reply(out: &mut Outbox, (to, slot): Waiter, rc: i32, value: u64) {
    if slot != 0 {
        out.push((to, Msg::Reply { slot, rc, value }));
    }
}

impl Manager {
    pub(crate) fn call(&mut self, from: u32, slot: u64, op: Op, out: &mut Outbox) {
        let who = (from, slot);
        match op {
            Op::Lock { addr } => self.acquire(addr, who, out),
            Op::TryLock { addr } => {
                let l = self.locks.entry(addr).or_default();
                if l.held {
                    reply(out, who, libc::EBUSY, 0);
                } else {
                    l.held = true;
                    reply(out, who, 0, 0);
                }
            }
            Op::Unlock { addr } => {
                self.release(addr, out);
                reply(out, who, 0, 0);
            }
            Op::CondWait { cond, mutex } => {
                self.conds.entry(cond).or_default().push_back((who, mutex));
                self.release(mutex, out);
            }
            Op::CondSignal { cond, all } => {
                let q = self.conds.entry(cond).or_default();
                let n = if all { q.len() } else { q.len().min(1) };
                let woken: Vec<_> = q.drain(..n).collect();
                for (w, mutex) in woken {
                    self.acquire(mutex, w, out);
                }
                reply(out, who, 0, 0);
            }
            Op::BarrierInit { addr, count } => {
                self.barriers.insert(
                    addr,
                    Barrier {
                        count,
                        arrived: Vec::new(),
                    },
                );
                reply(out, who, 0, 0);
            }
            Op::BarrierWait { addr } => match self.barriers.get_mut(&addr) {
                None => reply(out, who, libc::EINVAL, 0),
                Some(b) => {
                    b.arrived.push(who);
                    if b.arrived.len() as u32 >= b.count {
                        let all = std::mem::take(&mut b.arrived);
                        for (i, w) in all.into_iter().enumerate() {
                            let rc = if i == 0 {
                                libc::PTHREAD_BARRIER_SERIAL_THREAD
                            } else {
                                0
                            };
                            reply(out, w, rc, 0);
                        }
                    }
                }
            },
            Op::OnceEnter { addr } => {
                let o = self.onces.entry(addr).or_default();
                if o.done {
                    reply(out, who, 0, 0);
                } else if o.running {
                    o.waiting.push(who);
                } else {
                    o.running = true;
                    reply(out, who, 0, 1);
                }
            }
            Op::OnceDone { addr } => {
                let o = self.onces.entry(addr).or_default();
                o.done = true;
                o.running = false;
                for w in std::mem::take(&mut o.waiting) {
                    reply(out, w, 0, 0);
                }
                reply(out, who, 0, 0);
            }
            Op::KeyCreate { destructor } => {
                let n = self.keys.len() as u32;
                match weaves_interpose::dsm_hooks::runtime_key(n) {
                    Some(key) => {
                        self.keys.push(destructor);
                        reply(out, who, 0, key as u64);
                    }
                    None => reply(out, who, libc::EAGAIN, 0),
                }
            }
            Op::KeyInfo { key } => {
                let known = (0..self.keys.len() as u32)
                    .find(|&n| weaves_interpose::dsm_hooks::runtime_key(n) == Some(key as u32));
                match known {
                    Some(n) => reply(out, who, 0, self.keys[n as usize]),
                    None => reply(out, who, libc::EINVAL, 0),
                }
            }
            Op::Spawn { .. } | Op::Join { .. } | Op::Detach { .. } => {
                reply(out, who, libc::EINVAL, 0)
            }
        }
    }

    fn acquire(&mut self, addr: u64, who: Waiter, out: &mut Outbox) {
        let l = self.locks.entry(addr).or_default();
        if l.held {
            l.queue.push_back(who);
        } else {
            l.held = true;
            reply(out, who, 0, 0);
        }
    }

    fn release(&mut self, addr: u64, out: &mut Outbox) {
        let l = self.locks.entry(addr).or_default();
        match l.queue.pop_front() {
            Some(next) => reply(out, next, 0, 0),
            None => l.held = false,
        }
    }
}

fn manager_call(op: Op) -> (i32, u64) {
    match node() {
        Some(n) => {
            crate::failure::doing(crate::failure::Doing::Sync);
            let r = n.call(MANAGER, op);
            crate::failure::doing(crate::failure::Doing::Running);
            r
        }
        None => (libc::EINVAL, 0),
    }
}

// ---- the interposed calls ----------------------------------------------------

type Ptr = *mut libc::c_void;

unsafe extern "C" fn mutex_lock(m: Ptr) -> i32 {
    count(Counter::LockAcquires, 1);
    manager_call(Op::Lock { addr: m as u64 }).0
}

unsafe extern "C" fn mutex_trylock(m: Ptr) -> i32 {
    let rc = manager_call(Op::TryLock { addr: m as u64 }).0;
    if rc == 0 {
        count(Counter::LockAcquires, 1);
    }
    rc
}

unsafe extern "C" fn mutex_unlock(m: Ptr) -> i32 {
    manager_call(Op::Unlock { addr: m as u64 }).0
}

unsafe extern "C" fn nothing_to_do(_: Ptr, _: Ptr) -> i32 {
    0
}

unsafe extern "C" fn cond_wait(c: Ptr, m: Ptr) -> i32 {
    manager_call(Op::CondWait {
        cond: c as u64,
        mutex: m as u64,
    })
    .0
}

unsafe extern "C" fn cond_signal(c: Ptr) -> i32 {
    manager_call(Op::CondSignal {
        cond: c as u64,
        all: false,
    })
    .0
}

unsafe extern "C" fn cond_broadcast(c: Ptr) -> i32 {
    manager_call(Op::CondSignal {
        cond: c as u64,
        all: true,
    })
    .0
}

unsafe extern "C" fn barrier_init(b: Ptr, _attr: Ptr, count: u32) -> i32 {
    if count == 0 {
        return libc::EINVAL;
    }
    manager_call(Op::BarrierInit {
        addr: b as u64,
        count,
    })
    .0
}

unsafe extern "C" fn barrier_wait(b: Ptr) -> i32 {
    count(Counter::BarrierWaits, 1);
    manager_call(Op::BarrierWait { addr: b as u64 }).0
}

unsafe extern "C" fn once(control: Ptr, init: unsafe extern "C" fn()) -> i32 {
    let addr = control as u64;
    let (rc, run) = manager_call(Op::OnceEnter { addr });
    if rc == 0 && run == 1 {
        // SAFETY: the caller's initialiser, run once in the whole run.
        unsafe { init() };
        return manager_call(Op::OnceDone { addr }).0;
    }
    rc
}

/// Keys this node adopted from the manager.
static KEYS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn adopt(key: u32) -> bool {
    if KEYS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .contains(&key)
    {
        return true;
    }
    let (rc, destructor) = manager_call(Op::KeyInfo { key: key as u64 });
    if rc != 0 || !weaves_interpose::dsm_hooks::adopt_key(key, destructor as usize) {
        return false;
    }
    KEYS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key);
    true
}

unsafe extern "C" fn key_create(key: *mut u32, destructor: usize) -> i32 {
    let (rc, k) = manager_call(Op::KeyCreate {
        destructor: destructor as u64,
    });
    if rc != 0 {
        return rc;
    }
    let k = k as u32;
    if !weaves_interpose::dsm_hooks::adopt_key(k, destructor) {
        return libc::EAGAIN;
    }
    KEYS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(k);
    // SAFETY: C's contract: `key` points to a pthread_key_t.
    unsafe { *key = k };
    0
}

fn runtime_fn(name: &str) -> usize {
    weaves_interpose::dsm_hooks::runtime_definition(name).unwrap_or(0) as usize
}

unsafe extern "C" fn setspecific(key: u32, value: usize) -> i32 {
    if !adopt(key) {
        return libc::EINVAL;
    }
    // SAFETY: the runtime's own pthread_setspecific, same signature.
    let f: unsafe extern "C" fn(u32, usize) -> i32 =
        unsafe { std::mem::transmute(runtime_fn("pthread_setspecific")) };
    // SAFETY: the caller's arguments.
    unsafe { f(key, value) }
}

unsafe extern "C" fn getspecific(key: u32) -> usize {
    if !adopt(key) {
        return 0;
    }
    // SAFETY: the runtime's own pthread_getspecific, same signature.
    let f: unsafe extern "C" fn(u32) -> usize =
        unsafe { std::mem::transmute(runtime_fn("pthread_getspecific")) };
    // SAFETY: the caller's argument.
    unsafe { f(key) }
}

/// A call the DSM runtime does not support yet: one line, and an error.
macro_rules! unsupported {
    ($name:ident, $what:literal) => {
        unsafe extern "C" fn $name() -> i32 {
            crate::failure::unsupported($what);
            libc::ENOSYS
        }
    };
}
unsupported!(cond_timedwait, "pthread_cond_timedwait");
unsupported!(mutex_timedlock, "pthread_mutex_timedlock");
unsupported!(semaphore, "POSIX semaphores (sem_*)");
unsupported!(key_delete, "pthread_key_delete");

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_mutex_lock" | "pthread_rwlock_rdlock" | "pthread_rwlock_wrlock" => {
            mutex_lock as *const () as usize
        }
        "pthread_mutex_trylock" | "pthread_rwlock_tryrdlock" | "pthread_rwlock_trywrlock" => {
            mutex_trylock as *const () as usize
        }
        "pthread_mutex_unlock" | "pthread_rwlock_unlock" => mutex_unlock as *const () as usize,
        "pthread_mutex_init"
        | "pthread_mutex_destroy"
        | "pthread_cond_init"
        | "pthread_cond_destroy"
        | "pthread_barrier_destroy"
        | "pthread_rwlock_init"
        | "pthread_rwlock_destroy" => nothing_to_do as *const () as usize,
        "pthread_cond_wait" => cond_wait as *const () as usize,
        "pthread_cond_signal" => cond_signal as *const () as usize,
        "pthread_cond_broadcast" => cond_broadcast as *const () as usize,
        "pthread_barrier_init" => barrier_init as *const () as usize,
        "pthread_barrier_wait" => barrier_wait as *const () as usize,
        "pthread_once" | "call_once" => once as *const () as usize,
        "pthread_key_create" => key_create as *const () as usize,
        "pthread_setspecific" => setspecific as *const () as usize,
        "pthread_getspecific" => getspecific as *const () as usize,
        "pthread_key_delete" => key_delete as *const () as usize,
        "pthread_cond_timedwait" => cond_timedwait as *const () as usize,
        "pthread_mutex_timedlock" | "pthread_rwlock_timedrdlock" | "pthread_rwlock_timedwrlock" => {
            mutex_timedlock as *const () as usize
        }
        "sem_init" | "sem_destroy" | "sem_wait" | "sem_trywait" | "sem_timedwait" | "sem_post"
        | "sem_getvalue" | "sem_open" => semaphore as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
