//! libgomp (OpenMP) for strings.
//!
//! libgomp keeps everything about a thread in an initial-exec thread-local
//! (`gomp_tls_data`: its team, thread pool, ICVs such as
//! `omp_set_num_threads`'s), waits in its barriers, locks, `critical` and
//! thread dock with futex system calls made inline, which no import slot
//! reaches, and starts its team threads with `pthread_create`. So:
//!
//! * **Team threads are thread-mode strings.** A `pthread_create` that
//!   libgomp makes in a string starts a string of the caller's weave with
//!   an OS thread of its own (`syslib`: the rule is the calling module's,
//!   see [`crate::for_system_library`]): `inspect` lists it and the
//!   tapestry counts it, and libgomp's inline waits block only that thread,
//!   as natively.
//! * **A fiber string carries its own libgomp state.** The master of a
//!   team is the program's string, a fiber on a worker that other strings
//!   share. A switch hook swaps libgomp's thread-local block on the worker
//!   with the string's copy ([`weaves_strings::ExecCtx::carried_tls`]) while
//!   the string runs, and puts the worker's own back when it leaves: two
//!   programs whose masters share a worker each have their own team, pool
//!   and ICVs. The block stays where it is (started strings do not move),
//!   so addresses libgomp keeps into it stay the string's.
//! * **A master inside a parallel region holds its worker**
//!   (`omp_get_level() > 0`; see [`weaves_strings::hold`]): its waits block
//!   the worker and ticks do not switch it, because the region's unnamed
//!   `critical` and `atomic` locks are libgomp's, one per process, and a
//!   master switched out holding one would let another program's master
//!   wait for it inline on the same worker, for good.
//! * **A string's thread pool ends with it.** libgomp frees a pool from a
//!   thread-specific-data destructor of the C library when the master's OS
//!   thread ends — here a worker, which outlives every string, so the
//!   pool's threads would wait in their dock forever and the tapestry with
//!   them. When a string that used libgomp ends, the runtime releases its
//!   pool with `omp_pause_resource_all` (libgomp's own way to end the
//!   pool's threads), run as the string, before its other thread-exit
//!   handlers.
//!
//! Taken over only when libgomp's thread-local block is one the runtime can
//! copy (at most [`MAX_BLOCK`] bytes) and it exports `omp_get_level` and
//! `omp_pause_resource_all` (GCC 9 and later); otherwise it is left as it
//! was (team threads are OS threads outside the scheduler).

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use weaves_strings::{ExecCtx, RuntimeSection};

/// The largest thread-local block of libgomp the runtime swaps (GCC 12's
/// is 136 bytes).
const MAX_BLOCK: usize = 512;
/// `omp_pause_hard`.
const OMP_PAUSE_HARD: i32 = 2;
/// glibc's `RTLD_DI_TLS_DATA`.
const RTLD_DI_TLS_DATA: i32 = 10;

struct Gomp {
    /// A `dlopen` handle of libgomp (never closed: it stays loaded).
    handle: usize,
    /// Its thread-local block as a new thread gets it.
    image: Box<[u8]>,
    get_level: unsafe extern "C" fn() -> i32,
    pause_all: unsafe extern "C" fn(i32) -> i32,
}

static GOMP: OnceLock<Option<Gomp>> = OnceLock::new();

thread_local! {
    /// This thread's libgomp block (0: not looked up yet).
    static BLOCK: Cell<usize> = const { Cell::new(0) };
    /// The string whose libgomp state is in this thread's block (null: the
    /// thread's own).
    static INSTALLED: Cell<*const ExecCtx> = const { Cell::new(std::ptr::null()) };
    /// The thread's own state while a string's is installed.
    static OWN: RefCell<[u8; MAX_BLOCK]> = const { RefCell::new([0; MAX_BLOCK]) };
}

/// Whether the runtime takes libgomp (loaded as `library`, its file name)
/// over; looks once.
pub(crate) fn take_over(library: &str) -> bool {
    GOMP.get_or_init(|| {
        let g = open(library)?;
        weaves_strings::set_switch_hook(on_switch);
        weaves_strings::hold::set_hold_hook(holds);
        Some(g)
    })
    .is_some()
}

fn open(library: &str) -> Option<Gomp> {
    let name = CString::new(library).ok()?;
    // SAFETY: dlopen with RTLD_NOLOAD only finds the loaded library (the
    // tapestry loaded it); the handle is kept for as long as it stays loaded.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return None;
    }
    let symbol = |s: &CStr| {
        // SAFETY: dlsym with a live handle and a C string only looks up.
        let p = unsafe { libc::dlsym(handle, s.as_ptr()) };
        (!p.is_null()).then_some(p as usize)
    };
    let get_level = symbol(c"omp_get_level")?;
    let pause_all = symbol(c"omp_pause_resource_all")?;
    let image = tls_image(library)?;
    // SAFETY: libgomp's `int omp_get_level(void)` and
    // `int omp_pause_resource_all(omp_pause_resource_t)` (an int enum).
    let (get_level, pause_all) = unsafe {
        (
            std::mem::transmute::<usize, unsafe extern "C" fn() -> i32>(get_level),
            std::mem::transmute::<usize, unsafe extern "C" fn(i32) -> i32>(pause_all),
        )
    };
    Some(Gomp {
        handle: handle as usize,
        image,
        get_level,
        pause_all,
    })
}

/// The initial contents of `library`'s thread-local block (its `PT_TLS`
/// segment: the initialised part, then zeros), if it has one the runtime
/// can swap.
fn tls_image(library: &str) -> Option<Box<[u8]>> {
    struct Found<'a> {
        library: &'a str,
        image: Option<Box<[u8]>>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _: usize,
        data: *mut libc::c_void,
    ) -> i32 {
        // SAFETY: the C library hands a valid record; `data` is our `Found`.
        let (info, found) = unsafe { (&*info, &mut *data.cast::<Found>()) };
        if info.dlpi_name.is_null() {
            return 0;
        }
        // SAFETY: a C string naming a loaded object.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_string_lossy();
        if std::path::Path::new(name.as_ref())
            .file_name()
            .is_none_or(|f| f.to_string_lossy() != found.library)
        {
            return 0;
        }
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: `dlpi_phdr` has `dlpi_phnum` program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_TLS {
                let (mem, file) = (ph.p_memsz as usize, ph.p_filesz as usize);
                if mem == 0 || mem > MAX_BLOCK || file > mem {
                    return 1;
                }
                let mut image = vec![0u8; mem];
                // SAFETY: the segment's initialised part, mapped at the
                // object's base plus its address.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        (info.dlpi_addr + ph.p_vaddr) as *const u8,
                        image.as_mut_ptr(),
                        file,
                    );
                }
                found.image = Some(image.into_boxed_slice());
                return 1;
            }
        }
        1
    }
    let mut found = Found {
        library,
        image: None,
    };
    // SAFETY: the C library's own walk of its loaded objects, with a
    // callback that only reads what it is handed.
    unsafe {
        (crate::real::real().dl_iterate_phdr)(Some(each), (&mut found as *mut Found).cast());
    }
    found.image
}

fn gomp() -> Option<&'static Gomp> {
    GOMP.get().and_then(Option::as_ref)
}

/// This thread's libgomp block.
fn block(g: &Gomp) -> Option<*mut u8> {
    let known = BLOCK.with(Cell::get);
    if known != 0 {
        return Some(known as *mut u8);
    }
    let mut at: *mut libc::c_void = std::ptr::null_mut();
    // SAFETY: dlinfo with a live handle writes the address of the calling
    // thread's block of that library (static TLS: every thread has one).
    let r = unsafe {
        libc::dlinfo(
            g.handle as *mut libc::c_void,
            RTLD_DI_TLS_DATA,
            (&mut at as *mut *mut libc::c_void).cast(),
        )
    };
    if r != 0 || at.is_null() {
        return None;
    }
    BLOCK.with(|b| b.set(at as usize));
    Some(at.cast())
}

/// The switch hook: a fiber string's libgomp state on its worker while it
/// runs there, the worker's own otherwise. Thread-mode strings keep their
/// thread's block (nobody else uses it, and team threads' blocks are
/// written by their master while they wait).
fn on_switch(ctx: &ExecCtx, entering: bool) {
    let Some(g) = gomp() else { return };
    if !ctx.on_scheduled_fiber() {
        return;
    }
    let Some(at) = block(g) else { return };
    let n = g.image.len();
    let me = ctx as *const ExecCtx;
    // SAFETY: `at` is this thread's libgomp block, `n` bytes, which only
    // this thread's code (libgomp's, ours) touches while a fiber runs here;
    // `n` is at most MAX_BLOCK.
    let live = unsafe { std::slice::from_raw_parts_mut(at, n) };
    if entering {
        let before = INSTALLED.with(|i| i.replace(me));
        if before == me {
            return;
        }
        if before.is_null() {
            OWN.with_borrow_mut(|own| own[..n].copy_from_slice(live));
        }
        // (A string that ended installed left its state here: the
        // thread's own was saved before it and stays as it was.)
        match ctx.carried_tls.borrow().as_deref() {
            Some(carried) => live.copy_from_slice(carried),
            None => live.copy_from_slice(&g.image),
        }
        return;
    }
    if INSTALLED.with(Cell::get) != me {
        return;
    }
    INSTALLED.with(|i| i.set(std::ptr::null()));
    let mut carried = ctx.carried_tls.borrow_mut();
    match carried.as_mut() {
        Some(c) => c.copy_from_slice(live),
        None if *live == *g.image => {}
        None => {
            let _rt = RuntimeSection::enter();
            *carried = Some(Box::from(&*live));
            // Its pool's threads end with it (see the module docs).
            ctx.on_thread_exit(release_pool as *const () as usize, 0);
        }
    }
    OWN.with_borrow(|own| live.copy_from_slice(&own[..n]));
}

/// The hold hook: whether the string `ctx` (running on this thread) is
/// inside a parallel region. A fiber then keeps its worker; any string
/// stops only once out of it (its team waits for it at the region's end).
fn holds(ctx: &ExecCtx) -> bool {
    let Some(g) = gomp() else { return false };
    if ctx.on_scheduled_fiber() && !std::ptr::eq(INSTALLED.with(Cell::get), ctx) {
        return false;
    }
    // SAFETY: libgomp's `omp_get_level`, reading this thread's block: the
    // fiber's own state installed there, or a thread-mode string's thread's.
    unsafe { (g.get_level)() > 0 }
}

/// A thread-exit handler of a string that used libgomp: ends its thread
/// pool's threads (its state is installed: the handlers run as the string).
extern "C" fn release_pool(_: usize) {
    if let Some(g) = gomp() {
        // SAFETY: libgomp's `omp_pause_resource_all`, called by the string
        // that owns the pool, outside any parallel region (it refuses
        // otherwise, leaving the pool as it is).
        unsafe { (g.pause_all)(OMP_PAUSE_HARD) };
    }
}
