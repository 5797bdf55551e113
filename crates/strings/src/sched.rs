//! The scheduler: M fibers on N worker threads, timers, thread-mode drivers.
//!
//! Workers share one run queue (a lock and a condition variable: contention
//! is low at the worker counts of one machine, and a string's switch cost
//! is dominated by the fiber switch itself). A worker with nothing to run
//! sleeps until the next timer is due or a task is queued. Timers (sleeping
//! strings) live in one min-heap; whichever worker looks first fires the
//! expired ones.
//!
//! A string in [`Mode::Thread`] has a dedicated OS thread as its driver: it
//! runs the same task state machine, but parks by blocking that thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::task::{Launch, Mode, SliceEnd, Task, NOTIFIED, PARKED, QUEUED, RUNNING};

/// The run queue, and how many workers sleep waiting on it (a notify costs
/// a system call, so it is made only when one of them waits).
struct Queue {
    tasks: VecDeque<Arc<Task>>,
    idle: usize,
}

struct Timer {
    at: Instant,
    seq: u64,
    task: Arc<Task>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Runs strings.
pub struct Scheduler {
    queue: Mutex<Queue>,
    ready: Condvar,
    timers: Mutex<BinaryHeap<Reverse<Timer>>>,
    /// When the earliest timer is due, in nanoseconds since `epoch`
    /// (u64::MAX: none): lets workers skip the timer lock when nothing is due.
    next_due: AtomicU64,
    epoch: Instant,
    seq: AtomicU64,
    live: AtomicUsize,
    /// Signalled (with `idle_lock`) when `live` drops to zero.
    idle: Condvar,
    idle_lock: Mutex<()>,
    stop: AtomicBool,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    worker_count: usize,
}

/// The longest an idle worker sleeps without looking at the timers.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Timer deadlines are rounded up to this grid: a sleep may last a little
/// longer than asked (never shorter), and strings that go to sleep at nearly
/// the same moment then wake in one batch instead of one worker wakeup each.
const TIMER_GRID_NS: u64 = 100_000;

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
        let s = Arc::new(Scheduler {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
                idle: 0,
            }),
            ready: Condvar::new(),
            timers: Mutex::new(BinaryHeap::new()),
            next_due: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            seq: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            idle: Condvar::new(),
            idle_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            worker_count: workers,
        });
        for i in 0..workers {
            let me = s.clone();
            let on_start = on_start.clone();
            let h = std::thread::Builder::new()
                .name(format!("weaves worker {i}"))
                .stack_size(256 << 10)
                .spawn(move || {
                    if let Some(f) = on_start {
                        f();
                    }
                    me.work()
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

    pub(crate) fn push(&self, task: Arc<Task>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.tasks.push_back(task);
        if q.idle > 0 {
            self.ready.notify_one();
        }
    }

    /// Wakes `task` at `at` (it parks itself after calling this).
    pub fn add_timer(&self, at: Instant, task: Arc<Task>) {
        let n = self.nanos(at);
        let at = self.epoch + Duration::from_nanos(n.div_ceil(TIMER_GRID_NS) * TIMER_GRID_NS);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let sooner = {
            let mut t = self.timers.lock().unwrap_or_else(|e| e.into_inner());
            let sooner = t.peek().is_none_or(|Reverse(first)| at < first.at);
            t.push(Reverse(Timer { at, seq, task }));
            if sooner {
                self.next_due.store(self.nanos(at), Ordering::Release);
            }
            sooner
        };
        if sooner {
            // A sleeping worker may be waiting for a later deadline.
            let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.idle > 0 {
                self.ready.notify_one();
            }
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u128::from(u64::MAX - 1)) as u64
    }

    /// Wakes the tasks whose timers have expired; returns how long until the
    /// next one.
    fn fire_timers(&self) -> Duration {
        let now = Instant::now();
        let due_at = self.next_due.load(Ordering::Acquire);
        let now_n = self.nanos(now);
        if due_at > now_n {
            return if due_at == u64::MAX {
                IDLE_WAIT
            } else {
                Duration::from_nanos(due_at - now_n).min(IDLE_WAIT)
            };
        }
        let mut due = Vec::new();
        let next = {
            let mut t = self.timers.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(Reverse(first)) = t.peek() {
                if first.at > now {
                    break;
                }
                if let Some(Reverse(timer)) = t.pop() {
                    due.push(timer.task);
                }
            }
            let next = t.peek().map(|Reverse(first)| first.at);
            self.next_due.store(
                next.map_or(u64::MAX, |at| self.nanos(at)),
                Ordering::Release,
            );
            next.map_or(IDLE_WAIT, |at| at - now)
        };
        // Wake them with one trip to the run queue.
        let runnable: Vec<Arc<Task>> = due.into_iter().filter(|t| t.wake_for_batch()).collect();
        if !runnable.is_empty() {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let n = runnable.len();
            q.tasks.extend(runnable);
            if q.idle > 0 {
                if n > 1 {
                    self.ready.notify_all();
                } else {
                    self.ready.notify_one();
                }
            }
        }
        next.min(IDLE_WAIT)
    }

    fn work(self: Arc<Self>) {
        loop {
            let next_timer = self.fire_timers();
            let task = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                match q.tasks.pop_front() {
                    Some(t) => t,
                    None => {
                        if self.stop.load(Ordering::Acquire) {
                            return;
                        }
                        q.idle += 1;
                        let (mut q, _) = self
                            .ready
                            .wait_timeout(q, next_timer)
                            .unwrap_or_else(|e| e.into_inner());
                        q.idle -= 1;
                        continue;
                    }
                }
            };
            task.state.store(RUNNING, Ordering::Release);
            match task.run_slice() {
                SliceEnd::Yield => {
                    task.state.store(QUEUED, Ordering::Release);
                    self.push(task);
                }
                SliceEnd::Park => {
                    if task
                        .state
                        .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Woken before it finished suspending (NOTIFIED).
                        task.state.store(QUEUED, Ordering::Release);
                        self.push(task);
                    }
                }
                SliceEnd::Done => self.finished(&task),
            }
        }
    }

    fn drive_on_own_thread(&self, task: Arc<Task>) {
        loop {
            task.state.store(RUNNING, Ordering::Release);
            match task.run_slice() {
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
            let _g = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.idle.notify_all();
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
        self.stop.store(true, Ordering::Release);
        {
            let _q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            self.ready.notify_all();
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }
}
