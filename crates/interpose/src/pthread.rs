//! POSIX threads for bead code: threads are strings, locks park fibers.
//!
//! * `pthread_create` starts a string in the caller's weave (same home bead,
//!   same environment and arguments) running `start(arg)`; `pthread_join`
//!   parks until it ends and hands back its result; `pthread_exit` ends it;
//!   `pthread_self` names the running string.
//! * Mutexes, condition variables and barriers park the calling string
//!   instead of blocking its worker thread. Mutex state lives in the
//!   `pthread_mutex_t` itself, in glibc's own field positions, so
//!   `PTHREAD_MUTEX_INITIALIZER` and the recursive initialiser work:
//!
//!   ```text
//!   offset 0: lock word  (0 free, 1 held, 2 held and contended)
//!   offset 4: recursion count      offset 8: owner (string id)
//!   offset 16: kind (0 normal, 1 recursive, 2 error-checking, 3 adaptive)
//!   ```
//!
//!   Who waits on what is kept in a table keyed by the object's address
//!   (sharded to keep unrelated objects from contending).
//!
//! Outside strings (bead initialisers, host threads) the same calls work by
//! polling with short sleeps, and so they do in the child of a `fork` made
//! by bead code (one thread, no scheduler; see `weaves_strings::forked`),
//! where `pthread_create` fails with `EAGAIN` and `pthread_exit` ends the
//! child process with status 0.
//!
//! Process-shared objects (`PTHREAD_PROCESS_SHARED` mutexes, condition
//! variables and read-write locks, `sem_init` with `pshared`, in
//! `MAP_SHARED` memory across a
//! `fork`) keep their state in the object as the others do, so both
//! processes see it; but a wait list belongs to one process, and the other
//! process's unlock or post cannot wake it. A string waiting on such an
//! object also looks again every [`SHARED_POLL`] (the mark: glibc's
//! process-shared bit, 128, in a mutex's kind; [`SHARED_MARK`] in a
//! condition variable's last word). Process-shared barriers keep their
//! whole state in the object (`shared_barrier`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use weaves_strings::blocking::{current_task, park, park_until};
use weaves_strings::{current, Entry, ExecCtx, Launch, RuntimeSection, StringInfo, Task};

const SHARDS: usize = 64;

type Waiters = HashMap<usize, VecDeque<Arc<Task>>>;

static WAITS: [Mutex<Option<Waiters>>; SHARDS] = [const { Mutex::new(None) }; SHARDS];

fn shard(addr: usize) -> &'static Mutex<Option<Waiters>> {
    &WAITS[(addr >> 4) % SHARDS]
}

/// Adds the current task to the waiters of `addr` if `still_blocked()`
/// holds (checked under the shard lock, which wakers also take).
pub(crate) fn wait_on(addr: usize, task: &Arc<Task>, still_blocked: impl FnOnce() -> bool) -> bool {
    if weaves_strings::forked::in_forked_child() {
        // No other string to wake us, and the lists' locks may be lost
        // (see `wake`): the caller looks again.
        return false;
    }
    let _rt = RuntimeSection::enter();
    let mut g = shard(addr).lock().unwrap_or_else(|e| e.into_inner());
    if !still_blocked() {
        return false;
    }
    g.get_or_insert_with(HashMap::new)
        .entry(addr)
        .or_default()
        .push_back(task.clone());
    true
}

/// Wakes up to `n` waiters of `addr`; returns how many.
pub(crate) fn wake(addr: usize, n: usize) -> usize {
    if weaves_strings::forked::in_forked_child() {
        // The child of a fork holds the calling string alone: nobody waits,
        // and the wait lists' locks may have been held by another thread
        // of the parent when it forked (taking one would never return).
        return 0;
    }
    let woken: Vec<Arc<Task>> = {
        let _rt = RuntimeSection::enter();
        let mut g = shard(addr).lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = g.as_mut() else { return 0 };
        let Some(q) = map.get_mut(&addr) else {
            return 0;
        };
        let k = n.min(q.len());
        let w = q.drain(..k).collect();
        if q.is_empty() {
            map.remove(&addr);
        }
        w
    };
    for t in &woken {
        t.wake();
    }
    woken.len()
}

/// Removes `task` from the waiters of `addr`; false if it was not there
/// (someone woke it).
pub(crate) fn forget(addr: usize, task: &Arc<Task>) -> bool {
    let _rt = RuntimeSection::enter();
    let mut g = shard(addr).lock().unwrap_or_else(|e| e.into_inner());
    let Some(map) = g.as_mut() else { return false };
    let Some(q) = map.get_mut(&addr) else {
        return false;
    };
    let before = q.len();
    q.retain(|t| !Arc::ptr_eq(t, task));
    let removed = q.len() != before;
    if q.is_empty() {
        map.remove(&addr);
    }
    removed
}

fn string_id() -> i32 {
    current().map_or(-1, |c| c.info.id as i32)
}

/// How often a string waiting on a process-shared object looks again (the
/// other process cannot wake it).
pub(crate) const SHARED_POLL: Duration = Duration::from_micros(200);

/// Parks the calling string until woken, or until `deadline`; for a
/// process-shared object at most [`SHARED_POLL`]. Returns whether the
/// deadline passed.
pub(crate) fn park_for(deadline: Option<Instant>, shared: bool) -> bool {
    if !shared {
        return match deadline {
            None => {
                park();
                false
            }
            Some(d) => park_until(d),
        };
    }
    let poll = Instant::now() + SHARED_POLL;
    match deadline {
        Some(d) if d <= poll => park_until(d),
        _ => {
            park_until(poll);
            false
        }
    }
}

// ---- mutexes ---------------------------------------------------------------

struct MutexView {
    addr: usize,
}

impl MutexView {
    fn word(&self) -> &AtomicU32 {
        // SAFETY: a pthread_mutex_t is 40 bytes, 8-aligned; offset 0 is a
        // 4-byte lock word (see the layout in the module docs).
        unsafe { &*(self.addr as *const AtomicU32) }
    }
    fn count(&self) -> &AtomicU32 {
        // SAFETY: offset 4, the recursion count.
        unsafe { &*((self.addr + 4) as *const AtomicU32) }
    }
    fn owner(&self) -> &AtomicI32 {
        // SAFETY: offset 8, the owner.
        unsafe { &*((self.addr + 8) as *const AtomicI32) }
    }
    fn kind(&self) -> i32 {
        self.kind_word() & 3
    }
    fn kind_word(&self) -> i32 {
        // SAFETY: offset 16, the kind set by the initialiser or init.
        unsafe { ((self.addr + 16) as *const i32).read_volatile() }
    }
    /// Initialised `PTHREAD_PROCESS_SHARED` (glibc's bit in the kind).
    fn shared(&self) -> bool {
        self.kind_word() & MUTEX_PSHARED != 0
    }
    fn owner_pid(&self) -> &AtomicI32 {
        // SAFETY: offset 12 (glibc's `__nusers`, unused here): the owner's
        // process, for a process-shared mutex, where a forked child's
        // string has its parent's id.
        unsafe { &*((self.addr + 12) as *const AtomicI32) }
    }
    /// Whether the caller (string `me`) holds it.
    fn held_by(&self, me: i32) -> bool {
        self.owner().load(Ordering::Relaxed) == me
            && (!self.shared()
                || self.owner_pid().load(Ordering::Relaxed) == std::process::id() as i32)
    }
    fn take(&self, me: i32) {
        self.owner().store(me, Ordering::Relaxed);
        if self.shared() {
            self.owner_pid()
                .store(std::process::id() as i32, Ordering::Relaxed);
        }
        self.count().store(1, Ordering::Relaxed);
    }
}

/// glibc's `PTHREAD_MUTEX_PSHARED_BIT`.
const MUTEX_PSHARED: i32 = 128;
/// Marks a condition variable initialised `PTHREAD_PROCESS_SHARED`, in its
/// last word (offset 44), which nothing else here uses.
const SHARED_MARK: u32 = 0x5053_4844;

fn lock_until(m: usize, deadline: Option<Instant>) -> i32 {
    let v = MutexView { addr: m };
    let me = string_id();
    let kind = v.kind();
    if kind != 0 && v.word().load(Ordering::Acquire) != 0 && v.held_by(me) {
        if kind == 1 {
            v.count().fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        if kind == 2 {
            return libc::EDEADLK;
        }
    }
    let mut want = 1;
    // A waiter that stops waiting (it got the lock, or timed out) removes
    // its entry: a stale one could take a wake meant for a real waiter.
    let mut registered: Option<Arc<Task>> = None;
    let done = |registered: &Option<Arc<Task>>| {
        if let Some(t) = registered {
            forget(m, t);
        }
    };
    loop {
        if v.word()
            .compare_exchange(0, want, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            v.take(me);
            done(&registered);
            return 0;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            done(&registered);
            return libc::ETIMEDOUT;
        }
        // Having waited once, take the lock as contended: others may wait.
        want = 2;
        match current_task() {
            Some(task) => {
                // Never queued twice.
                forget(m, &task);
                let queued = wait_on(m, &task, || {
                    // Mark it contended so the holder wakes someone; if it
                    // became free meanwhile, try again instead of waiting.
                    v.word().swap(2, Ordering::AcqRel) != 0
                });
                if !queued {
                    // We swapped 0 -> 2: we hold it now (contended).
                    v.take(me);
                    return 0;
                }
                registered = Some(task);
                park_for(deadline, v.shared());
            }
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

fn unlock(m: usize) -> i32 {
    let v = MutexView { addr: m };
    let kind = v.kind();
    if kind != 0 && !v.held_by(string_id()) {
        return libc::EPERM;
    }
    if kind == 1 && v.count().fetch_sub(1, Ordering::Relaxed) > 1 {
        return 0;
    }
    v.owner().store(0, Ordering::Relaxed);
    v.count().store(0, Ordering::Relaxed);
    if v.word().swap(0, Ordering::AcqRel) == 2 {
        wake(m, 1);
    }
    0
}

pub(crate) unsafe extern "C" fn mutex_lock(m: *mut libc::c_void) -> i32 {
    lock_until(m as usize, None)
}

pub(crate) unsafe extern "C" fn mutex_trylock(m: *mut libc::c_void) -> i32 {
    let v = MutexView { addr: m as usize };
    let me = string_id();
    if v.word()
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        v.take(me);
        return 0;
    }
    if v.kind() == 1 && v.held_by(me) {
        v.count().fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    libc::EBUSY
}

pub(crate) unsafe extern "C" fn mutex_timedlock(
    m: *mut libc::c_void,
    abstime: *const libc::timespec,
) -> i32 {
    match realtime_deadline(abstime) {
        Some(d) => lock_until(m as usize, Some(d)),
        None => libc::EINVAL,
    }
}

pub(crate) unsafe extern "C" fn mutex_unlock(m: *mut libc::c_void) -> i32 {
    // Entered from bead code: after releasing, a safe point.
    weaves_strings::blocking::preempt_point_after(|| unlock(m as usize))
}

pub(crate) unsafe extern "C" fn mutex_init(
    m: *mut libc::c_void,
    attr: *const libc::pthread_mutexattr_t,
) -> i32 {
    let mut kind = 0;
    let mut pshared = libc::PTHREAD_PROCESS_PRIVATE;
    if !attr.is_null() {
        extern "C" {
            fn pthread_mutexattr_gettype(
                attr: *const libc::pthread_mutexattr_t,
                kind: *mut i32,
            ) -> i32;
        }
        // SAFETY: reading the kind and sharing from a valid attribute
        // object with libc.
        unsafe {
            pthread_mutexattr_gettype(attr, &mut kind);
            libc::pthread_mutexattr_getpshared(attr, &mut pshared);
        }
    }
    let shared = if pshared == libc::PTHREAD_PROCESS_SHARED {
        MUTEX_PSHARED
    } else {
        0
    };
    // SAFETY: the caller passes a pthread_mutex_t (40 bytes).
    unsafe {
        std::ptr::write_bytes(m.cast::<u8>(), 0, 40);
        ((m as usize + 16) as *mut i32).write((kind & 3) | shared);
    }
    0
}

pub(crate) unsafe extern "C" fn mutex_destroy(m: *mut libc::c_void) -> i32 {
    let v = MutexView { addr: m as usize };
    if v.word().load(Ordering::Acquire) != 0 {
        return libc::EBUSY;
    }
    0
}

// ---- condition variables ---------------------------------------------------

/// Converts a CLOCK_REALTIME absolute time to an Instant.
pub(crate) fn realtime_deadline(abstime: *const libc::timespec) -> Option<Instant> {
    if abstime.is_null() {
        return None;
    }
    // SAFETY: C passes a valid timespec.
    let t = unsafe { *abstime };
    if t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 || t.tv_sec < 0 {
        return None;
    }
    let at = SystemTime::UNIX_EPOCH + Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(Instant::now() + left)
}

fn cond_wait_until(c: usize, m: usize, deadline: Option<Instant>) -> i32 {
    let Some(task) = current_task() else {
        // Not a string: release the mutex briefly (a spurious wakeup).
        unlock(m);
        std::thread::sleep(Duration::from_micros(100));
        lock_until(m, None);
        return 0;
    };
    wait_on(c, &task, || true);
    unlock(m);
    let timed_out = match deadline {
        None => {
            park_for(None, cond_shared(c));
            // A spurious return (allowed for condition variables) must not
            // leave a stale entry behind.
            forget(c, &task);
            false
        }
        Some(d) => {
            park_for(Some(d), cond_shared(c));
            // Still a waiter: nobody signalled us.
            forget(c, &task) && Instant::now() >= d
        }
    };
    lock_until(m, None);
    if timed_out {
        libc::ETIMEDOUT
    } else {
        0
    }
}

/// Condition waits are cancellation points: a string cancelled while it
/// waits ends once it holds the mutex again (its cleanup handlers usually
/// release it), as natively.
pub(crate) unsafe extern "C" fn cond_wait(c: *mut libc::c_void, m: *mut libc::c_void) -> i32 {
    crate::cancel::point();
    let r = cond_wait_until(c as usize, m as usize, None);
    crate::cancel::point();
    r
}

pub(crate) unsafe extern "C" fn cond_timedwait(
    c: *mut libc::c_void,
    m: *mut libc::c_void,
    abstime: *const libc::timespec,
) -> i32 {
    crate::cancel::point();
    let r = match realtime_deadline(abstime) {
        Some(d) => cond_wait_until(c as usize, m as usize, Some(d)),
        None => libc::EINVAL,
    };
    crate::cancel::point();
    r
}

pub(crate) unsafe extern "C" fn cond_signal(c: *mut libc::c_void) -> i32 {
    wake(c as usize, 1);
    0
}

pub(crate) unsafe extern "C" fn cond_broadcast(c: *mut libc::c_void) -> i32 {
    wake(c as usize, usize::MAX);
    0
}

/// Whether the condition variable at `c` was initialised process-shared:
/// its waiters also wake every [`SHARED_POLL`] (a spurious wakeup, which
/// condition variables allow), since the other process cannot wake them.
fn cond_shared(c: usize) -> bool {
    // SAFETY: a pthread_cond_t is 48 bytes, 8-aligned: offset 44 is a
    // 4-aligned u32 inside it.
    unsafe { ((c + 44) as *const u32).read_volatile() == SHARED_MARK }
}

pub(crate) unsafe extern "C" fn cond_init(c: *mut libc::c_void, attr: *const libc::c_void) -> i32 {
    let mut pshared = libc::PTHREAD_PROCESS_PRIVATE;
    if !attr.is_null() {
        // SAFETY: reading the sharing of a valid attribute object with libc.
        unsafe { libc::pthread_condattr_getpshared(attr.cast(), &mut pshared) };
    }
    // SAFETY: the caller passes a pthread_cond_t (48 bytes).
    unsafe {
        std::ptr::write_bytes(c.cast::<u8>(), 0, 48);
        if pshared == libc::PTHREAD_PROCESS_SHARED {
            ((c as usize + 44) as *mut u32).write(SHARED_MARK);
        }
    }
    0
}

pub(crate) unsafe extern "C" fn cond_destroy(c: *mut libc::c_void) -> i32 {
    wake(c as usize, usize::MAX);
    0
}

// ---- barriers --------------------------------------------------------------

struct Barrier {
    count: u32,
    arrived: u32,
    generation: u64,
}

static BARRIERS: Mutex<Option<HashMap<usize, Barrier>>> = Mutex::new(None);

pub(crate) unsafe extern "C" fn barrier_init(
    b: *mut libc::c_void,
    attr: *const libc::c_void,
    count: u32,
) -> i32 {
    if count == 0 {
        return libc::EINVAL;
    }
    let shared = crate::shared_barrier::wants_shared(attr);
    crate::shared_barrier::init(b as usize, count, shared);
    if shared {
        return 0;
    }
    let _rt = RuntimeSection::enter();
    let mut g = BARRIERS.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new).insert(
        b as usize,
        Barrier {
            count,
            arrived: 0,
            generation: 0,
        },
    );
    0
}

pub(crate) unsafe extern "C" fn barrier_destroy(b: *mut libc::c_void) -> i32 {
    if crate::shared_barrier::is_shared(b as usize) {
        // Its state is in the object: nothing of it is kept here.
        return 0;
    }
    let _rt = RuntimeSection::enter();
    if let Some(m) = BARRIERS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&(b as usize));
    }
    0
}

pub(crate) unsafe extern "C" fn barrier_wait(b: *mut libc::c_void) -> i32 {
    let addr = b as usize;
    if crate::shared_barrier::is_shared(addr) {
        return crate::shared_barrier::wait(addr);
    }
    let generation = {
        let _rt = RuntimeSection::enter();
        let mut g = BARRIERS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bar) = g.as_mut().and_then(|m| m.get_mut(&addr)) else {
            return libc::EINVAL;
        };
        bar.arrived += 1;
        if bar.arrived == bar.count {
            bar.arrived = 0;
            bar.generation += 1;
            drop(g);
            wake(addr, usize::MAX);
            return libc::PTHREAD_BARRIER_SERIAL_THREAD;
        }
        bar.generation
    };
    let passed = || {
        let _rt = RuntimeSection::enter();
        let g = BARRIERS.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref()
            .and_then(|m| m.get(&addr))
            .is_none_or(|bar| bar.generation != generation)
    };
    loop {
        match current_task() {
            Some(task) => {
                // Registered under the shard lock, re-checking the generation
                // there would need the barrier lock too: check after
                // registering instead (a wake that raced is then consumed by
                // the check, at worst leaving a stale entry that a later wake
                // of this barrier clears).
                forget(addr, &task);
                wait_on(addr, &task, || true);
                if passed() {
                    forget(addr, &task);
                    return 0;
                }
                park();
                if passed() {
                    forget(addr, &task);
                    return 0;
                }
            }
            None => {
                if passed() {
                    return 0;
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}

// ---- threads ---------------------------------------------------------------

static THREADS: Mutex<Option<HashMap<u64, Arc<Task>>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 20);

fn task_id(t: &Arc<Task>) -> u64 {
    Arc::as_ptr(t) as u64
}

pub(crate) unsafe extern "C" fn create(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
) -> i32 {
    // SAFETY: the caller's own arguments.
    unsafe { create_in(out, attr, start, arg, None, true) }
}

/// `pthread_create` making a string driven by `mode` (the creator's mode
/// when `None`). A thread that is not `joinable` is not kept for
/// `pthread_join`, `pthread_detach` or `pthread_kill` to find by its id
/// (libgomp's: it names its threads by ids it computes from its own
/// thread-locals' addresses, which name no string), so nothing holds it
/// once it ends.
///
/// # Safety
/// As `pthread_create`: `out` writable, `attr` null or valid, `start` a
/// `void *(*)(void *)`.
pub(crate) unsafe fn create_in(
    out: *mut u64,
    attr: *const libc::pthread_attr_t,
    start: usize,
    arg: usize,
    mode: Option<weaves_strings::Mode>,
    joinable: bool,
) -> i32 {
    let Some(parent) = current() else {
        return libc::EAGAIN;
    };
    let Some(sched) = current_task().and_then(|t| t.scheduler()) else {
        return libc::EAGAIN;
    };
    // SAFETY: the caller's attribute object (null or valid).
    let policy = match unsafe { crate::schedparam::for_new_thread(attr) } {
        Ok(s) => s,
        Err(e) => return e,
    };
    let _rt = RuntimeSection::enter();
    let mut stack = weaves_strings::DEFAULT_STACK;
    if !attr.is_null() {
        let mut size = 0usize;
        // SAFETY: reading the stack size from a valid attribute object.
        if unsafe { libc::pthread_attr_getstacksize(attr, &mut size) } == 0 && size > 0 {
            stack = size;
        }
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let info = StringInfo {
        id: id as u32,
        name: format!("{}/thread{}", parent.info.name, id - (1 << 20) + 1),
        weave: parent.info.weave.clone(),
        home: parent.info.home,
    };
    let env = parent.environ_block().map(|(env, _)| env);
    let mut ctx = ExecCtx::new(info, env).with_args(parent.args().to_vec());
    if let Some(beads) = parent.weave_beads() {
        ctx = ctx.with_weave_beads(beads.clone());
    }
    // A new thread starts with its creator's signal mask (POSIX).
    ctx.sig_mask
        .store(parent.sig_mask.load(Ordering::Relaxed), Ordering::Relaxed);
    let ctx = Arc::new(ctx);
    // Parent and child now share their weave's beads: they are preempted
    // in them only outside the runtime's own sections (`preempt`).
    parent.has_siblings.store(true, Ordering::Relaxed);
    ctx.has_siblings.store(true, Ordering::Relaxed);
    let launch = Launch {
        ctx,
        entry: Entry::Thread {
            start: start as u64,
            arg: arg as u64,
        },
        stack_size: stack,
        stack_at: None,
        mode: mode
            .unwrap_or_else(|| current_task().map_or(weaves_strings::Mode::Fiber, |t| t.mode)),
    };
    match sched.spawn(launch) {
        Ok(task) => {
            crate::schedparam::record(task.ctx.info.id, policy);
            let tid = task_id(&task);
            if joinable {
                THREADS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(HashMap::new)
                    .insert(tid, task);
            }
            // SAFETY: the caller passes a writable pthread_t.
            unsafe { *out = tid };
            0
        }
        Err(_) => libc::EAGAIN,
    }
}

/// `pthread_join`, a cancellation point.
pub(crate) unsafe extern "C" fn join(thread: u64, result: *mut u64) -> i32 {
    crate::cancel::point();
    // SAFETY: the caller's arguments.
    let r = unsafe { join_unless_cancelled(thread, result) };
    crate::cancel::point();
    r
}

/// # Safety
/// As `pthread_join`.
unsafe fn join_unless_cancelled(thread: u64, result: *mut u64) -> i32 {
    // Joining oneself (a declared string's id is not among the threads
    // bead code created, so look before the lookup).
    if current_task().is_some() && thread == self_() {
        return libc::EDEADLK;
    }
    let task = {
        let _rt = RuntimeSection::enter();
        THREADS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|m| m.get(&thread).cloned())
    };
    let Some(task) = task else { return libc::ESRCH };
    if current_task().is_some_and(|me| Arc::ptr_eq(&me, &task)) {
        return libc::EDEADLK;
    }
    loop {
        if let Some(outcome) = task.outcome() {
            if !result.is_null() {
                // SAFETY: the caller passes a writable void *.
                unsafe { *result = outcome.value() as u64 };
            }
            let _rt = RuntimeSection::enter();
            if let Some(m) = THREADS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                m.remove(&thread);
            }
            return 0;
        }
        match current_task() {
            Some(me) => {
                if task.add_joiner(me) {
                    park();
                }
                if crate::cancel::requested() {
                    // The target stays joinable; the caller acts on it.
                    return 0;
                }
            }
            None => {
                task.wait();
            }
        }
    }
}

pub(crate) unsafe extern "C" fn detach(thread: u64) -> i32 {
    let _rt = RuntimeSection::enter();
    match THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .and_then(|m| m.remove(&thread))
    {
        Some(_) => 0,
        None => libc::ESRCH,
    }
}

pub(crate) unsafe extern "C" fn exit(value: u64) {
    if weaves_strings::forked::in_forked_child() {
        // The only thread of a forked child: the process ends with 0, as
        // when the last thread of a process calls pthread_exit.
        weaves_strings::forked::exit_forked_child(0);
    }
    // Cleanup handlers, then the string ends (its thread-specific data
    // destructors run then): returns only outside strings.
    crate::cleanup::exit(value);
    // Not a string: glibc's own.
    // SAFETY: ending the calling OS thread, as pthread_exit does.
    unsafe { libc::pthread_exit(value as *mut libc::c_void) }
}

pub(crate) extern "C" fn self_() -> u64 {
    match current_task() {
        Some(t) => task_id(&t),
        // SAFETY: no preconditions.
        None => unsafe { libc::pthread_self() },
    }
}

/// The string pthread id `thread` names (the caller's own, or one made by
/// `pthread_create` and not yet joined or detached).
pub(crate) fn task_of(thread: u64) -> Option<Arc<Task>> {
    if let Some(me) = current_task().filter(|t| task_id(t) == thread) {
        return Some(me);
    }
    let _rt = RuntimeSection::enter();
    THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&thread).cloned())
}

/// pthread ids bead code was handed, with the string each names.
pub(crate) fn thread_ids() -> Vec<(u64, u32)> {
    let _rt = RuntimeSection::enter();
    THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|m| m.iter().map(|(&id, t)| (id, t.ctx.info.id)).collect())
        .unwrap_or_default()
}

/// Makes `id` (a pthread id from before a restore) name `task`.
pub(crate) fn adopt_thread(id: u64, task: Arc<Task>) {
    let _rt = RuntimeSection::enter();
    THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(id, task);
}
