//! Pages: the home's directory (who may read, who writes) and what a node
//! does to its own copy.
//!
//! Every arena address has a home node (its span's; the program's data and
//! bss are in node 0's). The home keeps, per page it was asked about, the
//! writer (at most one) and the readers, and serves one request per page
//! at a time: a second waits in the page's queue until the first is
//! granted. The home's own mapping of the page holds its contents whenever
//! no other node writes it; the runtime reads and writes page contents
//! through `/proc/self/mem`, whatever the mapping's protection.

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::node::{node, Outbox};
use crate::wire::Msg;

/// Coherence granule: one page.
pub const PAGE: u64 = 4096;

fn bit(n: u32) -> u64 {
    1 << n
}

struct Busy {
    from: u32,
    write: bool,
    /// Answers (flushes, invalidation acknowledgements) still to come.
    waiting: u32,
}

struct Home {
    writer: Option<u32>,
    readers: u64,
    busy: Option<Busy>,
    queue: VecDeque<(u32, bool)>,
}

/// The directory of the pages homed on this node.
pub(crate) struct Pages {
    me: u32,
    homes: HashMap<u64, Home>,
}

impl Pages {
    pub(crate) fn new(me: u32) -> Pages {
        Pages {
            me,
            homes: HashMap::new(),
        }
    }

    fn home(&mut self, page: u64) -> &mut Home {
        let me = self.me;
        // A page nobody asked about yet is the home's alone, writable.
        self.homes.entry(page).or_insert_with(|| Home {
            writer: Some(me),
            readers: bit(me),
            busy: None,
            queue: VecDeque::new(),
        })
    }

    /// Node `from` faulted on `page`.
    pub(crate) fn fetch(&mut self, from: u32, page: u64, write: bool, out: &mut Outbox) {
        let h = self.home(page);
        if h.busy.is_some() {
            h.queue.push_back((from, write));
            return;
        }
        self.start(page, from, write, out);
    }

    fn start(&mut self, page: u64, from: u32, write: bool, out: &mut Outbox) {
        let me = self.me;
        let h = self.home(page);
        let mut waiting = 0;
        let mut recalled = None;
        match h.writer {
            Some(w) if w != from && w == me => {
                protect(page, if write { Prot::None } else { Prot::Read });
                h.writer = None;
                if write {
                    h.readers &= !bit(me);
                }
            }
            Some(w) if w != from => {
                out.push((
                    w,
                    Msg::Recall {
                        page,
                        keep_read: !write,
                    },
                ));
                recalled = Some(w);
                waiting += 1;
            }
            _ => {}
        }
        if write && h.writer != Some(from) {
            for c in 0..64u32 {
                if h.readers & bit(c) == 0 || c == from || Some(c) == recalled {
                    continue;
                }
                h.readers &= !bit(c);
                if c == me {
                    protect(page, Prot::None);
                } else {
                    out.push((c, Msg::Invalidate { page }));
                    waiting += 1;
                }
            }
        }
        h.busy = Some(Busy {
            from,
            write,
            waiting,
        });
        if waiting == 0 {
            self.finish(page, out);
        }
    }

    /// The writer `from` sent `page` back.
    pub(crate) fn flushed(&mut self, from: u32, page: u64, data: Vec<u8>, out: &mut Outbox) {
        mem_write(page, &data);
        let h = self.home(page);
        h.writer = None;
        let write = h.busy.as_ref().is_some_and(|b| b.write);
        if write {
            h.readers &= !bit(from);
        } else {
            h.readers |= bit(from);
        }
        self.answered(page, out);
    }

    /// A reader dropped its copy of `page`.
    pub(crate) fn acked(&mut self, page: u64, out: &mut Outbox) {
        self.answered(page, out);
    }

    fn answered(&mut self, page: u64, out: &mut Outbox) {
        let h = self.home(page);
        if let Some(b) = h.busy.as_mut() {
            b.waiting = b.waiting.saturating_sub(1);
            if b.waiting == 0 {
                self.finish(page, out);
            }
        }
    }

    fn finish(&mut self, page: u64, out: &mut Outbox) {
        let me = self.me;
        let h = self.home(page);
        let Some(Busy { from, write, .. }) = h.busy.take() else {
            return;
        };
        // A fault can be stale: another string of the same node obtained
        // the page meanwhile. Its copy is then current (never overwrite it
        // with the home's), and a writer stays the writer.
        let was_writer = h.writer == Some(from);
        let current = was_writer || h.readers & bit(from) != 0;
        let write = write || was_writer;
        if from == me {
            install(page, write, None);
        } else {
            let data = (!current).then(|| mem_read(page));
            out.push((from, Msg::Grant { page, write, data }));
        }
        if write {
            h.writer = Some(from);
            h.readers = bit(from);
        } else {
            h.readers |= bit(from);
        }
        if let Some((next, w)) = h.queue.pop_front() {
            self.start(page, next, w, out);
        }
    }
}

// ---- this node's copies -----------------------------------------------------

#[derive(Clone, Copy)]
pub(crate) enum Prot {
    None,
    Read,
    ReadWrite,
}

pub(crate) fn protect(page: u64, prot: Prot) {
    protect_pages(page, 1, prot)
}

/// [`protect`] for `pages` consecutive pages from `first`.
pub(crate) fn protect_pages(first: u64, pages: u64, prot: Prot) {
    let p = match prot {
        Prot::None => libc::PROT_NONE,
        Prot::Read => libc::PROT_READ,
        Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
    };
    // SAFETY: the pages are of the arena, which this process reserved
    // whole; changing its protection invalidates no Rust reference (the
    // runtime reaches DSM pages through `/proc/self/mem`, or with volatile
    // loads of pages it holds readable, never through references).
    unsafe { libc::mprotect(first as *mut libc::c_void, (pages * PAGE) as usize, p) };
}

static MEM: OnceLock<std::fs::File> = OnceLock::new();

/// Opens `/proc/self/mem` (before any fault needs it).
pub(crate) fn open_mem() -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")?;
    let _ = MEM.set(f);
    Ok(())
}

fn mem_fd() -> i32 {
    MEM.get().map_or(-1, |f| f.as_raw_fd())
}

/// The page's contents, whatever its protection here.
pub(crate) fn mem_read(page: u64) -> Vec<u8> {
    let mut buf = vec![0u8; PAGE as usize];
    // SAFETY: reads PAGE bytes into a buffer of that size.
    unsafe {
        libc::pread(
            mem_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            page as libc::off_t,
        )
    };
    buf
}

/// Makes the page's contents `data`, whatever its protection here.
pub(crate) fn mem_write(page: u64, data: &[u8]) {
    // SAFETY: writes `data` to this process's own page through the kernel;
    // no Rust reference points into DSM pages.
    unsafe {
        libc::pwrite(
            mem_fd(),
            data.as_ptr().cast(),
            data.len().min(PAGE as usize),
            page as libc::off_t,
        )
    };
}

/// Whether the readable `page` holds `contents` now.
pub(crate) fn same_as(page: u64, contents: &[u8]) -> bool {
    let words = (PAGE as usize / 8).min(contents.len() / 8);
    (0..words).all(|i| {
        // SAFETY: `page` is a page of the arena this node holds readable
        // (the caller's copy of another home's page), so each of its words
        // may be read; other threads of the program may write it at once,
        // which a volatile load tolerates (a stale word only makes the
        // page look written, and its diff says what changed).
        let now = unsafe { std::ptr::read_volatile((page as *const u64).add(i)) };
        now.to_ne_bytes() == contents[i * 8..i * 8 + 8]
    })
}

/// The home granted `page` to this node.
pub(crate) fn install(page: u64, write: bool, data: Option<Vec<u8>>) {
    if let Some(d) = data {
        mem_write(page, &d);
    }
    protect(page, if write { Prot::ReadWrite } else { Prot::Read });
    if AWAITED.load(Ordering::Acquire) == page {
        grant_arrived(&GRANTED);
    }
}

/// Wakes the faulting thread waiting on `word`.
pub(crate) fn grant_arrived(word: &AtomicU32) {
    word.store(1, Ordering::Release);
    // SAFETY: FUTEX_WAKE on a word of this process; wakes the faulting
    // thread if it sleeps on it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

/// How long a faulting thread polls for its grant before it sleeps: a
/// grant over loopback comes in tens of µs, and a sleeper's wakeup costs
/// as much again.
const POLL_FOR_GRANT: std::time::Duration = std::time::Duration::from_micros(200);

/// Waits (in a fault handler) until `word` is set: polls for
/// [`POLL_FOR_GRANT`] where nodes poll (see `poll`), yielding the CPU
/// between looks (the nodes that answer may need it), then sleeps on the
/// word.
pub(crate) fn wait_for(word: &AtomicU32) {
    let started = std::time::Instant::now();
    while word.load(Ordering::Acquire) == 0 {
        if crate::poll::polling() && started.elapsed() < POLL_FOR_GRANT {
            // SAFETY: a plain system call; async-signal-safe.
            unsafe { libc::sched_yield() };
            continue;
        }
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 5_000_000,
        };
        // SAFETY: FUTEX_WAIT on a word of this process while it is 0, with
        // a timeout; async-signal-safe (a plain system call).
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0,
                &timeout as *const libc::timespec,
            )
        };
    }
}

/// The home recalls `page` from this node, its writer.
pub(crate) fn give_back(page: u64, keep_read: bool) -> Vec<u8> {
    protect(page, Prot::Read);
    let data = mem_read(page);
    if !keep_read {
        protect(page, Prot::None);
    }
    data
}

/// The home invalidates this node's read copy of `page`.
pub(crate) fn drop_copy(page: u64) {
    protect(page, Prot::None);
}

// ---- faults -------------------------------------------------------------------

/// One fault at a time per node: the one being resolved, and whether its
/// grant came.
static FAULT_LOCK: AtomicBool = AtomicBool::new(false);
static AWAITED: AtomicU64 = AtomicU64::new(u64::MAX);
static GRANTED: AtomicU32 = AtomicU32::new(0);

/// The DSM fault claimant: resolves a fault on an arena page by asking its
/// home, and returns once this node may retry the access.
pub(crate) fn claim(addr: usize, write: bool) -> bool {
    let Some(n) = node() else {
        return false;
    };
    if n.coherence == crate::Coherence::Lrc {
        return crate::lrc::claim(addr, write);
    }
    let Some(home) = weaves_arena::node_of(addr) else {
        return false;
    };
    let page = addr as u64 & !(PAGE - 1);
    while FAULT_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    let started = std::time::Instant::now();
    crate::stats::fault(page, write);
    crate::failure::doing(crate::failure::Doing::Page(page));
    GRANTED.store(0, Ordering::Release);
    AWAITED.store(page, Ordering::Release);
    let expecting = crate::poll::Expecting::from(home as u32);
    n.post_from_handler(
        home as u32,
        Msg::Fetch {
            page,
            write,
            run: 1,
        },
    );
    wait_for(&GRANTED);
    drop(expecting);
    AWAITED.store(u64::MAX, Ordering::Release);
    crate::failure::doing(crate::failure::Doing::Running);
    crate::stats::fault_latency(started.elapsed());
    FAULT_LOCK.store(false, Ordering::Release);
    true
}

/// Makes every writable page of node 0's span that this node placed while
/// loading the program exactly as node 0 did inaccessible: their contents
/// are node 0's, fetched on first access.
pub(crate) fn invalidate_loaded_data() -> std::io::Result<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let (lo, hi) = (
        weaves_arena::ARENA_BASE as u64,
        (weaves_arena::ARENA_BASE + weaves_arena::NODE_SPAN) as u64,
    );
    let mut pages = 0;
    for line in maps.lines() {
        let mut words = line.split_whitespace();
        let (Some(range), Some(perms)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if a < lo || b > hi || !perms.starts_with("rw-") {
            continue;
        }
        // SAFETY: a range of node 0's span in this process's arena; nothing
        // of this node's runtime lives in node 0's span once it left it.
        unsafe { libc::mprotect(a as *mut libc::c_void, (b - a) as usize, libc::PROT_NONE) };
        pages += ((b - a) / PAGE) as usize;
    }
    Ok(pages)
}
