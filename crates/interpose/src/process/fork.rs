//! `fork`, `vfork` and `_Fork` from bead code.
//!
//! POSIX semantics: the child continues with the calling string only, and
//! is from then on an ordinary single-threaded process
//! ([`weaves_strings::forked`]): nothing parks, `exit` runs the program's
//! exit handlers (its home bead's, and those of the bead that called
//! `fork`), flushes its streams and ends the child process, `_exit` ends it
//! at once, and `main` returning ends it with its value. `vfork` and
//! `_Fork` are `fork` here: a copy instead of a shared address space, which
//! every program that uses `vfork` correctly (the child only calls `exec`
//! or `_exit`) cannot tell apart.
//!
//! ## Locks across the fork
//!
//! The child has one thread, so a lock another thread held at the moment
//! of the fork would stay held in it forever. The runtime's fork handlers
//! (`pthread_atfork`, registered at start-up, acting only on forks made by
//! bead code) therefore take, inside the C library's `fork`, the locks the
//! child's own paths need, and release them on both sides after:
//!
//! ```text
//!   stdio list lock (as glibc's fork takes it) → stdout → stderr
//!     → the runtime's exit-handler registry
//!       → the heaps of the home and calling beads → arena placement
//! ```
//!
//! The order is the one every other holder of two of them uses, so it
//! cannot deadlock. stdout is flushed while held: what other strings left
//! in its buffer is written once, by the parent, and never again by the
//! child. The child handler then makes the child a forked child.
//!
//! The beads' own fork handlers (`atfork`) run outside the C library's
//! `fork`, before and after it, so they may allocate, print, lock or even
//! park (a contended mutex) without meeting the runtime's locks; a bead's
//! child handler already runs in a forked child, and blocks instead of
//! parking. Locks outside the list above (another bead's heap, a pthread
//! mutex held by another string) may be held in the child forever, as they
//! may be in the child of any multi-threaded program.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};

use weaves_arena::{owner_of, ForkHold, OwnerId};
use weaves_strings::forked::{become_forked_child, in_forked_child};
use weaves_strings::{current, RuntimeSection};

use super::{atfork, errno, set_errno, stderr, stdout};

std::arch::global_asm!(
    ".globl weaves_fork",
    ".hidden weaves_fork",
    "weaves_fork:",
    // The caller's return address says which bead's code forks.
    "mov rdi, qword ptr [rsp]",
    "jmp {imp}",
    imp = sym fork_from,
);

extern "C" {
    fn weaves_fork() -> libc::pid_t;
    fn _IO_list_lock();
    fn _IO_list_unlock();
    fn flockfile(stream: *mut libc::FILE);
    fn funlockfile(stream: *mut libc::FILE);
    static mut _IO_list_all: *mut libc::FILE;
}

pub(super) fn lookup(name: &str) -> Option<usize> {
    match name {
        "fork" | "vfork" | "_Fork" | "__fork" => Some(weaves_fork as *const () as usize),
        _ => None,
    }
}

/// In a forked child: the beads whose exit handlers and streams its `exit`
/// runs and flushes (the calling bead, then the home bead; 0 = none).
static CHILD_BEADS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

extern "C" fn fork_from(ret: usize) -> libc::pid_t {
    if in_forked_child() {
        // SAFETY: an ordinary process forking.
        return unsafe { libc::fork() };
    }
    install();
    let caller = owner_of(ret).unwrap_or(0);
    let home = super::home_bead();
    // The beads' own fork handlers run here, outside the C library's fork:
    // they may park (a contended mutex), and nothing may park between
    // setting FORKING and the runtime's handlers reading it.
    let handlers = atfork::snapshot();
    atfork::prepare(&handlers);
    FORKING.with(|f| f.set(Some([caller, home])));
    let pid = {
        // Anything the C library allocates while forking is its own.
        let _rt = RuntimeSection::enter();
        // SAFETY: fork has no preconditions; the runtime's fork handlers
        // hold and release the locks the child needs (see the module docs).
        unsafe { libc::fork() }
    };
    let err = errno();
    FORKING.with(|f| f.set(None));
    if pid == 0 {
        // A forked child already (the child handler made it one).
        atfork::child(&handlers);
    } else {
        atfork::parent(&handlers);
        if pid > 0 {
            super::wait::adopt(pid, home);
        }
    }
    set_errno(err);
    pid
}

thread_local! {
    /// Set while bead code on this thread forks: the calling and home
    /// beads. Forks the runtime itself makes leave it unset, and the fork
    /// handlers then do nothing.
    static FORKING: Cell<Option<[OwnerId; 2]>> = const { Cell::new(None) };
    /// The locks held from the prepare handler to the parent or child one,
    /// and the beads the child belongs to.
    static HELD: RefCell<Option<(Held, [OwnerId; 2])>> = const { RefCell::new(None) };
}

/// Registers the runtime's fork handlers with the C library, once (at
/// start-up). They act only on forks made by bead code.
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering three handlers with no preconditions.
        let r = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        assert_eq!(
            r, 0,
            "pthread_atfork: cannot register the runtime's fork handlers"
        );
    });
}

extern "C" fn prepare() {
    if let Some(beads) = FORKING.with(Cell::get) {
        let held = Held::take(beads);
        HELD.with(|h| *h.borrow_mut() = Some((held, beads)));
    }
}

extern "C" fn parent() {
    if let Some((held, _)) = HELD.with(|h| h.borrow_mut().take()) {
        held.release(Side::Parent);
    }
}

extern "C" fn child() {
    let Some((held, [caller, home])) = HELD.with(|h| h.borrow_mut().take()) else {
        return;
    };
    held.release(Side::Child);
    CHILD_BEADS[0].store(caller, Ordering::Relaxed);
    CHILD_BEADS[1].store(home, Ordering::Relaxed);
    become_forked_child(child_exit);
    super::spawn::default_sigpipe_here();
}

#[derive(PartialEq, Eq)]
enum Side {
    Parent,
    Child,
}

/// The locks a forked child needs, held by the forking thread.
struct Held {
    arena: ForkHold,
    handlers: std::sync::MutexGuard<'static, crate::exit::Registry>,
}

impl Held {
    fn take(beads: [OwnerId; 2]) -> Held {
        // SAFETY: glibc's stdio list lock and the recursive locks of the
        // standard streams, taken in the order glibc's own `fflush(NULL)`
        // takes them (list, then each stream); flushing a locked stream
        // from its owner is allowed (the lock is recursive).
        unsafe {
            _IO_list_lock();
            flockfile(stdout);
            flockfile(stderr);
            libc::fflush(stdout);
        }
        Held {
            handlers: crate::exit::hold_handlers(),
            arena: ForkHold::take(beads),
        }
    }

    fn release(self, side: Side) {
        let Held { arena, handlers } = self;
        drop(arena);
        drop(handlers);
        // SAFETY: releasing what `take` locked, on this thread (the child's
        // one thread is the forking thread's copy, owner of the same locks).
        // In the child glibc's fork has already reset the list lock.
        unsafe {
            funlockfile(stderr);
            funlockfile(stdout);
            if side == Side::Parent {
                _IO_list_unlock();
            }
        }
    }
}

/// `exit` in a forked child: the calling string's thread-exit handlers,
/// then the exit handlers of its beads (calling bead, then home bead), its
/// streams flushed, and the process ends.
fn child_exit(status: i32) -> ! {
    if let Some(ctx) = current() {
        ctx.finish();
    }
    let beads = child_beads();
    for &bead in beads.iter().filter(|&&b| b != 0) {
        crate::exit::set_exit_status(bead, status);
        crate::exit::finalize_bead(bead);
    }
    flush_streams_of(&beads);
    // SAFETY: ending the child process; everything it owed was done above.
    unsafe { libc::_exit(status) }
}

fn child_beads() -> [OwnerId; 2] {
    let caller = CHILD_BEADS[0].load(Ordering::Relaxed);
    let home = CHILD_BEADS[1].load(Ordering::Relaxed);
    [caller, if home == caller { 0 } else { home }]
}

/// Offset of `_chain` in glibc's `struct _IO_FILE` (public ABI,
/// `<bits/types/struct_FILE.h>`):
///
/// ```text
///   0  int _flags (+4 padding)
///   8  char *_IO_read_ptr … _IO_save_end   (11 pointers)
///  96  struct _IO_marker *_markers
/// 104  struct _IO_FILE *_chain             next stream of _IO_list_all
/// ```
const FILE_CHAIN: usize = 104;

/// Flushes stdout, stderr and every stream the child's beads opened (their
/// `FILE`s live in those beads' heaps). Streams of other beads are not
/// flushed: their buffered data is the parent's to write, and would
/// otherwise be written twice.
fn flush_streams_of(beads: &[OwnerId; 2]) {
    // SAFETY: the child has one thread and glibc reset the list lock in it;
    // every FILE on the list is a live glibc stream whose `_chain` field
    // lies at FILE_CHAIN.
    unsafe {
        libc::fflush(stdout);
        libc::fflush(stderr);
        let mut fp = _IO_list_all;
        while !fp.is_null() {
            let mine = owner_of(fp as usize).is_some_and(|o| beads.contains(&o));
            if mine {
                libc::fflush(fp);
            }
            fp = *(fp as *const u8).add(FILE_CHAIN).cast::<*mut libc::FILE>();
        }
    }
}
