//! A string as a schedulable task: its fiber, its state, its outcome.
//!
//! ## State
//!
//! ```text
//!   spawn ──> QUEUED ──worker picks──> RUNNING ──Yield──────────────> QUEUED
//!                ^                       │  │
//!                │                       │  └─Park──> PARKED ──wake──> QUEUED
//!                │                       │            (or, if woken while still
//!                │                       │             RUNNING: NOTIFIED ──> QUEUED)
//!                │                       └─returns/exits──> DONE
//! ```
//!
//! Only the driver that moved a task to RUNNING touches its fiber; `wake` may
//! be called from anywhere at any time. A wake that arrives while the task is
//! still running (it registered itself as a waiter and has not suspended yet)
//! turns RUNNING into NOTIFIED, and the driver requeues the task instead of
//! parking it: no wakeup is lost.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::ctx::{Enter, ExecCtx, Suspend};
use crate::fiber::{FiberStack, Outcome};
use crate::sched::Scheduler;

pub(crate) const QUEUED: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const NOTIFIED: u8 = 2;
pub(crate) const PARKED: u8 = 3;
pub(crate) const DONE: u8 = 4;

/// How a string is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A fiber on the scheduler's workers (M:N).
    Fiber,
    /// A fiber driven by a dedicated OS thread: for code that blocks in ways
    /// the runtime cannot interpose.
    Thread,
}

/// What a string runs.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    /// `int main(int argc, char **argv, char **envp)` at this address.
    Main(u64),
    /// `void *start(void *arg)` (a `pthread_create` from bead code).
    Thread { start: u64, arg: u64 },
    /// A string restored from a checkpoint: its stack holds the bead frames
    /// it had; resume at the boundary record at `record` by entering
    /// `target` (see `resume`).
    Resume { record: u64, target: u64 },
}

/// Everything needed to start a string.
pub struct Launch {
    pub ctx: Arc<ExecCtx>,
    pub entry: Entry,
    pub stack_size: usize,
    pub mode: Mode,
    /// Run on this stack (lowest address, usable bytes) instead of a fresh
    /// one: where a restored string's stack was.
    pub stack_at: Option<(usize, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Main,
    Finish,
    Done,
}

type Fiber = Coroutine<(), Suspend, i64, FiberStack>;

/// What the driver owns while the task runs.
struct Body {
    fiber: Option<Fiber>,
    /// What to run, until the fiber is made on first run.
    pending: Option<(Entry, usize)>,
    /// Where its stack must be (a restored string).
    stack_at: Option<(usize, usize)>,
    /// The stack, once the fiber has finished with it.
    stack: Option<FiberStack>,
    phase: Phase,
    /// The `argv` array the entry receives, its strings packed after the
    /// pointers (see [`packed_argv`]).
    _argv: Box<[u64]>,
    /// In a checkpointable tapestry: the same `argv`, copied into the home
    /// bead's heap, so that pointers bead code keeps to it stay valid in a
    /// restored process.
    argv_in_arena: Option<usize>,
    _env: Option<(Vec<CString>, Vec<*const libc::c_char>)>,
}

/// How a slice of running ended.
pub(crate) enum SliceEnd {
    Yield,
    Park,
    Done,
}

/// One string.
pub struct Task {
    pub ctx: Arc<ExecCtx>,
    pub mode: Mode,
    pub(crate) state: AtomicU8,
    body: UnsafeCell<Body>,
    outcome: Mutex<Option<Outcome>>,
    done: Condvar,
    /// Whether an OS thread waits on `done` (a notify costs a system call).
    waited: std::sync::atomic::AtomicBool,
    joiners: Mutex<Vec<Arc<Task>>>,
    /// Thread mode: the driver thread waits here while parked.
    pub(crate) parker: (Mutex<()>, Condvar),
    pub(crate) sched: Weak<Scheduler>,
    /// Counter ticks spent running (on a worker or its own thread); see
    /// `cputime`.
    cpu_ticks: std::sync::atomic::AtomicU64,
    /// About where its stack pointer was when it last suspended (see
    /// `prefetch`): the frames it resumes into lie just above.
    pub(crate) suspended_sp: std::sync::atomic::AtomicUsize,
    /// Odd while its fiber runs, even while it is suspended: a sequence
    /// count that lets another thread read its stack consistently (see
    /// `mediation`). Written only by the driver running it.
    pub(crate) resumes: std::sync::atomic::AtomicU64,
    /// The top of its fiber stack once it has one (0 before).
    pub(crate) stack_top: std::sync::atomic::AtomicUsize,
    /// The latest deadline (on the scheduler's grid) of a timer that fired
    /// for this string: the clock has passed it, so a sleep until then is
    /// over without reading the clock again.
    pub(crate) timer_passed: std::sync::atomic::AtomicU64,
    /// The worker it runs on once started (`sched::NO_HOME` before).
    pub(crate) home: std::sync::atomic::AtomicUsize,
    /// Whether it has run at all.
    began: std::sync::atomic::AtomicBool,
    /// Set while a fiber that holds its worker waits in
    /// [`Task::park_here`]: a wake must then notify `parker`.
    held_wait: std::sync::atomic::AtomicBool,
    /// What it was launched with (for checkpoints of unstarted strings).
    launched: (Entry, usize),
}

// SAFETY: `body` (the fiber and the raw pointers the entry receives) is only
// touched by the one driver that holds the task in state RUNNING; everything
// else is atomics or locks. A started fiber is resumed only on its home
// worker (see `sched`), but a task is handed between threads before it
// starts and inspected from any thread.
unsafe impl Send for Task {}
// SAFETY: as above.
unsafe impl Sync for Task {}

/// `args` as a C `argv` array in one block: the pointers, then the strings
/// they point at. A program's first act is usually to read its arguments;
/// in one block they are a cache miss or two, not one per argument (as
/// ten thousand strings start, those misses are a good part of a start).
fn packed_argv(args: &[CString]) -> Box<[u64]> {
    let ptrs = args.len() + 1;
    let bytes: usize = args.iter().map(|a| a.as_bytes_with_nul().len()).sum();
    let mut block = vec![0u64; ptrs + bytes.div_ceil(8)].into_boxed_slice();
    let words = block.as_mut_ptr();
    let mut at = ptrs * 8;
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes_with_nul();
        // SAFETY: every write goes through `words`, the block's one pointer:
        // pointer slot `i` < `ptrs`, and bytes `at..at + b.len()`, inside
        // the block (sized above for the pointers and every string).
        unsafe {
            let string = (words as *mut u8).add(at);
            std::ptr::copy_nonoverlapping(b.as_ptr(), string, b.len());
            *words.add(i) = string as u64;
        }
        at += b.len();
    }
    // The last pointer slot stays 0 (NULL). Moving the box does not move its
    // heap block, so the pointers stay valid.
    block
}

/// `ctx`'s arguments as a C `argv` array in its home bead's heap (strings
/// after the pointers); `None` if the heap cannot hold it.
fn argv_in_arena(ctx: &ExecCtx) -> Option<usize> {
    let args = ctx.args();
    let ptrs = (args.len() + 1) * 8;
    let bytes: usize = args.iter().map(|a| a.as_bytes_with_nul().len()).sum();
    let heap = weaves_arena::heap_for(ctx.info.home)?;
    let block = heap.allocate_aligned(ptrs + bytes, 16);
    if block.is_null() {
        return None;
    }
    let mut at = ptrs;
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes_with_nul();
        // SAFETY: `block` has room for the pointer array and every string
        // (sized above); pointer slots are 8-aligned.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), block.add(at), b.len());
            *(block as *mut usize).add(i) = block as usize + at;
        }
        at += b.len();
    }
    // SAFETY: the last pointer slot, inside the block.
    unsafe { *(block as *mut usize).add(args.len()) = 0 };
    Some(block as usize)
}

impl Task {
    /// A task for `launch`. Its stack and fiber are made when it first runs
    /// (on a worker), which keeps starting thousands of strings cheap for the
    /// thread that starts them.
    pub(crate) fn new(launch: Launch, sched: Weak<Scheduler>) -> Arc<Task> {
        let ctx = launch.ctx;
        let argv = packed_argv(ctx.args());
        let env = ctx.environ_block();
        let ctx_for_argv = ctx.clone();
        let task = Arc::new(Task {
            ctx,
            mode: launch.mode,
            state: AtomicU8::new(QUEUED),
            body: UnsafeCell::new(Body {
                fiber: None,
                stack: None,
                phase: Phase::Main,
                pending: Some((launch.entry, launch.stack_size)),
                stack_at: launch.stack_at,
                argv_in_arena: crate::quiesce::checkpointable()
                    .then(|| argv_in_arena(&ctx_for_argv))
                    .flatten(),
                _argv: argv,
                _env: env,
            }),
            outcome: Mutex::new(None),
            done: Condvar::new(),
            waited: std::sync::atomic::AtomicBool::new(false),
            joiners: Mutex::new(Vec::new()),
            parker: (Mutex::new(()), Condvar::new()),
            sched,
            cpu_ticks: std::sync::atomic::AtomicU64::new(0),
            suspended_sp: std::sync::atomic::AtomicUsize::new(0),
            resumes: std::sync::atomic::AtomicU64::new(0),
            stack_top: std::sync::atomic::AtomicUsize::new(0),
            timer_passed: std::sync::atomic::AtomicU64::new(0),
            home: std::sync::atomic::AtomicUsize::new(crate::sched::NO_HOME),
            began: std::sync::atomic::AtomicBool::new(false),
            held_wait: std::sync::atomic::AtomicBool::new(false),
            launched: (launch.entry, launch.stack_size),
        });
        task.ctx.task.set(Arc::as_ptr(&task));
        task
    }

    /// Makes the main fiber on `stack`.
    fn make_fiber(&self, body: &mut Body, entry: Entry, stack: FiberStack) {
        let ctx = &self.ctx;
        let envp = match &body._env {
            Some((_, ptrs)) => ptrs.as_ptr(),
            None => crate::process_environ(),
        };
        let (argc, argv_p, ctx_p) = (
            ctx.args().len() as i32,
            body.argv_in_arena
                .map_or(body._argv.as_ptr() as *const *const libc::c_char, |a| {
                    a as *const *const libc::c_char
                }),
            Arc::as_ptr(ctx),
        );
        ctx.stack.set(stack.bounds());
        self.stack_top
            .store(stack.bounds().1, std::sync::atomic::Ordering::Release);
        let top = crate::resume::top_of(stack.bounds().1);
        body.fiber = Some(Coroutine::with_stack(
            stack,
            move |y: &Yielder<(), Suspend>, ()| -> i64 {
                // SAFETY: the task owns `ctx` (an Arc) for as long as its fiber
                // exists.
                let ctx = unsafe { &*ctx_p };
                ctx.yielder.set(y);
                crate::ctx::run_switch_hook(ctx, true);
                match entry {
                    // SAFETY: the address of a function of a mapped,
                    // relocated, initialised bead with the C signature of
                    // `main` (the tapestry resolved it as an entry); we run
                    // on this fiber, above `top`.
                    Entry::Main(addr) => unsafe {
                        crate::resume::enter_base(
                            addr,
                            argc as u64,
                            argv_p as u64,
                            envp as u64,
                            top,
                        )
                    },
                    // SAFETY: a `void *(*)(void *)` handed to pthread_create
                    // by bead code.
                    Entry::Thread { start, arg } => unsafe {
                        crate::resume::enter_base(start, arg, 0, 0, top)
                    },
                    Entry::Resume { record, target } => {
                        // SAFETY: errno is this thread's; the string expects
                        // the value it had when its image was taken.
                        unsafe { *libc::__errno_location() = ctx.saved_errno() };
                        // SAFETY: the stack below `top` was restored from the
                        // string's image (same addresses, same layout), and
                        // `target` is the checkpointable call's own entry or
                        // a resume function taking the same arguments.
                        unsafe { crate::resume::resume_at(record as usize, target) }
                    }
                }
            },
        ));
    }

    /// Runs the task until it yields, parks or ends.
    ///
    /// Only the driver that set the state to RUNNING may call this.
    pub(crate) fn run_slice(&self) -> SliceEnd {
        // SAFETY: the caller holds the task in state RUNNING: no one else
        // touches the body.
        let body = unsafe { &mut *self.body.get() };
        if body.pending.is_some() && self.ctx.stop_requested.load(Ordering::Acquire) {
            // Asked to stop before it ever ran: it ends without running.
            body.pending = None;
            *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(Outcome::Stopped);
            body.phase = Phase::Done;
            return SliceEnd::Done;
        }
        if let Some((entry, size)) = body.pending.take() {
            self.began.store(true, Ordering::Release);
            let stack = match body.stack_at {
                Some((low, usable)) => FiberStack::at(low, usable),
                None => FiberStack::new(size),
            }
            .map_err(|e| e.to_string());
            match stack {
                Ok(stack) => self.make_fiber(body, entry, stack),
                Err(e) => {
                    let _rt = crate::ctx::RuntimeSection::enter();
                    eprintln!(
                        "weaves: string `{}`: cannot make its stack: {e}",
                        self.ctx.info.name
                    );
                    *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Outcome::Exited(125));
                    body.phase = Phase::Done;
                    return SliceEnd::Done;
                }
            }
        }
        let _enter = Enter::new(&self.ctx);
        loop {
            let Some(fiber) = body.fiber.as_mut() else {
                return SliceEnd::Done;
            };
            // The sequence count goes odd before the fiber writes its stack
            // and even once it stopped (plain stores: only this driver
            // writes it).
            let seq = self.resumes.load(Ordering::Relaxed);
            self.resumes.store(seq + 1, Ordering::Relaxed);
            std::sync::atomic::fence(Ordering::Release);
            let result = fiber.resume(());
            self.resumes.store(seq + 2, Ordering::Release);
            match result {
                CoroutineResult::Yield(Suspend::Yield) => return SliceEnd::Yield,
                CoroutineResult::Yield(Suspend::Park) => return SliceEnd::Park,
                CoroutineResult::Yield(Suspend::Exit(value)) => {
                    // SAFETY: `exit` abandons the fiber's frames, as C's exit
                    // abandons the program's: they are bead frames (nothing to
                    // drop) and interposed functions that hold nothing needing
                    // Drop when they suspend.
                    unsafe { fiber.force_reset() };
                    self.end_phase(body, Outcome::Exited(value));
                }
                CoroutineResult::Yield(Suspend::Return(value)) => {
                    // SAFETY: the entry returned into `fiber_base`, which
                    // holds nothing; the coroutine's own frames above it are
                    // abandoned like an exit's.
                    unsafe { fiber.force_reset() };
                    self.end_phase(body, Outcome::Returned(value));
                }
                CoroutineResult::Yield(Suspend::Stop) => {
                    // SAFETY: stop points hold nothing needing Drop (see
                    // `stop_point`); the frames are abandoned as for exit.
                    unsafe { fiber.force_reset() };
                    self.end_phase(body, Outcome::Stopped);
                }
                CoroutineResult::Return(value) => self.end_phase(body, Outcome::Returned(value)),
            }
            if body.phase == Phase::Done {
                return SliceEnd::Done;
            }
        }
    }

    /// After the entry ends: record the outcome and run the string's
    /// thread-exit handlers on a fresh fiber (they are bead code and may
    /// use the string's TLS). After those: done.
    /// Takes the finished task's stack back (for reuse).
    pub(crate) fn take_stack(&self) -> Option<FiberStack> {
        // SAFETY: called by the driver that ran the task to its end: no one
        // else touches the body.
        let body = unsafe { &mut *self.body.get() };
        body.stack.take()
    }

    fn end_phase(&self, body: &mut Body, outcome: Outcome) {
        let fiber = body.fiber.take().expect("a fiber while running");
        match body.phase {
            Phase::Main if !self.ctx.has_thread_exit_handlers() => {
                // Nothing of bead code left to run: free the TLS blocks here
                // instead of on a second fiber.
                *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                crate::tls::release_blocks(&self.ctx);
                body.stack = Some(fiber.into_stack());
                self.ctx.yielder.set(std::ptr::null());
                body.phase = Phase::Done;
            }
            Phase::Main => {
                *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                let stack = fiber.into_stack();
                let ctx_p = Arc::as_ptr(&self.ctx);
                body.fiber = Some(Coroutine::with_stack(
                    stack,
                    move |y: &Yielder<(), Suspend>, ()| {
                        // SAFETY: as for the main fiber.
                        let ctx = unsafe { &*ctx_p };
                        ctx.yielder.set(y);
                        // The handlers are the string's code: they run with
                        // what the switch hooks give it (its locale, its
                        // libgomp state).
                        crate::ctx::run_switch_hook(ctx, true);
                        ctx.finish();
                        crate::ctx::run_switch_hook(ctx, false);
                        0
                    },
                ));
                body.phase = Phase::Finish;
            }
            Phase::Finish | Phase::Done => {
                body.stack = Some(fiber.into_stack());
                self.ctx.yielder.set(std::ptr::null());
                body.phase = Phase::Done;
            }
        }
    }

    /// Marks the task finished and wakes whoever waits for it.
    pub(crate) fn complete(&self) {
        {
            let _g = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
            self.state.store(DONE, Ordering::Release);
            if self.waited.load(Ordering::Acquire) {
                self.done.notify_all();
            }
        }
        let joiners = std::mem::take(&mut *self.joiners.lock().unwrap_or_else(|e| e.into_inner()));
        for j in joiners {
            j.wake();
        }
    }

    /// Waits, blocking the calling thread, until the task is woken or
    /// `deadline` passes: a park for a fiber that holds its worker (see
    /// `hold`), which stays RUNNING meanwhile, so a wake turns it NOTIFIED.
    /// May return spuriously, as a park may.
    pub(crate) fn park_here(&self, deadline: Option<std::time::Instant>) {
        let mut g = self.parker.0.lock().unwrap_or_else(|e| e.into_inner());
        self.held_wait.store(true, Ordering::SeqCst);
        loop {
            if self
                .state
                .compare_exchange(NOTIFIED, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                break;
            }
            match deadline {
                None => g = self.parker.1.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        break;
                    }
                    g = self
                        .parker
                        .1
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        self.held_wait.store(false, Ordering::SeqCst);
    }

    /// Makes a parked task runnable again (see the state diagram).
    pub fn wake(self: &Arc<Self>) {
        loop {
            match self.state.load(Ordering::Acquire) {
                PARKED => {
                    if self
                        .state
                        .compare_exchange(PARKED, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        match self.mode {
                            Mode::Fiber => Scheduler::push_to(&self.sched, self.clone()),
                            Mode::Thread => {
                                let _g = self.parker.0.lock().unwrap_or_else(|e| e.into_inner());
                                self.parker.1.notify_all();
                            }
                        }
                        return;
                    }
                }
                RUNNING => {
                    // Sequentially consistent, with the flag's load after it:
                    // `park_here` sets the flag, then looks at the state.
                    if self
                        .state
                        .compare_exchange(RUNNING, NOTIFIED, Ordering::SeqCst, Ordering::Acquire)
                        .is_ok()
                    {
                        if self.held_wait.load(Ordering::SeqCst) {
                            let _g = self.parker.0.lock().unwrap_or_else(|e| e.into_inner());
                            self.parker.1.notify_all();
                        }
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// `wake` for the scheduler's timers: returns true if the caller must
    /// put the task in the run queue itself (a parked fiber), which lets it
    /// queue many tasks at once.
    pub(crate) fn wake_for_batch(self: &Arc<Self>) -> bool {
        if self.mode == Mode::Fiber
            && self
                .state
                .compare_exchange(PARKED, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return true;
        }
        self.wake();
        false
    }

    /// The scheduler running this task, while it exists.
    pub fn scheduler(&self) -> Option<Arc<Scheduler>> {
        self.sched.upgrade()
    }

    /// Time the string has spent running.
    pub fn cpu_time(&self) -> std::time::Duration {
        crate::cputime::to_duration(self.cpu_ticks.load(Ordering::Relaxed))
    }

    /// Asks for the cache lines of the task itself: the first step of
    /// warming the caches for a string about to run (see `prefetch`).
    pub(crate) fn prefetch_task(self: &Arc<Self>) {
        // The Arc's counts sit just before the task.
        let start = Arc::as_ptr(self) as usize - 2 * std::mem::size_of::<usize>();
        let len = std::mem::size_of::<Task>() + 2 * std::mem::size_of::<usize>();
        crate::prefetch::lines(start, len.div_ceil(64));
    }

    /// Asks for the lines the string touches as it resumes: its context
    /// and the top of the frames it suspended in. Reads the task (warmed by
    /// [`Task::prefetch_task`] a string earlier).
    pub(crate) fn prefetch_state(&self) {
        let ctx = Arc::as_ptr(&self.ctx) as usize;
        crate::prefetch::lines(ctx, std::mem::size_of::<ExecCtx>().div_ceil(64));
        let sp = self.suspended_sp.load(Ordering::Relaxed);
        if sp != 0 {
            crate::prefetch::lines(sp - 256, 12);
        }
    }

    /// Adds a slice that began at counter value `began`.
    /// Returns the counter's value now (the slice's end).
    pub(crate) fn add_cpu_since(&self, began: u64) -> u64 {
        let now = crate::cputime::ticks();
        self.cpu_ticks
            .fetch_add(now.saturating_sub(began), Ordering::Relaxed);
        now
    }

    /// `"queued"`, `"running"`, `"parked"`, `"done"` or `"stopped"`.
    pub fn state_name(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            QUEUED => "queued",
            RUNNING | NOTIFIED => "running",
            PARKED => "parked",
            _ if self.outcome() == Some(Outcome::Stopped) => "stopped",
            _ => "done",
        }
    }

    /// Asks the string to end at its next safe point (an interposed call,
    /// or waking from a sleep or a message wait) and wakes it if it waits.
    pub fn request_stop(self: &Arc<Self>) {
        self.ctx.stop_requested.store(true, Ordering::Release);
        self.wake();
    }

    /// Whether the string has begun to run.
    pub fn started(&self) -> bool {
        self.began.load(Ordering::Acquire)
    }

    /// What the string was launched with: its entry and stack size.
    pub fn launched(&self) -> (Entry, usize) {
        self.launched
    }

    /// Whether the string has ended.
    pub fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Blocks the calling OS thread until the string ends.
    pub fn wait(&self) -> Outcome {
        let mut g = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.is_done() {
                return g.expect("a finished task has an outcome");
            }
            self.waited.store(true, Ordering::Release);
            g = self.done.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The outcome, once the string has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        if self.is_done() {
            *self.outcome.lock().unwrap_or_else(|e| e.into_inner())
        } else {
            None
        }
    }

    /// Registers `waiter` to be woken when this task ends; false if it has
    /// ended already.
    pub fn add_joiner(&self, waiter: Arc<Task>) -> bool {
        let mut j = self.joiners.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_done() {
            return false;
        }
        j.push(waiter);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::packed_argv;
    use std::ffi::{CStr, CString};

    #[test]
    fn packed_argv_is_a_null_terminated_array_of_its_strings() {
        let args: Vec<CString> = ["prog", "", "a longer argument with spaces"]
            .iter()
            .map(|a| CString::new(*a).unwrap())
            .collect();
        let block = packed_argv(&args);
        let argv = block.as_ptr() as *const *const libc::c_char;
        for (i, a) in args.iter().enumerate() {
            // SAFETY: slot i of the array the block begins with.
            let p = unsafe { *argv.add(i) };
            let range = block.as_ptr() as usize..block.as_ptr() as usize + block.len() * 8;
            assert!(
                range.contains(&(p as usize)),
                "argument {i} lies in the block"
            );
            // SAFETY: a NUL-terminated string inside the block.
            assert_eq!(unsafe { CStr::from_ptr(p) }, a.as_c_str());
        }
        // SAFETY: the slot after the last argument.
        assert!(unsafe { *argv.add(args.len()) }.is_null());
        assert!(
            packed_argv(&[]).iter().all(|&w| w == 0),
            "empty argv is one NULL"
        );
    }
}
