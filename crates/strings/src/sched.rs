//! The scheduler: M fibers on N worker threads, timers, thread-mode drivers.
//!
//! ## Run queues
//!
//! Each worker has its own first-in, first-out run queue
//! (`crossbeam-deque`): the strings it wakes (by a timer, by releasing a
//! mutex they wait for) and those that yield go there, so a busy worker
//! touches no cache line another worker writes. Strings woken by other
//! threads (the I/O reactor, thread-mode strings, the starting thread) go
//! to a global injector. A worker with an empty queue takes a batch from
//! the injector, then steals half of another worker's queue.
//!
//! ## Timers
//!
//! A string that sleeps puts its timer in its worker's heap (see
//! [`crate::timers`]); the worker fires it between strings. An idle worker
//! also fires the due timers of workers busy running a long string.
//!
//! ## Idle workers
//!
//! A worker with nothing to run sleeps on a condition variable until the
//! earliest timer anywhere is due. Whoever makes work that a sleeping
//! worker could take notifies one: the count of sleepers is read after the
//! work is published and incremented before the sleeper's last look for
//! work (both sequentially consistent), and the notify takes the sleepers'
//! lock, so no wakeup falls between a sleeper's last look and its wait.
//!
//! A string in [`Mode::Thread`] has a dedicated OS thread as its driver: it
//! runs the same task state machine, but parks by blocking that thread.

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};

use crate::task::{Launch, Mode, SliceEnd, Task, NOTIFIED, PARKED, QUEUED, RUNNING};
use crate::timers::{on_grid, Timers, NONE};

/// Runs strings.
pub struct Scheduler {
    injector: Injector<Arc<Task>>,
    stealers: Vec<Stealer<Arc<Task>>>,
    /// One heap per worker, then one for threads that are not workers.
    timers: Box<[Timers]>,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wakeup: Condvar,
    epoch: Instant,
    live: AtomicUsize,
    /// Signalled (with `idle_lock`) when `live` drops to zero.
    idle: Condvar,
    idle_lock: Mutex<()>,
    stop: AtomicBool,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    worker_count: usize,
    /// Every string started, for inspection (pruned of ended strings
    /// nobody holds any more).
    registry: Mutex<Vec<Weak<Task>>>,
    spawned: AtomicUsize,
    /// Called when the last string ends.
    on_idle: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

/// The longest an idle worker sleeps without looking at the timers.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// A worker with local work still looks at the injector this often (in
/// strings run), so strings woken from outside are not starved.
const INJECTOR_EVERY: u32 = 61;

/// What a worker thread knows about itself.
#[derive(Clone, Copy)]
struct WorkerRef {
    sched: *const Scheduler,
    index: usize,
    queue: *const LocalQueue<Arc<Task>>,
}

thread_local! {
    static WORKER: Cell<Option<WorkerRef>> = const { Cell::new(None) };
}

/// The worker this thread is, if it is one.
///
/// Never inlined: fibers move between threads, and the thread-local's
/// address must be computed afresh on every call, never reused by a caller
/// across a switch.
#[inline(never)]
fn this_worker() -> Option<WorkerRef> {
    WORKER.with(Cell::get)
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
        let queues: Vec<LocalQueue<Arc<Task>>> =
            (0..workers).map(|_| LocalQueue::new_fifo()).collect();
        let s = Arc::new(Scheduler {
            injector: Injector::new(),
            stealers: queues.iter().map(LocalQueue::stealer).collect(),
            timers: (0..=workers).map(|_| Timers::new()).collect(),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wakeup: Condvar::new(),
            epoch: Instant::now(),
            live: AtomicUsize::new(0),
            idle: Condvar::new(),
            idle_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            worker_count: workers,
            registry: Mutex::new(Vec::new()),
            spawned: AtomicUsize::new(0),
            on_idle: Mutex::new(None),
        });
        for (i, queue) in queues.into_iter().enumerate() {
            let me = s.clone();
            let on_start = on_start.clone();
            let h = std::thread::Builder::new()
                .name(format!("weaves worker {i}"))
                .stack_size(256 << 10)
                .spawn(move || {
                    if let Some(f) = on_start {
                        f();
                    }
                    me.work(i, queue)
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
        let mode = launch.mode;
        let task = Task::new(launch, Arc::downgrade(self));
        self.live.fetch_add(1, Ordering::AcqRel);
        self.spawned.fetch_add(1, Ordering::Relaxed);
        {
            let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            if r.len() >= 4096 && r.len().is_power_of_two() {
                r.retain(|t| t.strong_count() > 0);
            }
            r.push(Arc::downgrade(&task));
        }
        match mode {
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
        Ok(task)
    }

    /// The strings started so far that still exist, in start order.
    pub fn tasks(&self) -> Vec<Arc<Task>> {
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        r.retain(|t| t.strong_count() > 0);
        r.iter().filter_map(Weak::upgrade).collect()
    }

    /// Has `hook` called whenever the last running string ends.
    pub fn on_idle(&self, hook: Box<dyn Fn() + Send + Sync>) {
        *self.on_idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Strings started so far.
    pub fn started(&self) -> usize {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Strings started and not yet ended.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// This thread's worker, if it is one of this scheduler's.
    fn mine(&self) -> Option<WorkerRef> {
        this_worker().filter(|w| std::ptr::eq(w.sched, self))
    }

    /// Queues a runnable task: on this worker's own queue when called from
    /// one, else on the injector.
    pub(crate) fn push(&self, task: Arc<Task>) {
        match self.mine() {
            Some(w) => {
                // SAFETY: `w.queue` points at the queue the worker loop owns on
                // its stack for as long as the thread-local names it, and we are
                // on that worker's thread.
                let queue = unsafe { &*w.queue };
                queue.push(task);
                if queue.len() > 1 {
                    self.notify_sleeper();
                }
            }
            None => {
                self.injector.push(task);
                self.notify_sleeper();
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

    /// Wakes one sleeping worker, if any: there is work it could take.
    fn notify_sleeper(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wakeup.notify_one();
        }
    }

    /// Wakes `task` at `at` (it parks itself after calling this).
    pub fn add_timer(&self, at: Instant, task: Arc<Task>) {
        let at = on_grid(self.nanos(at));
        match self.mine() {
            // The worker fires its own heap as soon as this string parks.
            Some(w) => {
                self.timers[w.index].add(at, task);
            }
            None => {
                if self.timers[self.worker_count].add(at, task) {
                    // A sleeping worker may be waiting for a later deadline.
                    self.notify_sleeper();
                }
            }
        }
    }

    /// [`Scheduler::add_timer`] on the scheduler behind `sched`; false if it
    /// has stopped.
    pub(crate) fn add_timer_to(sched: &Weak<Scheduler>, at: Instant, task: Arc<Task>) -> bool {
        match this_worker() {
            Some(w) if std::ptr::eq(w.sched, sched.as_ptr()) => {
                // SAFETY: as in `push_to`.
                unsafe { &*w.sched }.add_timer(at, task);
                true
            }
            _ => match sched.upgrade() {
                Some(s) => {
                    s.add_timer(at, task);
                    true
                }
                None => false,
            },
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

    /// The earliest deadline in any heap.
    fn earliest_due(&self) -> u64 {
        self.timers
            .iter()
            .map(Timers::next_due)
            .min()
            .unwrap_or(NONE)
    }

    /// Fires the due timers of `heaps` into `queue`; with `wait` false, skips
    /// heaps another worker holds. Returns whether any string woke.
    fn fire(
        &self,
        heaps: impl Iterator<Item = usize>,
        now: u64,
        queue: &LocalQueue<Arc<Task>>,
        due: &mut Vec<Arc<Task>>,
        wait: bool,
    ) -> bool {
        for h in heaps {
            self.timers[h].fire(now, due, wait);
        }
        let mut woke = false;
        for task in due.drain(..) {
            if task.wake_for_batch() {
                queue.push(task);
                woke = true;
            }
        }
        if woke && queue.len() > 1 {
            self.notify_sleeper();
        }
        woke
    }

    /// A batch from the injector, or else from another worker's queue.
    fn find_work(&self, index: usize, queue: &LocalQueue<Arc<Task>>) -> Option<Arc<Task>> {
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(queue) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = self.stealers.len();
            for k in 1..n {
                match self.stealers[(index + k) % n].steal_batch_and_pop(queue) {
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

    /// Whether any queue holds work.
    fn work_anywhere(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Sleeps until notified or the earliest timer is due.
    fn sleep(&self) {
        let g = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let now = self.now();
        let due = self.earliest_due();
        if due > now && !self.work_anywhere() && !self.stop.load(Ordering::SeqCst) {
            let wait = Duration::from_nanos(due - now).min(IDLE_WAIT);
            drop(self.wakeup.wait_timeout(g, wait));
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn work(self: Arc<Self>, index: usize, queue: LocalQueue<Arc<Task>>) {
        WORKER.with(|w| {
            w.set(Some(WorkerRef {
                sched: Arc::as_ptr(&self),
                index,
                queue: &queue,
            }))
        });
        let shared = self.worker_count;
        let mut due = Vec::new();
        let mut tick = 0u32;
        loop {
            let now = self.now();
            self.fire([index, shared].into_iter(), now, &queue, &mut due, true);
            tick = tick.wrapping_add(1);
            let task = if tick.is_multiple_of(INJECTOR_EVERY) {
                self.injector.steal().success().or_else(|| queue.pop())
            } else {
                queue.pop()
            };
            let Some(task) = task.or_else(|| self.find_work(index, &queue)) else {
                let others = (0..shared).filter(|&h| h != index);
                if self.fire(others, now, &queue, &mut due, false) {
                    continue;
                }
                if self.stop.load(Ordering::SeqCst) && !self.work_anywhere() {
                    break;
                }
                self.sleep();
                continue;
            };
            task.state.store(RUNNING, Ordering::Release);
            let began = Instant::now();
            let end = task.run_slice();
            task.add_cpu(began.elapsed());
            match end {
                SliceEnd::Yield => {
                    task.state.store(QUEUED, Ordering::Release);
                    if queue.is_empty() && !self.injector.is_empty() {
                        // Behind the strings waiting in the injector: a
                        // string alone on this worker must not keep it from
                        // them by yielding.
                        self.injector.push(task);
                    } else {
                        queue.push(task);
                        if queue.len() > 1 {
                            self.notify_sleeper();
                        }
                    }
                }
                SliceEnd::Park => {
                    if task
                        .state
                        .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Woken before it finished suspending (NOTIFIED).
                        task.state.store(QUEUED, Ordering::Release);
                        queue.push(task);
                    }
                }
                SliceEnd::Done => self.finished(&task),
            }
        }
        WORKER.with(|w| w.set(None));
    }

    fn drive_on_own_thread(&self, task: Arc<Task>) {
        loop {
            task.state.store(RUNNING, Ordering::Release);
            let began = Instant::now();
            let end = task.run_slice();
            task.add_cpu(began.elapsed());
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
        {
            let _g = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wakeup.notify_all();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }
}
