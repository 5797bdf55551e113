//! The per-string execution context and the thread-local that points at it.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};

use weaves_arena::OwnerId;

/// What a string is, for `wv_*` queries and diagnostics.
#[derive(Clone, Debug)]
pub struct StringInfo {
    pub id: u32,
    pub name: String,
    pub weave: String,
    /// The bead whose entry point the string runs: allocations that system
    /// libraries make on the string's behalf land in this bead's heap.
    pub home: OwnerId,
}

/// Why a fiber gives its thread back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspend {
    /// Still runnable: put it back in the run queue.
    Yield,
    /// Waiting: it registered itself with whatever will wake it (a timer, a
    /// lock's wait list, the I/O reactor) before suspending.
    Park,
    /// Bead code called `exit` (or `pthread_exit`) with this value: the
    /// string ends.
    Exit(i64),
    /// The entry returned this value: the string ends.
    Return(i64),
    /// The string was asked to stop (`Task::request_stop`) and reached a
    /// safe point: it ends.
    Stop,
}

pub(crate) type Yield = *const corosensei::Yielder<(), Suspend>;

/// State that belongs to one running string.
pub struct ExecCtx {
    pub info: StringInfo,
    argv: Vec<CString>,
    /// The string's own environment; `None`: the process's (initialisers and
    /// finalisers run with it).
    env: Mutex<Option<Vec<CString>>>,
    /// Values replaced or removed by `setenv`/`unsetenv`: kept until the
    /// string ends, because C code may still hold what `getenv` returned.
    retired: Mutex<Vec<CString>>,
    pub(crate) tls: RefCell<Vec<(u64, *mut u8)>>,
    /// Where `%gs` points while this string runs (the end of its TLS block
    /// for a home bead whose code reaches thread-locals through `%gs`), or
    /// [`crate::tls::GS_UNKNOWN`] / [`crate::tls::GS_NONE`].
    pub(crate) gs_base: Cell<u64>,
    thread_exit: RefCell<Vec<(usize, usize)>>,
    pub(crate) yielder: Cell<Yield>,
    /// Bounds (guard included) of the fiber stack the string runs on.
    pub(crate) stack: Cell<(usize, usize)>,
    /// The scheduler task running this context (null for initialisers and
    /// finalisers, which are not scheduled).
    pub(crate) task: Cell<*const crate::task::Task>,
    /// `errno` of the string while it is suspended (errno belongs to the OS
    /// thread; a fiber may resume on another one).
    errno: Cell<i32>,
    /// A preemption tick arrived where switching was not safe: yield at the
    /// next interposed call.
    pub preempt_pending: std::sync::atomic::AtomicBool,
    /// Strings made by `pthread_create` share this string's weave (and its
    /// beads): preempted in their program's own code only where the runtime
    /// is not running beneath it (see `interpose::preempt`).
    pub has_siblings: std::sync::atomic::AtomicBool,
    /// Set by `Task::request_stop`: end at the next safe point.
    pub stop_requested: std::sync::atomic::AtomicBool,
    /// Nonzero while the string runs native code that a Wasm engine
    /// called (the engine keeps per-thread state across the call): a
    /// preemption tick then waits for the next interposed call.
    pub holds_worker: std::sync::atomic::AtomicU32,
    /// While inside a checkpointable call: where its boundary record is on
    /// the stack and the function a restored string enters instead of the
    /// call (see `resume`); (0, 0) elsewhere.
    pub(crate) boundary: Cell<(usize, u64)>,
    /// The beads of the string's weave, if known: the only beads whose
    /// code the string can run, so the only ones a fault of the string can
    /// be blamed on. Set before the string starts, then only read (also by
    /// the fault handler).
    weave_beads: Option<Arc<[OwnerId]>>,
    /// The string's signal mask (bit `sig - 1`), as `sigprocmask` sets it:
    /// signals blocked here stay pending until unblocked. Per string, as a
    /// thread's mask is per thread.
    pub sig_mask: std::sync::atomic::AtomicU64,
    /// Signals sent to this string alone (`raise`, `pthread_kill`, or a
    /// bead signal it took while blocked), delivered at its next safe point.
    pub sig_pending: std::sync::atomic::AtomicU64,
    /// While a signal handler runs on the string: (1, the mask to restore
    /// when it is left, by returning or by a long jump); (0, _) otherwise.
    pub sig_handler: std::sync::Mutex<(usize, u64)>,
    /// Its part in hot-swaps under way (see `mediation`).
    pub mediation: crate::mediation::Mediation,
    /// The C library locale the string chose with `uselocale` (a
    /// `locale_t`; 0: none, it follows its program's). Kept by the
    /// runtime's locale functions, installed on the worker by the switch
    /// hook (see [`set_switch_hook`]).
    pub locale: std::sync::atomic::AtomicUsize,
    /// The string's copy of a system library's per-thread block (libgomp's
    /// thread state), swapped with the worker's by a switch hook while
    /// the string runs; `None` while it never held anything but the
    /// library's initial image.
    pub carried_tls: RefCell<Option<Box<[u8]>>>,
}

// SAFETY: an ExecCtx is only touched by the thread currently driving its
// fiber (the RefCells and Cells), except `env`, which has its own lock.
unsafe impl Sync for ExecCtx {}
// SAFETY: as above; the raw pointers are arena addresses, valid anywhere.
unsafe impl Send for ExecCtx {}

thread_local! {
    static CURRENT: Cell<*const ExecCtx> = const { Cell::new(std::ptr::null()) };
    static ACTING: Cell<OwnerId> = const { Cell::new(0) };
}

impl ExecCtx {
    pub fn new(info: StringInfo, env: Option<Vec<CString>>) -> ExecCtx {
        ExecCtx {
            info,
            argv: Vec::new(),
            env: Mutex::new(env),
            retired: Mutex::new(Vec::new()),
            tls: RefCell::new(Vec::new()),
            gs_base: Cell::new(crate::tls::GS_UNKNOWN),
            thread_exit: RefCell::new(Vec::new()),
            yielder: Cell::new(std::ptr::null()),
            stack: Cell::new((0, 0)),
            task: Cell::new(std::ptr::null()),
            errno: Cell::new(0),
            preempt_pending: std::sync::atomic::AtomicBool::new(false),
            has_siblings: std::sync::atomic::AtomicBool::new(false),
            stop_requested: std::sync::atomic::AtomicBool::new(false),
            holds_worker: std::sync::atomic::AtomicU32::new(0),
            boundary: Cell::new((0, 0)),
            weave_beads: None,
            sig_mask: std::sync::atomic::AtomicU64::new(0),
            sig_pending: std::sync::atomic::AtomicU64::new(0),
            sig_handler: std::sync::Mutex::new((0, 0)),
            mediation: Default::default(),
            locale: std::sync::atomic::AtomicUsize::new(0),
            carried_tls: RefCell::new(None),
        }
    }

    /// Gives the string the beads of its weave.
    pub fn with_weave_beads(mut self, beads: Arc<[OwnerId]>) -> ExecCtx {
        self.weave_beads = Some(beads);
        self
    }

    /// The beads of the string's weave, if known.
    pub fn weave_beads(&self) -> Option<&Arc<[OwnerId]>> {
        self.weave_beads.as_ref()
    }

    /// Gives the string its command line (`argv[0]` first).
    pub fn with_args(mut self, argv: Vec<CString>) -> ExecCtx {
        self.argv = argv;
        self
    }

    /// The string's command line.
    pub fn args(&self) -> &[CString] {
        &self.argv
    }

    /// `getenv` for this string: a pointer into the string's own environment,
    /// valid until the string ends (even if the variable changes); `None` if
    /// the string uses the process's environment.
    pub fn getenv(&self, name: &CStr) -> Option<*const libc::c_char> {
        let env = self.env.lock().unwrap_or_else(|e| e.into_inner());
        let env = env.as_ref()?;
        let name = name.to_bytes();
        for kv in env.iter() {
            let b = kv.as_bytes();
            if b.len() > name.len() && b[name.len()] == b'=' && &b[..name.len()] == name {
                // SAFETY: the offset is within the CString, after the '='.
                return Some(unsafe { kv.as_ptr().add(name.len() + 1) });
            }
        }
        Some(std::ptr::null())
    }

    /// `setenv`/`unsetenv` for this string (`value = None` removes). A
    /// string reading the process's environment gets a private copy of it
    /// first (copy on write). Returns false for contexts that are not
    /// strings (initialisers and finalisers change the process's).
    pub fn setenv(&self, name: &CStr, value: Option<&CStr>, overwrite: bool) -> bool {
        if self.info.id == 0 {
            return false;
        }
        let mut env = self.env.lock().unwrap_or_else(|e| e.into_inner());
        let env = env.get_or_insert_with(process_environment);
        let n = name.to_bytes();
        let pos = env.iter().position(|kv| {
            let b = kv.as_bytes();
            b.len() > n.len() && b[n.len()] == b'=' && &b[..n.len()] == n
        });
        match (pos, value) {
            (Some(_), Some(_)) if !overwrite => {}
            (Some(i), None) => {
                let old = env.remove(i);
                self.retired
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(old);
            }
            (pos, Some(v)) => {
                let mut kv = n.to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.to_bytes());
                let kv = CString::new(kv).expect("no interior NUL: built from C strings");
                match pos {
                    Some(i) => {
                        let old = std::mem::replace(&mut env[i], kv);
                        self.retired
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(old);
                    }
                    None => env.push(kv),
                }
            }
            (None, None) => {}
        }
        true
    }

    /// A `NULL`-terminated copy of the string's environment as C pointers,
    /// kept alive by the returned vectors; `None` for the process's.
    pub fn environ_block(&self) -> Option<(Vec<CString>, Vec<*const libc::c_char>)> {
        let env = self.env.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let mut ptrs: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Some((env, ptrs))
    }

    /// `errno` as the string last left it (meaningful while it is
    /// suspended).
    pub fn saved_errno(&self) -> i32 {
        self.errno.get()
    }

    /// Sets the `errno` the string sees when it next runs.
    pub fn set_saved_errno(&self, value: i32) {
        self.errno.set(value);
    }

    /// The string's TLS blocks: (TLS module id, block address).
    pub fn tls_blocks(&self) -> Vec<(u64, usize)> {
        self.tls
            .borrow()
            .iter()
            .map(|&(m, b)| (m, b as usize))
            .collect()
    }

    /// Gives a restored string the TLS blocks it had.
    pub fn set_tls_blocks(&self, blocks: &[(u64, usize)]) {
        *self.tls.borrow_mut() = blocks.iter().map(|&(m, b)| (m, b as *mut u8)).collect();
    }

    /// Thread-exit handlers registered so far: (function, argument).
    pub fn thread_exit_handlers(&self) -> Vec<(usize, usize)> {
        self.thread_exit.borrow().clone()
    }

    /// Gives a restored string the thread-exit handlers it had.
    pub fn set_thread_exit_handlers(&self, handlers: Vec<(usize, usize)>) {
        *self.thread_exit.borrow_mut() = handlers;
    }

    /// The string's own environment, if it has one.
    pub fn own_environment(&self) -> Option<Vec<CString>> {
        self.env.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Where the string is caught for a checkpoint: its boundary record and
    /// resume target; (0, 0) when not at a boundary.
    pub fn boundary(&self) -> (usize, u64) {
        self.boundary.get()
    }

    /// Lowest and highest address of the fiber stack the string runs on
    /// (the lowest granule is its guard); (0, 0) when not on a fiber.
    pub fn stack_bounds(&self) -> (usize, usize) {
        self.stack.get()
    }

    /// Whether this context runs on a scheduled fiber (not a thread-mode
    /// string, an initialiser or a finaliser).
    pub fn on_scheduled_fiber(&self) -> bool {
        let t = self.task.get();
        // SAFETY: a non-null `task` is the live task that owns this context.
        !t.is_null() && unsafe { &*t }.mode == crate::task::Mode::Fiber
    }

    /// Registers a destructor for this string's thread-local objects
    /// (`__cxa_thread_atexit_impl`).
    /// Whether bead code registered thread-exit handlers (which must run on
    /// a fiber, as bead code).
    pub(crate) fn has_thread_exit_handlers(&self) -> bool {
        !self.thread_exit.borrow().is_empty()
    }

    pub fn on_thread_exit(&self, func: usize, obj: usize) {
        self.thread_exit.borrow_mut().push((func, obj));
    }

    /// Runs thread-exit handlers (latest first, including any registered
    /// while running them) and frees the string's TLS blocks.
    pub fn finish(&self) {
        loop {
            let next = self.thread_exit.borrow_mut().pop();
            let Some((func, obj)) = next else { break };
            // SAFETY: registered by bead code as `void (*)(void *)` with its
            // argument; runs on the string's own fiber or thread, once.
            let f: extern "C" fn(usize) = unsafe { std::mem::transmute(func) };
            f(obj);
        }
        crate::tls::release_blocks(self);
    }
}

/// A copy of the process's environment.
fn process_environment() -> Vec<CString> {
    let mut out = Vec::new();
    let mut p = crate::process_environ();
    // SAFETY: `environ` is a NULL-terminated array of C strings, which the
    // runtime never changes while strings run.
    unsafe {
        while !p.is_null() && !(*p).is_null() {
            out.push(CStr::from_ptr(*p).to_owned());
            p = p.add(1);
        }
    }
    out
}

/// The context of the string running on this thread, if any.
///
/// The reference is valid while that string runs; callers use it within an
/// interposed call made by the string, never store it.
pub fn current() -> Option<&'static ExecCtx> {
    let p = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is set only while the pointed-to ExecCtx is alive and
    // its fiber is being driven by this thread (see `Enter`).
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The bead on whose behalf code running on this thread acts: the current
/// string's home bead, or 0 outside strings and inside [`RuntimeSection`]s.
#[inline]
pub fn acting_bead() -> OwnerId {
    ACTING.with(Cell::get)
}

/// Marks runtime code running inside a string: allocations made by the
/// runtime itself go to the process heap, not to a bead's.
pub struct RuntimeSection {
    saved: OwnerId,
}

impl RuntimeSection {
    pub fn enter() -> RuntimeSection {
        RuntimeSection {
            saved: ACTING.with(|a| a.replace(0)),
        }
    }
}

impl Drop for RuntimeSection {
    fn drop(&mut self) {
        ACTING.with(|a| a.set(self.saved));
    }
}

/// Installs `ctx` as this thread's current context until dropped.
pub(crate) struct Enter {
    saved: (*const ExecCtx, OwnerId),
}

impl Enter {
    pub(crate) fn new(ctx: &ExecCtx) -> Enter {
        let saved = (
            CURRENT.with(|c| c.replace(ctx)),
            ACTING.with(|a| a.replace(ctx.info.home)),
        );
        crate::tls::enter_local_exec(ctx);
        Enter { saved }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.saved.0));
        ACTING.with(|a| a.set(self.saved.1));
    }
}

/// What runs when a string starts or resumes on a worker (`true`) and
/// when it leaves it (`false`): state a system library keeps per OS thread
/// but a string must carry (its locale, libgomp's thread state). 0: none.
static SWITCH_HOOKS: [std::sync::atomic::AtomicUsize; 4] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 4];

/// Adds `hook`, called on the string's fiber each time it starts or
/// resumes (`true`) and before it suspends or ends (`false`). It must not
/// park. Each caller adds its hook once; there is room for four.
pub fn set_switch_hook(hook: fn(&ExecCtx, bool)) {
    use std::sync::atomic::Ordering;
    let added = SWITCH_HOOKS.iter().any(|slot| {
        slot.compare_exchange(0, hook as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    });
    debug_assert!(added, "more than four switch hooks");
}

/// Calls the switch hooks installed.
pub(crate) fn run_switch_hook(ctx: &ExecCtx, entering: bool) {
    for slot in &SWITCH_HOOKS {
        let h = slot.load(std::sync::atomic::Ordering::Acquire);
        if h == 0 {
            return;
        }
        // SAFETY: only `set_switch_hook` stores here, and it stores a
        // `fn(&ExecCtx, bool)`.
        let hook: fn(&ExecCtx, bool) = unsafe { std::mem::transmute(h) };
        hook(ctx, entering);
    }
}

/// Gives the current fiber's thread back for `why`, keeping the string's
/// `errno` across the switch. Returns when the fiber is resumed (never for
/// [`Suspend::Exit`]). Returns at once, doing nothing, outside fibers.
pub(crate) fn suspend(why: Suspend) {
    let Some(ctx) = current() else { return };
    let y = ctx.yielder.get();
    if y.is_null() {
        return;
    }
    run_switch_hook(ctx, false);
    // SAFETY: errno is the calling thread's.
    ctx.errno.set(unsafe { *libc::__errno_location() });
    let task = ctx.task.get();
    if !task.is_null() {
        let here = 0u8;
        // SAFETY: a non-null `task` is the live task running this context
        // (it owns the context).
        unsafe { &*task }.suspended_sp.store(
            std::ptr::addr_of!(here) as usize,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    // SAFETY: the yielder belongs to the fiber running right now on this
    // thread (set when its coroutine started); suspending hands control to
    // the driver that resumed it.
    unsafe { (*y).suspend(why) };
    // Other strings ran on this thread meanwhile: restore the string's errno.
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = ctx.errno.get() };
    run_switch_hook(ctx, true);
}

/// Ends the running string if it was asked to stop. Call only where the
/// caller holds no locks, wait registrations or values needing Drop: the
/// fiber's frames are abandoned, as `exit` abandons them. Returns if no stop
/// was asked, or outside fibers.
pub fn stop_point() {
    let Some(ctx) = current() else { return };
    if ctx.yielder.get().is_null()
        || !ctx
            .stop_requested
            .load(std::sync::atomic::Ordering::Acquire)
        || crate::hold::held_here()
    {
        // A fiber holding its worker stops at a later safe point, once
        // the library state it holds is back at rest.
        return;
    }
    suspend(Suspend::Stop);
    unreachable!("a stopped string was resumed");
}

/// Ends the current string with `status`, as `exit(status)` does for a
/// process. Returns only if no string is running on this thread.
pub fn exit_current(status: i32) {
    exit_current_with(i64::from(status));
}

/// Ends the current string with a pointer-sized value (`pthread_exit`).
/// Returns only if no string is running on this thread.
pub fn exit_current_with(value: i64) {
    let Some(ctx) = current() else { return };
    if ctx.yielder.get().is_null() {
        return;
    }
    // The driver never resumes a fiber that suspended with an exit status:
    // it resets it, so control never comes back here.
    suspend(Suspend::Exit(value));
    unreachable!("a string that exited was resumed");
}
