//! Synchronisation through the manager (node 0): mutexes granted first in,
//! first out; condition variables; barriers; `pthread_once`; keys of
//! thread-specific data; semaphores and reader-writer locks (`counted`). Objects are named by their address; the
//! program's bytes of a `pthread_mutex_t` and the like are not used.
//!
//! The interposed calls below send the manager a [`Op`] and park the
//! calling string until it answers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use crate::node::{node, Outbox};
use crate::stats::{count, Counter};
use crate::wire::{Msg, Op};

mod counted;

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
    sems: HashMap<u64, counted::Semaphore>,
    rwlocks: HashMap<u64, counted::RwLock>,
    /// Keys handed out: their destructors.
    keys: Vec<u64>,
    /// Write notices (writer, page) not yet seen by every node; entry `i`
    /// of the log is `notices[i - first]`.
    notices: VecDeque<(u32, u64)>,
    first: usize,
    /// Per node: how much of the log it has seen.
    seen: Vec<usize>,
}

impl Manager {
    /// Records a release's notices.
    fn log(&mut self, from: u32, pages: Vec<u64>) {
        self.notices.extend(pages.into_iter().map(|p| (from, p)));
    }

    /// The notices `to` has not seen (others' writes), marking them seen;
    /// drops the log's prefix every node has seen.
    fn unseen(&mut self, to: u32) -> Vec<u64> {
        let nodes = (node().map_or(1, |n| n.nodes) as usize).max(to as usize + 1);
        if self.seen.len() < nodes {
            self.seen.resize(nodes, 0);
        }
        let end = self.first + self.notices.len();
        let from = self.seen[to as usize].max(self.first);
        let mut pages: Vec<u64> = self
            .notices
            .range(from - self.first..)
            .filter(|(w, _)| *w != to)
            .map(|(_, p)| *p)
            .collect();
        pages.sort_unstable();
        pages.dedup();
        self.seen[to as usize] = end;
        let oldest = self.seen.iter().copied().min().unwrap_or(end);
        while self.first < oldest && !self.notices.is_empty() {
            self.notices.pop_front();
            self.first += 1;
        }
        pages
    }

    pub(crate) fn call(&mut self, from: u32, slot: u64, op: Op, out: &mut Outbox) {
        let who = (from, slot);
        Replies { manager: self, out }.dispatch(who, op);
    }
}

/// The manager answering: every answer carries the receiver's unseen
/// write notices (an acquire).
struct Replies<'a> {
    manager: &'a mut Manager,
    out: &'a mut Outbox,
}

impl Replies<'_> {
    fn reply(&mut self, (to, slot): Waiter, rc: i32, value: u64) {
        if slot != 0 {
            let notices = self.manager.unseen(to);
            self.out.push((
                to,
                Msg::Reply {
                    slot,
                    rc,
                    value,
                    notices,
                },
            ));
        }
    }

    fn dispatch(&mut self, who: Waiter, op: Op) {
        let from = who.0;
        match op {
            Op::Lock { addr } => self.acquire(addr, who),
            Op::TryLock { addr } => {
                let l = self.manager.locks.entry(addr).or_default();
                let rc = if l.held { libc::EBUSY } else { 0 };
                l.held = true;
                self.reply(who, rc, 0);
            }
            Op::Unlock {
                addr,
                notices,
                diffs,
            } => self.unlocked(who, notices, diffs, |r| r.release(addr)),
            Op::Publish { notices } => {
                self.manager.log(from, notices);
                self.reply(who, 0, 0);
            }
            Op::Acquire => self.reply(who, 0, 0),
            Op::CondWait {
                cond,
                mutex,
                notices,
            } => {
                self.manager.log(from, notices);
                self.manager
                    .conds
                    .entry(cond)
                    .or_default()
                    .push_back((who, mutex));
                self.release(mutex);
            }
            Op::CondSignal { cond, all } => {
                let q = self.manager.conds.entry(cond).or_default();
                let n = if all { q.len() } else { q.len().min(1) };
                let woken: Vec<_> = q.drain(..n).collect();
                for (w, mutex) in woken {
                    self.acquire(mutex, w);
                }
                self.reply(who, 0, 0);
            }
            Op::BarrierInit { addr, count } => {
                self.manager.barriers.insert(
                    addr,
                    Barrier {
                        count,
                        arrived: Vec::new(),
                    },
                );
                self.reply(who, 0, 0);
            }
            Op::BarrierWait { addr, notices } => {
                self.manager.log(from, notices);
                let Some(b) = self.manager.barriers.get_mut(&addr) else {
                    return self.reply(who, libc::EINVAL, 0);
                };
                b.arrived.push(who);
                if b.arrived.len() as u32 >= b.count {
                    let all = std::mem::take(&mut b.arrived);
                    for (i, w) in all.into_iter().enumerate() {
                        let rc = if i == 0 {
                            libc::PTHREAD_BARRIER_SERIAL_THREAD
                        } else {
                            0
                        };
                        self.reply(w, rc, 0);
                    }
                }
            }
            Op::OnceEnter { addr } => {
                let o = self.manager.onces.entry(addr).or_default();
                if o.done {
                    self.reply(who, 0, 0);
                } else if o.running {
                    o.waiting.push(who);
                } else {
                    o.running = true;
                    self.reply(who, 0, 1);
                }
            }
            Op::OnceDone { addr, notices } => {
                self.manager.log(from, notices);
                let o = self.manager.onces.entry(addr).or_default();
                o.done = true;
                o.running = false;
                let waiting = std::mem::take(&mut o.waiting);
                for w in waiting {
                    self.reply(w, 0, 0);
                }
                self.reply(who, 0, 0);
            }
            Op::KeyCreate { destructor } => {
                let n = self.manager.keys.len() as u32;
                match weaves_interpose::dsm_hooks::runtime_key(n) {
                    Some(key) => {
                        self.manager.keys.push(destructor);
                        self.reply(who, 0, key as u64);
                    }
                    None => self.reply(who, libc::EAGAIN, 0),
                }
            }
            Op::KeyInfo { key } => {
                let known = (0..self.manager.keys.len() as u32)
                    .find(|&n| weaves_interpose::dsm_hooks::runtime_key(n) == Some(key as u32));
                match known {
                    Some(n) => self.reply(who, 0, self.manager.keys[n as usize]),
                    None => self.reply(who, libc::EINVAL, 0),
                }
            }
            Op::SemInit { addr, value } => self.sem_init(who, addr, value),
            Op::SemWait { addr, try_only } => self.sem_wait(who, addr, try_only),
            Op::SemPost { addr, notices } => self.sem_post(who, addr, notices),
            Op::SemValue { addr } => self.sem_value(who, addr),
            Op::RwLock {
                addr,
                write,
                try_only,
            } => self.rw_lock(who, addr, write, try_only),
            Op::RwUnlock {
                addr,
                notices,
                diffs,
            } => self.unlocked(who, notices, diffs, |r| r.rw_unlock(addr)),
            Op::Spawn { .. }
            | Op::Join { .. }
            | Op::Detach { .. }
            | Op::ApplyDiffs { .. }
            | Op::Free { .. } => self.reply(who, libc::EINVAL, 0),
        }
    }

    /// An unlock: the releaser's diffs for node 0 are applied and its
    /// notices logged before the lock passes on (`pass_on`).
    fn unlocked(
        &mut self,
        who: Waiter,
        notices: Vec<u64>,
        diffs: crate::lrc::Carried,
        pass_on: impl FnOnce(&mut Self),
    ) {
        crate::lrc::apply(diffs);
        self.manager.log(who.0, notices);
        pass_on(self);
        self.reply(who, 0, 0);
    }

    fn acquire(&mut self, addr: u64, who: Waiter) {
        let l = self.manager.locks.entry(addr).or_default();
        if l.held {
            l.queue.push_back(who);
        } else {
            l.held = true;
            self.reply(who, 0, 0);
        }
    }

    fn release(&mut self, addr: u64) {
        let l = self.manager.locks.entry(addr).or_default();
        match l.queue.pop_front() {
            Some(next) => self.reply(next, 0, 0),
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
    let addr = m as u64;
    post_release(|notices, diffs| Op::Unlock {
        addr,
        notices,
        diffs,
    });
    0
}

/// Says a release to the manager without waiting: the diffs for node 0
/// travel with it, the others are at their homes already, and what this
/// node says next to the manager arrives after this.
fn post_release(op: impl FnOnce(Vec<u64>, crate::lrc::Carried) -> Op) {
    let (notices, diffs) = crate::lrc::release_carrying(true);
    if let Some(n) = node() {
        n.post(
            MANAGER,
            Msg::Call {
                slot: 0,
                op: op(notices, diffs),
            },
        );
    }
}

fn rw_lock(l: Ptr, write: bool, try_only: bool) -> i32 {
    let rc = manager_call(Op::RwLock {
        addr: l as u64,
        write,
        try_only,
    })
    .0;
    if rc == 0 {
        count(Counter::LockAcquires, 1);
    }
    rc
}

unsafe extern "C" fn rwlock_rdlock(l: Ptr) -> i32 {
    rw_lock(l, false, false)
}

unsafe extern "C" fn rwlock_wrlock(l: Ptr) -> i32 {
    rw_lock(l, true, false)
}

unsafe extern "C" fn rwlock_tryrdlock(l: Ptr) -> i32 {
    rw_lock(l, false, true)
}

unsafe extern "C" fn rwlock_trywrlock(l: Ptr) -> i32 {
    rw_lock(l, true, true)
}

unsafe extern "C" fn rwlock_unlock(l: Ptr) -> i32 {
    let addr = l as u64;
    post_release(|notices, diffs| Op::RwUnlock {
        addr,
        notices,
        diffs,
    });
    0
}

/// A semaphore call's C result: 0, or -1 with `errno` set to `rc`.
fn sem_result(rc: i32) -> i32 {
    if rc == 0 {
        return 0;
    }
    // SAFETY: the calling thread's own `errno`.
    unsafe { *libc::__errno_location() = rc };
    -1
}

unsafe extern "C" fn sem_init(s: Ptr, _pshared: i32, value: u32) -> i32 {
    if value > libc::c_int::MAX as u32 {
        return sem_result(libc::EINVAL);
    }
    sem_result(
        manager_call(Op::SemInit {
            addr: s as u64,
            value,
        })
        .0,
    )
}

unsafe extern "C" fn sem_wait(s: Ptr) -> i32 {
    sem_result(
        manager_call(Op::SemWait {
            addr: s as u64,
            try_only: false,
        })
        .0,
    )
}

unsafe extern "C" fn sem_trywait(s: Ptr) -> i32 {
    sem_result(
        manager_call(Op::SemWait {
            addr: s as u64,
            try_only: true,
        })
        .0,
    )
}

unsafe extern "C" fn sem_post(s: Ptr) -> i32 {
    sem_result(
        manager_call(Op::SemPost {
            addr: s as u64,
            notices: crate::lrc::release(),
        })
        .0,
    )
}

unsafe extern "C" fn sem_getvalue(s: Ptr, value: *mut i32) -> i32 {
    let (rc, v) = manager_call(Op::SemValue { addr: s as u64 });
    if rc == 0 {
        // SAFETY: C's contract: `value` points to an int.
        unsafe { *value = v as i32 };
    }
    sem_result(rc)
}

unsafe extern "C" fn nothing_to_do(_: Ptr, _: Ptr) -> i32 {
    0
}

unsafe extern "C" fn cond_wait(c: Ptr, m: Ptr) -> i32 {
    manager_call(Op::CondWait {
        cond: c as u64,
        mutex: m as u64,
        notices: crate::lrc::release(),
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
    manager_call(Op::BarrierWait {
        addr: b as u64,
        notices: crate::lrc::release(),
    })
    .0
}

unsafe extern "C" fn once(control: Ptr, init: unsafe extern "C" fn()) -> i32 {
    let addr = control as u64;
    let (rc, run) = manager_call(Op::OnceEnter { addr });
    if rc == 0 && run == 1 {
        // SAFETY: the caller's initialiser, run once in the whole run.
        unsafe { init() };
        return manager_call(Op::OnceDone {
            addr,
            notices: crate::lrc::release(),
        })
        .0;
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

unsafe extern "C" fn sem_timedwait() -> i32 {
    crate::failure::unsupported("sem_timedwait");
    sem_result(libc::ENOSYS)
}

/// `sem_open`: `SEM_FAILED` (a null pointer) with `errno` set.
unsafe extern "C" fn named_semaphore() -> Ptr {
    crate::failure::unsupported("named POSIX semaphores (sem_open)");
    sem_result(libc::ENOSYS);
    std::ptr::null_mut()
}
unsupported!(key_delete, "pthread_key_delete");

pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_mutex_lock" => mutex_lock as *const () as usize,
        "pthread_mutex_trylock" => mutex_trylock as *const () as usize,
        "pthread_mutex_unlock" => mutex_unlock as *const () as usize,
        "pthread_rwlock_rdlock" => rwlock_rdlock as *const () as usize,
        "pthread_rwlock_wrlock" => rwlock_wrlock as *const () as usize,
        "pthread_rwlock_tryrdlock" => rwlock_tryrdlock as *const () as usize,
        "pthread_rwlock_trywrlock" => rwlock_trywrlock as *const () as usize,
        "pthread_rwlock_unlock" => rwlock_unlock as *const () as usize,
        "sem_init" => sem_init as *const () as usize,
        "sem_wait" => sem_wait as *const () as usize,
        "sem_trywait" => sem_trywait as *const () as usize,
        "sem_post" => sem_post as *const () as usize,
        "sem_getvalue" => sem_getvalue as *const () as usize,
        "sem_timedwait" => sem_timedwait as *const () as usize,
        "sem_open" => named_semaphore as *const () as usize,
        "pthread_mutex_init"
        | "pthread_mutex_destroy"
        | "pthread_cond_init"
        | "pthread_cond_destroy"
        | "pthread_barrier_destroy"
        | "pthread_rwlock_init"
        | "pthread_rwlock_destroy"
        | "sem_destroy" => nothing_to_do as *const () as usize,
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
        _ => return None,
    };
    Some(f as u64)
}

/// A release outside any object (a thread starting another, or ending):
/// the manager learns the write notices.
pub(crate) fn publish() {
    let notices = crate::lrc::release();
    if !notices.is_empty() {
        manager_call(Op::Publish { notices });
    }
}

/// An acquire outside any object (a thread started by, or joined from,
/// another node).
pub(crate) fn acquire() {
    if crate::lrc::active() {
        manager_call(Op::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(out: &Outbox) -> Vec<(u32, i32, Vec<u64>)> {
        out.iter()
            .filter_map(|(to, m)| match m {
                Msg::Reply { rc, notices, .. } => Some((*to, *rc, notices.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn lock_grants_are_fifo_and_carry_other_nodes_notices_once() {
        let mut m = Manager {
            seen: vec![0; 4],
            ..Default::default()
        };
        let mut out = Outbox::new();
        m.call(1, 10, Op::Lock { addr: 64 }, &mut out);
        m.call(2, 20, Op::Lock { addr: 64 }, &mut out);
        m.call(3, 30, Op::Lock { addr: 64 }, &mut out);
        assert_eq!(answers(&out), [(1, 0, vec![])], "only the first holds it");
        out.clear();
        let unlock = |notices: Vec<u64>| Op::Unlock {
            addr: 64,
            notices,
            diffs: Vec::new(),
        };
        m.call(1, 0, unlock(vec![0x5000, 0x6000]), &mut out);
        assert_eq!(answers(&out), [(2, 0, vec![0x5000, 0x6000])]);
        out.clear();
        m.call(2, 0, unlock(vec![0x6000]), &mut out);
        // Node 3 sees both releases' pages, once each.
        assert_eq!(answers(&out), [(3, 0, vec![0x5000, 0x6000])]);
        out.clear();
        m.call(3, 0, unlock(vec![]), &mut out);
        m.call(1, 11, Op::Lock { addr: 64 }, &mut out);
        // Node 1 wrote 0x5000 itself; 0x6000 is node 2's.
        assert_eq!(answers(&out), [(1, 0, vec![0x6000])]);
    }

    #[test]
    fn barrier_answers_everyone_once_the_last_arrives_one_serially() {
        // Three nodes (a run sizes this from its node count).
        let mut m = Manager {
            seen: vec![0; 3],
            ..Default::default()
        };
        let mut out = Outbox::new();
        m.call(0, 1, Op::BarrierInit { addr: 8, count: 3 }, &mut out);
        out.clear();
        for (node, slot) in [(0, 2), (1, 3)] {
            let op = Op::BarrierWait {
                addr: 8,
                notices: vec![0x1000 * (node as u64 + 1)],
            };
            m.call(node, slot, op, &mut out);
        }
        assert!(answers(&out).is_empty());
        m.call(
            2,
            4,
            Op::BarrierWait {
                addr: 8,
                notices: vec![],
            },
            &mut out,
        );
        let a = answers(&out);
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.iter()
                .filter(|x| x.1 == libc::PTHREAD_BARRIER_SERIAL_THREAD)
                .count(),
            1
        );
        assert_eq!(a[2], (2, 0, vec![0x1000, 0x2000]));
    }
}
