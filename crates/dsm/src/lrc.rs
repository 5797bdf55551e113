//! Lazy release consistency, home-based, with multiple writers.
//!
//! * A node fetches a page it lacks from the page's home (a run of pages
//!   when it reads sequentially). The home's copy is the master.
//! * The first write to a fetched page makes a **twin** (a copy) and lets
//!   the node write; several nodes may write one page at once (false
//!   sharing costs nothing until a release).
//! * At a **release** (unlock, barrier, condition wait, thread start and
//!   end) the node compares each written page with its twin, sends the
//!   **diff** (changed bytes) to the page's home, waits until the homes
//!   applied them, and hands the manager **write notices** (the pages)
//!   with the release. Diffs are dropped once applied: nothing else keeps
//!   them.
//! * The manager keeps the notices in one log and each node's position in
//!   it (a global interval counter standing in for vector timestamps: every
//!   synchronisation goes through it). Every answer to an **acquire**
//!   (lock grant, barrier release, condition wakeup, once) carries the
//!   notices of other nodes the acquirer has not seen; it drops its copies
//!   of those pages (a page it also wrote is diffed first) and fetches them
//!   from their homes again on the next fault. Log entries every node has
//!   seen are dropped.
//! * A home's own writes to a page it has served are noticed the same way
//!   (its copy is made read-only when served), without twins.
//! * Where the kernel can (see `watch`), a fetched page is installed
//!   writable and watched instead: its twin is the fetched contents, its
//!   first write costs no fault, and a release asks the kernel which
//!   watched pages were written.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::node::node;
use crate::pages::{mem_read, mem_write, protect, Prot, PAGE};
use crate::stats::{count, Counter};
use crate::wire::{Msg, Op, PageDiff};

/// The node that manages synchronisation (and so orders releases).
const MANAGER: u32 = 0;

/// Releases in a row that find a watched page unwritten before it goes
/// back to read-only protection.
const IDLE_RELEASES: u8 = 4;

/// Most pages one fetch brings.
const MAX_RUN: u32 = 512;

#[derive(Default)]
struct State {
    /// Pages of other homes this node holds a copy of: with their twins
    /// when watched (see `watch`), else read-only until written.
    present: HashMap<u64, Option<Vec<u8>>>,
    /// Pages written since the last release: their twins (none for pages
    /// homed here).
    dirty: HashMap<u64, Option<Vec<u8>>>,
    /// Watched pages found unwritten at the releases in a row before this
    /// one (see `watched_diffs`).
    idle: HashMap<u64, u8>,
    /// Pages diffed early (a notice arrived for a page this node was
    /// writing): their notices go with the next release.
    pending: Vec<u64>,
    /// Pages dropped on a notice since the fetch under way began: the
    /// grant may predate the write noticed, so they are not installed.
    noticed: HashSet<u64>,
    /// The last page fetched, and the run it came in (to detect
    /// sequential access).
    last: (u64, u32),
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(State::default))
}

static FETCH_LOCK: AtomicU32 = AtomicU32::new(0);
static AWAITED: AtomicU64 = AtomicU64::new(u64::MAX);
static GRANTED: AtomicU32 = AtomicU32::new(0);

fn home_of(page: u64) -> Option<u32> {
    weaves_arena::node_of(page as usize).map(|n| n as u32)
}

/// The fault claimant under `lrc`.
pub(crate) fn claim(addr: usize, write: bool) -> bool {
    let Some(n) = node() else { return false };
    let Some(home) = home_of(addr as u64) else {
        return false;
    };
    let page = addr as u64 & !(PAGE - 1);
    let started = std::time::Instant::now();
    crate::stats::fault(page, write);
    if home == n.me {
        // A page of ours that we served: note the write.
        with(|s| {
            s.dirty.entry(page).or_insert(None);
        });
        protect(page, Prot::ReadWrite);
        crate::stats::fault_latency(started.elapsed());
        return true;
    }
    let run = with(|s| {
        if s.present.contains_key(&page) {
            0
        } else if s.last.0 + s.last.1 as u64 * PAGE == page {
            (s.last.1 * 8).clamp(8, MAX_RUN)
        } else {
            1
        }
    });
    if run > 0 {
        fetch(n, home, page, run);
    }
    if write {
        with(|s| {
            match s.present.get(&page) {
                // A grant dropped as stale leaves the page absent: the
                // access faults again and fetches it again.
                None => return,
                // Installed watched (and writable): its twin is the
                // fetched contents, which another thread of this node may
                // have written since; the write goes on.
                Some(Some(_)) => return,
                Some(None) => {}
            }
            if crate::watch::arm(page, 1) {
                // Watched again (see `watched_diffs`): the write goes on,
                // and the release finds it.
                s.present.insert(page, Some(mem_read(page)));
                count(Counter::Twins, 1);
            } else if let std::collections::hash_map::Entry::Vacant(e) = s.dirty.entry(page) {
                e.insert(Some(mem_read(page)));
                count(Counter::Twins, 1);
            }
            protect(page, Prot::ReadWrite);
        });
    }
    crate::stats::fault_latency(started.elapsed());
    true
}

/// Fetches `run` pages from `page` on from `home` (one at a time per node).
fn fetch(n: &crate::node::Node, home: u32, page: u64, run: u32) {
    while FETCH_LOCK
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    crate::failure::doing(crate::failure::Doing::Page(page));
    GRANTED.store(0, Ordering::Release);
    with(|s| s.noticed.clear());
    AWAITED.store(page, Ordering::Release);
    let _expecting = crate::poll::Expecting::from(home);
    n.post_from_handler(
        home,
        Msg::Fetch {
            page,
            write: false,
            run,
        },
    );
    crate::pages::wait_for(&GRANTED);
    AWAITED.store(u64::MAX, Ordering::Release);
    crate::failure::doing(crate::failure::Doing::Running);
    FETCH_LOCK.store(0, Ordering::Release);
}

/// The home serves `run` pages from `page` on: as many as it can read
/// (it stops at a page it has no access to itself). Its own copies become
/// read-only so that its later writes are noticed.
pub(crate) fn serve(page: u64, run: u32) -> Vec<u8> {
    // Read-only first, then read: a write of ours in between would be
    // neither in the copy nor noticed.
    let mut pages = vec![page];
    for i in 1..run.max(1) as u64 {
        let p = page + i * PAGE;
        if home_of(p) != home_of(page) || readable(p).is_none() {
            break;
        }
        pages.push(p);
    }
    with(|s| {
        for &p in &pages {
            if !s.dirty.contains_key(&p) {
                protect(p, Prot::Read);
            }
        }
    });
    let mut data = Vec::with_capacity(pages.len() * PAGE as usize);
    for &p in &pages {
        data.extend_from_slice(&mem_read(p));
    }
    data
}

/// The page's contents if this process may read it as it is mapped.
fn readable(page: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; PAGE as usize];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: page as *mut libc::c_void,
        iov_len: PAGE as usize,
    };
    // SAFETY: reads this process's own memory into `buf`; the kernel
    // checks the mapping's protection and fails on an inaccessible page.
    let got = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (got == PAGE as isize).then_some(buf)
}

/// A grant arrived: install the pages this node lacks (never over a page
/// it is writing), except those it dropped on a notice since it asked.
/// (Dropping every page of the grant on any notice, as before, could
/// starve a thread whose page shared nothing with the notices while other
/// threads of its node kept acquiring.)
pub(crate) fn install(page: u64, data: Option<Vec<u8>>) {
    if let Some(d) = data {
        let pages = d.len() as u64 / PAGE;
        with(|s| {
            for i in 0..pages {
                let p = page + i * PAGE;
                if s.noticed.contains(&p) {
                    continue;
                }
                if !s.present.contains_key(&p) && s.dirty.contains_key(&p) {
                    let at = (i * PAGE) as usize;
                    install_under_own_writes(s, p, &d[at..at + PAGE as usize]);
                }
            }
            let absent: Vec<u64> = (0..pages)
                .map(|i| page + i * PAGE)
                .filter(|p| {
                    !s.noticed.contains(p) && !s.present.contains_key(p) && !s.dirty.contains_key(p)
                })
                .collect();
            crate::watch::for_each_run(&absent, |first, n| {
                let at = (first - page) as usize;
                let bytes = &d[at..at + (n * PAGE) as usize];
                // Contents first, then the watch: writing them would count
                // as the program's write.
                for (i, contents) in bytes.chunks(PAGE as usize).enumerate() {
                    mem_write(first + i as u64 * PAGE, contents);
                }
                let watched = crate::watch::arm(first, n);
                crate::pages::protect_pages(
                    first,
                    n,
                    if watched { Prot::ReadWrite } else { Prot::Read },
                );
                for i in 0..n {
                    let twin = watched.then(|| {
                        let at = (i * PAGE) as usize;
                        bytes[at..at + PAGE as usize].to_vec()
                    });
                    s.present.insert(first + i * PAGE, twin);
                }
            });
            s.last = (page, pages as u32);
        });
    }
    if AWAITED.load(Ordering::Acquire) == page {
        crate::pages::grant_arrived(&GRANTED);
    }
}

/// Installs the home's `contents` of `page`, a page this node dropped
/// (an acquire's notice) while holding writes of its own it has not sent
/// yet: the fetched contents with those writes on top. The fetched
/// contents become the twin, so that the next release sends exactly this
/// node's writes. (Skipping such a page, as before, left it inaccessible:
/// the faulting thread fetched it again and again until some other thread
/// of the node released.)
fn install_under_own_writes(s: &mut State, page: u64, contents: &[u8]) {
    let Some(Some(twin)) = s.dirty.get_mut(&page) else {
        return;
    };
    let mine = diff(&mem_read(page), twin);
    mem_write(page, contents);
    for (at, bytes) in mine {
        mem_write(page + at as u64, &bytes);
    }
    *twin = contents.to_vec();
    protect(page, Prot::ReadWrite);
    s.present.insert(page, None);
}

/// Diffs `now` (a page's contents) against `twin`: runs of changed bytes.
fn diff(now: &[u8], twin: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut runs: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < now.len() {
        if now[i] == twin[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < now.len() && now[i] != twin[i] {
            i += 1;
        }
        runs.push((start as u16, now[start..i].to_vec()));
    }
    runs
}

/// The home applies diffs.
pub(crate) fn apply(diffs: Vec<PageDiff>) {
    for (page, runs) in diffs {
        for (at, bytes) in runs {
            mem_write(page + at as u64, &bytes);
        }
    }
}

/// Diffs the written pages (all, or only `only`), sends the diffs to the
/// pages' homes and waits until they are applied; returns the pages.
fn flush(only: Option<&HashSet<u64>>) -> Vec<u64> {
    let (pages, carried) = flush_carrying(only, false);
    debug_assert!(carried.is_empty());
    pages
}

/// Diffs for node 0, which the manager applies before the release they
/// travel with.
pub(crate) type Carried = Vec<PageDiff>;

/// [`flush`]; with `carry`, the diffs for node 0 are returned to travel
/// with the release message instead of being sent.
fn flush_carrying(only: Option<&HashSet<u64>>, carry: bool) -> (Vec<u64>, Carried) {
    let Some(n) = node() else {
        return (Vec::new(), Vec::new());
    };
    let mut by_home: HashMap<u32, Vec<PageDiff>> = HashMap::new();
    let written = with(|s| {
        let pages: Vec<u64> = s
            .dirty
            .keys()
            .copied()
            .filter(|p| only.is_none_or(|o| o.contains(p)))
            .collect();
        for &p in &pages {
            let twin = s.dirty.remove(&p).flatten();
            protect(p, Prot::Read);
            if let Some(twin) = twin {
                let runs = diff(&mem_read(p), &twin);
                if !runs.is_empty() {
                    count(Counter::Diffs, 1);
                    if let Some(h) = home_of(p) {
                        by_home.entry(h).or_default().push((p, runs));
                    }
                }
            }
        }
        let mut pages = pages;
        for (p, runs) in watched_diffs(s, only) {
            count(Counter::Diffs, 1);
            if let Some(h) = home_of(p) {
                by_home.entry(h).or_default().push((p, runs));
            }
            pages.push(p);
        }
        pages
    });
    let mut carried = Vec::new();
    for (home, diffs) in by_home {
        if home == MANAGER && carry {
            carried = diffs;
        } else if home == MANAGER {
            // Node 0 is also the manager, and this node's next word to it
            // (the release, with the notices) arrives after these on the
            // same connection: no need to wait for them.
            n.post(
                home,
                Msg::Call {
                    slot: 0,
                    op: Op::ApplyDiffs { diffs },
                },
            );
        } else {
            n.call_only(home, Op::ApplyDiffs { diffs });
        }
    }
    (written, carried)
}

/// The diffs of the watched pages (all, or only `only`) written since the
/// last release; each one's twin becomes its contents as diffed.
fn watched_diffs(s: &mut State, only: Option<&HashSet<u64>>) -> Vec<PageDiff> {
    let mut candidates: Vec<u64> = s
        .present
        .iter()
        .filter(|(p, twin)| twin.is_some() && only.is_none_or(|o| o.contains(p)))
        .map(|(&p, _)| p)
        .collect();
    candidates.sort_unstable();
    let differs = |p: u64| {
        s.present
            .get(&p)
            .and_then(Option::as_ref)
            .is_some_and(|twin| !crate::pages::same_as(p, twin))
    };
    // Pages about to be dropped (`only`, an acquire's) are all treated as
    // clean below: protected before they are compared, so that a write
    // racing the acquire faults and is kept (see `acquire`).
    let written = if only.is_some() {
        Vec::new()
    } else {
        crate::watch::written_since_armed(&candidates, differs)
    };
    let mut diffs = Vec::new();
    for &p in &written {
        // Read after the page was armed again: a write from now on is in
        // the next release's diff, and one before is in this one's.
        if let Some(d) = diff_against_twin(s, p, true) {
            diffs.push(d);
        }
    }
    for p in &written {
        s.idle.remove(p);
    }
    // A page found unwritten at IDLE_RELEASES releases in a row goes back
    // to read-only protection: watching it would cost every later release
    // a look at it (see `watch`), and its next write, a fault, watches it
    // again. (At once would be too soon: the threads of a node release in
    // turn, each between writes of the others.) It is protected before its
    // last comparison, so a write racing this is either in the diff or
    // faults.
    let mut clean = Vec::new();
    for &p in &candidates {
        if written.binary_search(&p).is_ok() {
            continue;
        }
        let idle = s.idle.entry(p).or_insert(0);
        *idle += 1;
        if only.is_some() || *idle >= IDLE_RELEASES {
            s.idle.remove(&p);
            clean.push(p);
        }
    }
    crate::watch::for_each_run(&clean, |first, n| {
        crate::pages::protect_pages(first, n, Prot::Read)
    });
    for &p in &clean {
        if let Some(d) = diff_against_twin(s, p, false) {
            diffs.push(d);
        }
        s.present.insert(p, None);
    }
    diffs
}

/// The diff of watched page `p` against its twin, if it changed; the twin
/// becomes its contents when `keep` (it stays watched).
fn diff_against_twin(s: &mut State, p: u64, keep: bool) -> Option<PageDiff> {
    let Some(Some(twin)) = s.present.get_mut(&p) else {
        return None;
    };
    let now = mem_read(p);
    let runs = diff(&now, twin);
    if runs.is_empty() {
        return None;
    }
    if keep {
        *twin = now;
    }
    Some((p, runs))
}

/// A release: the diffs reach their homes; returns the write notices.
pub(crate) fn release() -> Vec<u64> {
    let (notices, carried) = release_carrying(false);
    debug_assert!(carried.is_empty());
    notices
}

/// A release whose message goes to the manager next: node 0's diffs
/// travel with it (one message fewer per release).
pub(crate) fn release_carrying(carry: bool) -> (Vec<u64>, Carried) {
    if !active() {
        return (Vec::new(), Vec::new());
    }
    let (mut notices, carried) = flush_carrying(None, carry);
    with(|s| notices.append(&mut s.pending));
    (notices, carried)
}

/// Notices that arrived and that no string has acted on yet.
static PENDING: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// Held while a string acts on notices: a string woken after them waits
/// until they are acted on, whoever took them.
static ACQUIRING: Mutex<()> = Mutex::new(());

/// An answer brought write notices (recorded by the thread that reads
/// it, before it wakes the waiter).
pub(crate) fn note(notices: Vec<u64>) {
    if !notices.is_empty() {
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(notices);
    }
}

/// After every answer: acts on the notices this node received so far.
pub(crate) fn acquire_pending() {
    if !active() {
        return;
    }
    let _one = ACQUIRING.lock().unwrap_or_else(|e| e.into_inner());
    let notices = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    acquire(&notices);
}

/// An acquire's notices: drop the copies of those pages (pages this node
/// wrote meanwhile are diffed first; pages homed here are the master
/// copies and stay).
fn acquire(notices: &[u64]) {
    if notices.is_empty() || !active() {
        return;
    }
    let me = node().map_or(0, |n| n.me);
    let remote: HashSet<u64> = notices
        .iter()
        .copied()
        .filter(|&p| home_of(p) != Some(me))
        .collect();
    let writing: HashSet<u64> = with(|s| {
        remote
            .iter()
            .copied()
            .filter(|p| s.dirty.contains_key(p) || s.present.get(p).is_some_and(Option::is_some))
            .collect()
    });
    if !writing.is_empty() {
        let early = flush(Some(&writing));
        with(|s| s.pending.extend(early));
    }
    with(|s| {
        s.noticed.extend(remote.iter().copied());
        for p in remote {
            s.idle.remove(&p);
            match s.present.remove(&p) {
                // Written since the flush above (a fault watched it
                // again): its twin goes with the next release's diffs.
                Some(Some(twin)) => {
                    protect(p, Prot::None);
                    s.dirty.entry(p).or_insert(Some(twin));
                }
                Some(None) => protect(p, Prot::None),
                None => {}
            }
        }
    });
}

pub(crate) fn active() -> bool {
    node().is_some_and(|n| n.coherence == crate::Coherence::Lrc)
}
