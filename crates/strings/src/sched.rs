//! The scheduler: M fibers on N worker threads, timers, thread-mode drivers.
//!
//! ## Strings stay on their worker
//!
//! A string that has started runs on the same worker thread until it ends.
//! Bead code is ordinary C: a compiler may compute the address of a
//! thread-local such as `errno` once in a function (glibc declares
//! `__errno_location` constant) and use it after a call that parked the
//! string; had the string moved to another thread meanwhile, that address
//! would be the old thread's. So only strings that have not run yet are
//! shared out: they wait in a global injector (strings started one by one
//! from outside the workers), in batches (a tapestry's strings, started
//! many at a time), or in a worker's stealable queue (strings started by bead
//! code), and idle workers take slices of them. Once a string runs,
//! its worker is its *home*: waking it from anywhere queues it there.
//!
//! ## Queues
//!
//! Each worker has a queue of its own strings (only it touches it), a
//! remote queue other threads wake its strings into, a stealable queue of
//! strings not started yet, and a timer set for its sleeping strings (see
//! [`crate::timers`]); threads that are not workers (thread-mode strings,
//! the starting thread) use one more, shared set.
//!
//! ## Warm caches
//!
//! Ten thousand strings that wake for a moment each are a memory-bound
//! load: what a switch touches (the task, its context, the top of its
//! stack) is a cache and TLB miss per string. Before running a string, a
//! worker prefetches what the next one in its queue will touch (see
//! [`crate::prefetch`]), and it reads the clock only every few
//! microseconds while busy.
//!
//! ## Idle workers
//!
//! A worker with nothing to run parks on its own condition variable until
//! its earliest timer (or the shared set's) is due. Waking one of its
//! strings from elsewhere unparks it; new unstarted work unparks any
//! parked worker. A parked worker raises its `parked` flag before its last
//! look for work, and whoever adds work looks at the flags afterwards
//! (both sequentially consistent), so no wakeup falls in between.
//!
//! A string in [`Mode::Thread`] has a dedicated OS thread as its driver: it
//! runs the same task state machine, but parks by blocking that thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use weaves_clustered::ClusteredCounter;

use crate::task::{Launch, Mode, SliceEnd, Task, NOTIFIED, PARKED, QUEUED, RUNNING};
use crate::timers::{on_grid, Timers, NONE};
use crate::watchdog::SliceMark;

/// What other threads may touch of a worker.
struct Shared {
    /// Its strings, woken by other threads.
    remote: Injector<Arc<Task>>,
    /// Set while it parks (or is about to).
    parked: AtomicBool,
    /// Set by an unpark; the worker clears it when it wakes.
    woken: Mutex<bool>,
    cv: Condvar,
    /// The slice it runs, for the watchdog.
    slice: SliceMark,
}

/// A worker's own state, on its thread.
struct Local {
    /// Its started strings, ready to run.
    mine: RefCell<VecDeque<Arc<Task>>>,
    /// Strings not started yet that it took (others may steal them).
    fresh: LocalQueue<Arc<Task>>,
}

/// Runs strings.
pub struct Scheduler {
    injector: Injector<Arc<Task>>,
    /// Strings started together ([`Scheduler::launch_all`]), not yet taken
    /// by a worker: one lock per batch instead of a push per string.
    bulk: Mutex<VecDeque<Arc<Task>>>,
    /// How many wait in `bulk` (read without its lock).
    bulk_len: AtomicUsize,
    stealers: Vec<Stealer<Arc<Task>>>,
    shared: Vec<Shared>,
    /// One timer set per worker, then one for threads that are not workers.
    timers: Box<[Timers]>,
    epoch: Instant,
    live: AtomicUsize,
    /// Signalled (with `idle_lock`) when `live` drops to zero.
    idle: Condvar,
    idle_lock: Mutex<()>,
    stop: AtomicBool,
    /// Set by [`Scheduler::end_all`]: the tapestry is ending, every string
    /// (and every string started from now on) ends at its next safe point.
    ending: AtomicBool,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    worker_count: usize,
    /// Every string started, for inspection (pruned of ended strings
    /// nobody holds any more).
    registry: Mutex<Registry>,
    /// Strings started: added to by whichever thread starts one (workers,
    /// bead code starting strings), read only for inspection, so it is a
    /// clustered counter with a rep per CPU rather than one shared word.
    spawned: ClusteredCounter,
    /// Called when the last string ends.
    on_idle: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// Every string started, as weak references (a `Weak` keeps its task's
/// memory, so ended ones are pruned once the list has doubled since the
/// last pruning: amortised O(1) per string, and never more than twice the
/// strings still held).
#[derive(Default)]
struct Registry {
    tasks: Vec<Weak<Task>>,
    /// Length after the last pruning.
    kept: usize,
}

impl Registry {
    fn push(&mut self, task: Weak<Task>) {
        if self.tasks.len() >= 64.max(2 * self.kept) {
            self.prune();
        }
        self.tasks.push(task);
    }

    fn prune(&mut self) {
        self.tasks.retain(|t| t.strong_count() > 0);
        self.kept = self.tasks.len();
    }
}

/// The longest an idle worker sleeps without looking at the timers.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// How long a worker that ran out of strings looks for new ones before it
/// parks. A string on another worker often wakes one of its strings within
/// microseconds (a reply to a message, a lock handed over), and waking a
/// parked worker costs a system call on each side and a trip through the
/// kernel's scheduler (5–20 µs); a short spin saves that for the price of
/// a few idle microseconds.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(30);
/// A worker with strings of its own still looks for unstarted ones this
/// often (in strings run), so new strings are not starved.
const FRESH_EVERY: u32 = 61;
/// Strings a worker takes at most from a batch started together.
const BULK_SLICE: usize = 32;
/// Time-stamp counter ticks between clock reads of a busy worker (about a
/// microsecond or two at the rates processors count at).
const CLOCK_EVERY_TICKS: u64 = 4096;
/// No home yet: the string has not run.
pub(crate) const NO_HOME: usize = usize::MAX;

/// What a worker thread knows about itself.
#[derive(Clone, Copy)]
struct WorkerRef {
    sched: *const Scheduler,
    index: usize,
    local: *const Local,
}

thread_local! {
    static WORKER: Cell<Option<WorkerRef>> = const { Cell::new(None) };
}

/// The worker this thread is, if it is one.
///
/// Never inlined: the thread-local's address must be computed afresh on
/// every call.
#[inline(never)]
fn this_worker() -> Option<WorkerRef> {
    WORKER.with(Cell::get)
}

/// Whether the worker running the caller has another string ready to run
/// (false on a thread that is not a worker). A string polling for a
/// partner's progress yields only when someone could use the worker, and
/// otherwise spins: a round trip through the worker's loop costs more than
/// the reply it waits for.
pub fn others_ready() -> bool {
    let Some(w) = this_worker() else {
        return false;
    };
    // SAFETY: `w.sched` and `w.local` are the worker loop's own scheduler
    // and state, alive while the thread-local names them; we are on that
    // thread, inside a slice the loop runs, so it holds no borrow of them.
    let (sched, local) = unsafe { (&*w.sched, &*w.local) };
    sched.work_for(w.index, local)
}

impl Scheduler {
    /// Starts `workers` worker threads (at least one).
    pub fn start(workers: usize) -> std::io::Result<Arc<Scheduler>> {
        Scheduler::start_with(workers, None)
    }

    /// Like [`Scheduler::start`]; each worker thread first runs `on_start`
    /// (to arm a preemption timer, say).
    pub fn start_with(
        workers: usize,
        on_start: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> std::io::Result<Arc<Scheduler>> {
        let workers = workers.max(1);
        crate::cputime::init();
        let locals: Vec<Local> = (0..workers)
            .map(|_| Local {
                mine: RefCell::new(VecDeque::new()),
                fresh: LocalQueue::new_fifo(),
            })
            .collect();
        let s = Arc::new(Scheduler {
            injector: Injector::new(),
            bulk: Mutex::new(VecDeque::new()),
            bulk_len: AtomicUsize::new(0),
            stealers: locals.iter().map(|l| l.fresh.stealer()).collect(),
            shared: (0..workers)
                .map(|_| Shared {
                    remote: Injector::new(),
                    parked: AtomicBool::new(false),
                    woken: Mutex::new(false),
                    cv: Condvar::new(),
                    slice: SliceMark::default(),
                })
                .collect(),
            timers: (0..=workers).map(|_| Timers::new()).collect(),
            epoch: Instant::now(),
            live: AtomicUsize::new(0),
            idle: Condvar::new(),
            idle_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            ending: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            worker_count: workers,
            registry: Mutex::new(Registry::default()),
            spawned: ClusteredCounter::distributed(),
            on_idle: Mutex::new(None),
        });
        for (i, local) in locals.into_iter().enumerate() {
            let me = s.clone();
            let on_start = on_start.clone();
            let h = std::thread::Builder::new()
                .name(format!("weaves worker {i}"))
                .stack_size(256 << 10)
                .spawn(move || {
                    let _fatal = EndsRunOnPanic(i);
                    if let Some(f) = on_start {
                        f();
                    }
                    me.work(i, local)
                })?;
            s.workers.lock().unwrap_or_else(|e| e.into_inner()).push(h);
        }
        Ok(s)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.worker_count
    }

    /// Starts a string.
    pub fn spawn(self: &Arc<Self>, launch: Launch) -> Result<Arc<Task>, String> {
        let task = self.prepare(launch);
        self.launch(&task)?;
        Ok(task)
    }

    /// Makes a string without starting it (it counts as live and is
    /// listed): for callers that must publish it before it runs.
    pub fn prepare(self: &Arc<Self>, launch: Launch) -> Arc<Task> {
        let task = Task::new(launch, Arc::downgrade(self));
        self.live.fetch_add(1, Ordering::AcqRel);
        self.spawned.add(1);
        {
            let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            r.push(Arc::downgrade(&task));
        }
        if self.ending() {
            task.request_stop();
        }
        task
    }

    /// Ends the tapestry as SIGTERM would end a process: asks every string
    /// to end at its next safe point, and every string started from now on
    /// to end before it starts. Besides the reconfiguration points a
    /// script's `stop` waits for, a string that is ending also stops at a
    /// preemption tick taken in its own bead code, or deferred to its next
    /// interposed call: its frames are abandoned as `exit` abandons them.
    /// Returns how many strings were asked.
    pub fn end_all(&self) -> usize {
        self.ending.store(true, Ordering::SeqCst);
        let tasks = self.tasks();
        for t in &tasks {
            t.request_stop();
        }
        tasks.iter().filter(|t| !t.is_done()).count()
    }

    /// Whether [`Scheduler::end_all`] was called.
    pub fn ending(&self) -> bool {
        self.ending.load(Ordering::Acquire)
    }

    /// Starts a string made by [`Scheduler::prepare`] (once).
    pub fn launch(self: &Arc<Self>, task: &Arc<Task>) -> Result<(), String> {
        match task.mode {
            Mode::Fiber => self.push(task.clone()),
            Mode::Thread => {
                let t = task.clone();
                let me = self.clone();
                std::thread::Builder::new()
                    .name(format!("string {}", task.ctx.info.name))
                    .stack_size(256 << 10)
                    .spawn(move || me.drive_on_own_thread(t))
                    .map_err(|e| format!("cannot start its thread: {e}"))?;
            }
        }
        Ok(())
    }

    /// Starts strings made by [`Scheduler::prepare`] (each once), all at
    /// once: fiber strings are handed to the workers in one batch, which
    /// they take from in slices. Returns the first string that could not be
    /// started, with why (the ones before it have started).
    pub fn launch_all(self: &Arc<Self>, tasks: &[Arc<Task>]) -> Result<(), (usize, String)> {
        let mut fibers = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.iter().enumerate() {
            match task.mode {
                Mode::Fiber => fibers.push(task.clone()),
                Mode::Thread => self.launch(task).map_err(|e| (i, e))?,
            }
        }
        if !fibers.is_empty() {
            let n = fibers.len();
            self.bulk
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(fibers);
            self.bulk_len.fetch_add(n, Ordering::SeqCst);
            self.unpark_all();
        }
        Ok(())
    }

    /// The strings started so far that still exist, in start order.
    pub fn tasks(&self) -> Vec<Arc<Task>> {
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        r.prune();
        r.tasks.iter().filter_map(Weak::upgrade).collect()
    }

    /// The workers' slice marks, for the watchdog.
    pub(crate) fn slice_marks(&self) -> impl Iterator<Item = &SliceMark> {
        self.shared.iter().map(|s| &s.slice)
    }

    /// Whether the scheduler is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Has `hook` called whenever the last running string ends.
    pub fn on_idle(&self, hook: Box<dyn Fn() + Send + Sync>) {
        *self.on_idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Strings started so far.
    pub fn started(&self) -> usize {
        self.spawned.get() as usize
    }

    /// Strings started and not yet ended.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// This thread's worker, if it is one of this scheduler's.
    fn mine(&self) -> Option<WorkerRef> {
        this_worker().filter(|w| std::ptr::eq(w.sched, self))
    }

    /// Queues a runnable task: a started one on its home worker, an
    /// unstarted one where any worker may take it.
    pub(crate) fn push(&self, task: Arc<Task>) {
        let home = task.home.load(Ordering::Acquire);
        let me = self.mine();
        if home == NO_HOME {
            match me {
                Some(w) => {
                    // SAFETY: `w.local` is the worker loop's own state, alive
                    // while the thread-local names it; we are on that thread.
                    unsafe { &*w.local }.fresh.push(task);
                }
                None => self.injector.push(task),
            }
            self.unpark_any();
            return;
        }
        match me {
            Some(w) if w.index == home => {
                // SAFETY: as above.
                unsafe { &*w.local }.mine.borrow_mut().push_back(task);
            }
            _ => {
                self.shared[home].remote.push(task);
                self.unpark(home);
            }
        }
    }

    /// Queues `task` on the scheduler behind `sched`, if it still runs.
    pub(crate) fn push_to(sched: &Weak<Scheduler>, task: Arc<Task>) {
        match this_worker() {
            Some(w) if std::ptr::eq(w.sched, sched.as_ptr()) => {
                // SAFETY: a worker's scheduler outlives the worker's loop, and
                // we are inside it.
                unsafe { &*w.sched }.push(task)
            }
            _ => {
                if let Some(s) = sched.upgrade() {
                    s.push(task);
                }
            }
        }
    }

    /// Wakes worker `i` if it parks.
    fn unpark(&self, i: usize) {
        fence(Ordering::SeqCst);
        let w = &self.shared[i];
        if w.parked.load(Ordering::SeqCst) {
            *w.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
            w.cv.notify_one();
        }
    }

    /// Wakes every parked worker (a checkpoint's freeze ended).
    pub(crate) fn unpark_all(&self) {
        for i in 0..self.worker_count {
            self.unpark(i);
        }
    }

    /// Waits while a checkpoint holds the workers frozen.
    fn park_frozen(&self, index: usize) {
        let me = &self.shared[index];
        me.parked.store(true, Ordering::SeqCst);
        let mut woken = me.woken.lock().unwrap_or_else(|e| e.into_inner());
        if !*woken && crate::quiesce::frozen() {
            woken = me
                .cv
                .wait_timeout(woken, Duration::from_millis(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *woken = false;
        drop(woken);
        me.parked.store(false, Ordering::SeqCst);
    }

    /// Wakes one parked worker, if any: there is unstarted work.
    fn unpark_any(&self) {
        fence(Ordering::SeqCst);
        if let Some(i) =
            (0..self.worker_count).find(|&i| self.shared[i].parked.load(Ordering::SeqCst))
        {
            self.unpark(i);
        }
    }

    /// Wakes `task` at `at` (it parks itself after calling this).
    /// Returns the deadline on the scheduler's grid (see
    /// [`Task::timer_passed`]).
    pub fn add_timer(&self, at: Instant, task: Arc<Task>) -> u64 {
        let at = on_grid(self.nanos(at));
        match self.mine() {
            // The worker fires its own timers as soon as this string parks.
            Some(w) => {
                self.timers[w.index].add(at, task);
            }
            None => {
                if self.timers[self.worker_count].add(at, task) {
                    // Parked workers may be waiting for a later deadline.
                    for i in 0..self.worker_count {
                        self.unpark(i);
                    }
                }
            }
        }
        at
    }

    /// [`Scheduler::add_timer`] on the scheduler behind `sched`; `None` if
    /// it has stopped.
    pub(crate) fn add_timer_to(
        sched: &Weak<Scheduler>,
        at: Instant,
        task: Arc<Task>,
    ) -> Option<u64> {
        match this_worker() {
            Some(w) if std::ptr::eq(w.sched, sched.as_ptr()) => {
                // SAFETY: as in `push_to`.
                Some(unsafe { &*w.sched }.add_timer(at, task))
            }
            _ => sched.upgrade().map(|s| s.add_timer(at, task)),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u128::from(NONE - 1)) as u64
    }

    fn now(&self) -> u64 {
        self.nanos(Instant::now())
    }

    /// Fires the due timers of set `h` (wake each string where it lives).
    fn fire(&self, h: usize, now: u64, due: &mut Vec<Arc<Task>>) {
        self.timers[h].fire(now, due, true);
        for task in due.drain(..) {
            if task.wake_for_batch() {
                self.push(task);
            }
        }
    }

    /// The next string for worker `index`: its own, or unstarted ones (its
    /// stealable queue, then a batch from the injector, then from another
    /// worker), taking unstarted ones first every FRESH_EVERY turns and
    /// after a string yielded (a yield lets waiting strings start).
    fn next(&self, index: usize, local: &Local, tick: u32, yielded: bool) -> Option<Arc<Task>> {
        let remote = &self.shared[index].remote;
        // `is_empty` only looks; `steal` costs a fence.
        while !remote.is_empty() {
            match remote.steal() {
                Steal::Success(t) => local.mine.borrow_mut().push_back(t),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        if !yielded && !tick.is_multiple_of(FRESH_EVERY) {
            if let Some(t) = local.mine.borrow_mut().pop_front() {
                return Some(t);
            }
        }
        self.fresh_work(index, local)
            .or_else(|| local.mine.borrow_mut().pop_front())
    }

    fn fresh_work(&self, index: usize, local: &Local) -> Option<Arc<Task>> {
        if !local.fresh.is_empty() {
            if let Some(t) = local.fresh.pop() {
                return Some(t);
            }
        }
        if self.bulk_len.load(Ordering::Relaxed) > 0 {
            if let Some(t) = self.take_bulk(local) {
                return Some(t);
            }
        }
        // Looking is cheap; stealing costs fences: steal only from a queue
        // that has something.
        if self.injector.is_empty() && self.stealers.iter().all(Stealer::is_empty) {
            return None;
        }
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(&local.fresh) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = self.stealers.len();
            for k in 1..n {
                match self.stealers[(index + k) % n].steal_batch_and_pop(&local.fresh) {
                    Steal::Success(t) => return Some(t),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Takes a slice of the strings started together: one to run, the rest
    /// into this worker's stealable queue.
    fn take_bulk(&self, local: &Local) -> Option<Arc<Task>> {
        let mut bulk = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
        // A share for each worker, in slices small enough that the strings
        // of a slice start soon.
        let n = (bulk.len() / self.worker_count)
            .clamp(1, BULK_SLICE)
            .min(bulk.len());
        if n == 0 {
            return None;
        }
        self.bulk_len.fetch_sub(n, Ordering::SeqCst);
        let first = bulk.pop_front();
        for t in bulk.drain(..n - 1) {
            local.fresh.push(t);
        }
        first
    }

    /// Whether worker `index` has anything to run.
    fn work_for(&self, index: usize, local: &Local) -> bool {
        !local.mine.borrow().is_empty()
            || !self.shared[index].remote.is_empty()
            || !local.fresh.is_empty()
            || self.bulk_len.load(Ordering::SeqCst) > 0
            || !self.injector.is_empty()
            || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Whether work came for worker `index` within [`SPIN_BEFORE_PARK`].
    fn spin_for_work(&self, index: usize, local: &Local) -> bool {
        let until = std::time::Instant::now() + SPIN_BEFORE_PARK;
        loop {
            for _ in 0..64 {
                if self.work_for(index, local) {
                    return true;
                }
                std::hint::spin_loop();
            }
            if self.stop.load(Ordering::Relaxed) || std::time::Instant::now() >= until {
                return false;
            }
        }
    }

    /// Parks worker `index` until unparked or its earliest timer is due.
    fn park(&self, index: usize, local: &Local) {
        if self.spin_for_work(index, local) {
            return;
        }
        let me = &self.shared[index];
        me.parked.store(true, Ordering::SeqCst);
        let now = self.now();
        let due = self.timers[index]
            .next_due()
            .min(self.timers[self.worker_count].next_due());
        if due > now && !self.work_for(index, local) && !self.stop.load(Ordering::SeqCst) {
            let wait = Duration::from_nanos(due - now).min(IDLE_WAIT);
            let mut woken = me.woken.lock().unwrap_or_else(|e| e.into_inner());
            if !*woken {
                woken = me
                    .cv
                    .wait_timeout(woken, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            *woken = false;
        }
        me.parked.store(false, Ordering::SeqCst);
    }

    fn work(self: Arc<Self>, index: usize, local: Local) {
        WORKER.with(|w| {
            w.set(Some(WorkerRef {
                sched: Arc::as_ptr(&self),
                index,
                local: &local,
            }))
        });
        let mark = &self.shared[index].slice;
        mark.register_thread();
        let shared_timers = self.worker_count;
        let mut due = Vec::new();
        let mut tick = 0u32;
        let mut yielded = false;
        let mut now = 0;
        let mut clock_read_at = 0u64;
        let mut slice_end = crate::cputime::ticks();
        loop {
            if crate::quiesce::frozen() {
                // A checkpoint is copying memory: run nothing, fire no timers.
                self.park_frozen(index);
                slice_end = crate::cputime::ticks();
                clock_read_at = 0;
                continue;
            }
            // The counter as the last slice ended (or now, after a park).
            let at = slice_end;
            // Reading the clock costs about as much as a switch: between
            // strings that run briefly, read it only every few microseconds
            // (timers fire at most that late), and whenever this worker has
            // none of its own strings left to run.
            if at.wrapping_sub(clock_read_at) >= CLOCK_EVERY_TICKS || local.mine.borrow().is_empty()
            {
                now = self.now();
                clock_read_at = at;
            }
            self.fire(index, now, &mut due);
            self.fire(shared_timers, now, &mut due);
            tick = tick.wrapping_add(1);
            let Some(task) = self.next(index, &local, tick, yielded) else {
                if self.stop.load(Ordering::SeqCst) && !self.work_for(index, &local) {
                    break;
                }
                self.park(index, &local);
                // Time passed: read the clock before firing timers.
                slice_end = crate::cputime::ticks();
                clock_read_at = 0;
                continue;
            };
            {
                // Warm the caches for the strings after this one.
                let queue = local.mine.borrow();
                if let Some(next) = queue.front() {
                    next.prefetch_state();
                }
                if let Some(after) = queue.get(1) {
                    after.prefetch_task();
                }
            }
            // From its first slice on, this worker is the string's home.
            task.home.store(index, Ordering::Release);
            task.state.store(RUNNING, Ordering::Release);
            let began = crate::cputime::ticks();
            mark.begin(began, task.ctx.info.id);
            let end = task.run_slice();
            mark.end();
            slice_end = task.add_cpu_since(began);
            yielded = matches!(end, SliceEnd::Yield);
            match end {
                SliceEnd::Yield => {
                    task.state.store(QUEUED, Ordering::Release);
                    local.mine.borrow_mut().push_back(task);
                }
                SliceEnd::Park => {
                    if task
                        .state
                        .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Woken before it finished suspending (NOTIFIED).
                        task.state.store(QUEUED, Ordering::Release);
                        local.mine.borrow_mut().push_back(task);
                    }
                }
                SliceEnd::Done => self.finished(&task),
            }
        }
        WORKER.with(|w| w.set(None));
    }

    fn drive_on_own_thread(&self, task: Arc<Task>) {
        loop {
            while crate::quiesce::frozen() {
                std::thread::sleep(Duration::from_micros(200));
            }
            task.state.store(RUNNING, Ordering::Release);
            let began = crate::cputime::ticks();
            let end = task.run_slice();
            task.add_cpu_since(began);
            match end {
                SliceEnd::Yield => {
                    task.state.store(QUEUED, Ordering::Release);
                    std::thread::yield_now();
                }
                SliceEnd::Park => {
                    let mut g = task.parker.0.lock().unwrap_or_else(|e| e.into_inner());
                    if task
                        .state
                        .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        while task.state.load(Ordering::Acquire) == PARKED {
                            g = task.parker.1.wait(g).unwrap_or_else(|e| e.into_inner());
                        }
                    } else {
                        debug_assert_eq!(task.state.load(Ordering::Acquire), NOTIFIED);
                    }
                }
                SliceEnd::Done => {
                    self.finished(&task);
                    return;
                }
            }
        }
    }

    fn finished(&self, task: &Arc<Task>) {
        // The stack goes back for the next string now, not when the last
        // handle to the task is dropped.
        drop(task.take_stack());
        task.complete();
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            {
                let _g = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
                self.idle.notify_all();
            }
            if let Some(hook) = &*self.on_idle.lock().unwrap_or_else(|e| e.into_inner()) {
                hook();
            }
        }
    }

    /// Blocks until every string started on this scheduler has ended.
    pub fn wait_idle(&self) {
        let mut g = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.live.load(Ordering::Acquire) > 0 {
            g = self.idle.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the workers once no string is left, and waits for them.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.shared {
            *w.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
            w.cv.notify_one();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }
}

/// Ends the process if a worker thread panics. The strings it held cannot
/// go on, and the run would otherwise wait for them forever; release
/// builds abort on panic anyway, this makes unoptimised ones do the same,
/// with one line saying what happened after the panic's own message.
struct EndsRunOnPanic(usize);

impl Drop for EndsRunOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "weaves: internal error: worker thread {} panicked; the run cannot go on",
                self.0
            );
            // SAFETY: ends the process at once, without running exit
            // handlers (bead code's could wait on the strings this worker
            // held).
            unsafe { libc::_exit(70) };
        }
    }
}
