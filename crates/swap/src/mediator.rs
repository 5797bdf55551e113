//! The mediator of one swap: its phases, the gates' decisions, and the
//! waits between phases.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weaves_strings::mediation::GateFrame;
use weaves_strings::Task;

use crate::gate::{GateEntry, StubPage};
use crate::quiesce::{self, Look};

/// Where a swap is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Forward = 0,
    Block = 1,
    Complete = 2,
    Aborted = 3,
}

/// One import slot of a client bead: a word holding the address of a
/// definition (plus an addend).
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub addr: u64,
    pub addend: i64,
}

impl Slot {
    /// Points the slot at `target` (plus its addend) with one atomic store.
    ///
    /// # Safety
    /// `addr` must be an 8-byte aligned import slot of a mapped bead, and
    /// `target` a definition the bead's code may use in its place (same
    /// symbol, same kind) for as long as the slot holds it.
    pub unsafe fn store(&self, target: u64) {
        // SAFETY: caller contract; an aligned atomic store is never torn, so
        // code reading the slot sees the old or the new target.
        unsafe { AtomicU64::from_ptr(self.addr as *mut u64) }
            .store(target.wrapping_add(self.addend as u64), Ordering::Release);
    }
}

/// A function of the old bead that clients import, and their slots.
#[derive(Clone, Debug)]
pub struct GatedImport {
    pub symbol: String,
    pub old: u64,
    pub new: u64,
    pub slots: Vec<Slot>,
}

/// A string found inside the old bead when the swap gave up.
#[derive(Clone, Debug)]
pub struct Inside {
    pub string: String,
    /// An address of the old bead's code on its stack (0: it was running
    /// and could not be looked at, or has counted calls inside).
    pub address: u64,
    /// Counted calls still inside.
    pub calls: usize,
}

/// What a swap did, for its report.
#[derive(Clone, Copy, Debug, Default)]
pub struct SwapStats {
    pub calls_forwarded: u64,
    pub calls_blocked: u64,
    /// Strings that had counted calls inside when blocking began and were
    /// waited for.
    pub strings_drained: usize,
    /// When the swap ended (completed or aborted): new calls go on from
    /// then; parked ones are being woken.
    pub released_at: Option<Instant>,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// How long the forward phase waits for strings it cannot look at.
pub const FORWARD_GRACE: Duration = Duration::from_millis(20);

/// Every gated function, by its old definition's address (the latest
/// swap of it): how a completed swap's gate finds a later one.
static GATED: std::sync::RwLock<Option<std::collections::HashMap<u64, &'static GateEntry>>> =
    std::sync::RwLock::new(None);

fn gate_of(function: u64) -> Option<&'static GateEntry> {
    GATED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()?
        .get(&function)
        .copied()
}

/// The decision of `entry`'s gate (see [`Mediator::enter`]).
/// Marks the calling string as inside that gate (see
/// `Mediation::entering`) until the gate returns.
pub(crate) fn decide(entry: &'static GateEntry, slot: u64) -> u64 {
    if let Some(ctx) = weaves_strings::current() {
        ctx.mediation
            .entering
            .store(entry.mediator.id, Ordering::SeqCst);
    }
    entry.mediator.enter(entry, slot)
}

/// The mediator of one swap (leaked: its gates may be reached after it
/// ends, see `gate`).
pub struct Mediator {
    pub(crate) id: u32,
    phase: AtomicU8,
    /// The old bead's code: addresses that mean "inside".
    pub(crate) text: Vec<(u64, u64)>,
    waiters: Mutex<Vec<Arc<Task>>>,
    forwarded: AtomicU64,
    blocked: AtomicU64,
}

/// A swap under way: its mediator, gates and the slots they hold.
pub struct Swap {
    mediator: &'static Mediator,
    imports: Vec<GatedImport>,
    drained: usize,
}

impl Mediator {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Forward,
            1 => Phase::Block,
            2 => Phase::Complete,
            _ => Phase::Aborted,
        }
    }

    /// A gate's decision for a call through `entry`, whose return address
    /// is at `slot`.
    pub(crate) fn enter(&'static self, entry: &GateEntry, slot: u64) -> u64 {
        loop {
            match self.phase() {
                Phase::Complete => {
                    // The new definition may itself be being swapped, or
                    // have been since (a call that read this gate's address
                    // long ago): follow it.
                    let new = entry.new.load(Ordering::Acquire);
                    return match gate_of(new) {
                        Some(next) => decide(next, slot),
                        None => new,
                    };
                }
                Phase::Aborted => return entry.old,
                Phase::Forward | Phase::Block => {}
            }
            let Some(ctx) = weaves_strings::current() else {
                // Not a string (a runtime thread): it cannot be counted or
                // parked; it goes to the old bead until the swap ends.
                if self.phase() == Phase::Forward {
                    return entry.old;
                }
                std::thread::sleep(Duration::from_micros(20));
                continue;
            };
            let m = &ctx.mediation;
            if m.clear_for.load(Ordering::Acquire) != self.id
                && quiesce::own_stack_clear(self, ctx, slot)
            {
                m.clear_for.store(self.id, Ordering::Release);
            }
            // Count the call first, then look at the phase: the mediator
            // sets the phase first, then looks at the counts, so one of the
            // two sees the other.
            let ret = {
                let mut frames = m.frames.lock().unwrap_or_else(|e| e.into_inner());
                // SAFETY: `slot` is the return-address word of the call
                // being made on this string's stack (gate_common passes it).
                let ret = unsafe { crate::gate::own_stack_word(slot) };
                frames.push(GateFrame {
                    ret,
                    slot,
                    mediator: self.id,
                });
                ret
            };
            let inside = m.clear_for.load(Ordering::Acquire) != self.id || m.inside(self.id).0 > 1;
            if self.phase() == Phase::Forward || inside {
                // SAFETY: as above; the call returns through the gate's
                // return path, which restores `ret` (see `leave`).
                unsafe { AtomicU64::from_ptr(slot as *mut u64) }
                    .store(crate::gate::return_path(), Ordering::Relaxed);
                self.forwarded.fetch_add(1, Ordering::Relaxed);
                return entry.old;
            }
            {
                let mut frames = m.frames.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = frames.iter().rposition(|f| f.slot == slot && f.ret == ret) {
                    frames.remove(k);
                }
            }
            self.blocked.fetch_add(1, Ordering::Relaxed);
            self.wait_for_end();
        }
    }

    /// Parks the calling string until the swap completes or is aborted.
    fn wait_for_end(&self) {
        let Some(task) = weaves_strings::blocking::current_task() else {
            while matches!(self.phase(), Phase::Forward | Phase::Block) {
                std::thread::sleep(Duration::from_micros(20));
            }
            return;
        };
        while matches!(self.phase(), Phase::Forward | Phase::Block) {
            {
                let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
                if !matches!(self.phase(), Phase::Forward | Phase::Block) {
                    break;
                }
                w.push(task.clone());
            }
            weaves_strings::blocking::park();
        }
    }

    /// Moves to phase `p`; at the end of the swap, wakes the parked callers
    /// and says when they were released.
    fn set_phase(&self, p: Phase) -> Instant {
        self.phase.store(p as u8, Ordering::SeqCst);
        let at = Instant::now();
        if matches!(p, Phase::Complete | Phase::Aborted) {
            let waiters =
                std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
            for t in waiters {
                t.wake();
            }
        }
        at
    }
}

/// The gate's return path: pops the counted call that returned (and any
/// below it that a long jump abandoned) and gives its return address.
pub(crate) fn leave(sp: u64) -> u64 {
    let slot = sp - 8;
    if let Some(ctx) = weaves_strings::current() {
        let mut frames = ctx
            .mediation
            .frames
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Frames deeper than this one were left by a long jump.
        while frames.last().is_some_and(|f| f.slot < slot) {
            frames.pop();
        }
        if let Some(f) = frames.last().copied() {
            if f.slot == slot {
                frames.pop();
                return f.ret;
            }
        }
    }
    // A counted call returned on a string that has no record of it: the
    // return address is lost and nothing sensible can follow.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"weaves: internal error: a call counted by a hot-swap returned on a stack that has no record of it\n",
    );
    std::process::abort();
}

impl Swap {
    /// Puts gates in every client slot of `imports` (the forward phase
    /// begins). `text` is the old bead's code.
    pub fn begin(imports: Vec<GatedImport>, text: Vec<(u64, u64)>) -> std::io::Result<Swap> {
        let mediator: &'static Mediator = Box::leak(Box::new(Mediator {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            phase: AtomicU8::new(Phase::Forward as u8),
            text,
            waiters: Mutex::new(Vec::new()),
            forwarded: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
        }));
        let entries: &'static [GateEntry] = imports
            .iter()
            .map(|i| GateEntry {
                mediator,
                old: i.old,
                new: AtomicU64::new(i.new),
            })
            .collect::<Vec<_>>()
            .leak();
        let page = StubPage::new(entries)?;
        {
            let mut gated = GATED.write().unwrap_or_else(|e| e.into_inner());
            let map = gated.get_or_insert_with(Default::default);
            for e in entries {
                map.insert(e.old, e);
            }
        }
        for (k, i) in imports.iter().enumerate() {
            for s in &i.slots {
                // SAFETY: the slots are client import slots of `i.symbol`
                // (the caller's contract for `GatedImport`); the stub takes
                // the same arguments and leads to the old definition.
                unsafe { s.store(page.stub(k).wrapping_sub(s.addend as u64)) };
            }
        }
        Ok(Swap {
            mediator,
            imports,
            drained: 0,
        })
    }

    /// Waits until every string is clear of uncounted calls into the old
    /// bead, or `deadline`.
    ///
    /// Strings that could not be looked at (running, or waiting for a
    /// worker inside another gate) stop the wait after [`FORWARD_GRACE`]:
    /// blocking then parks the strings that keep the workers busy, so
    /// that the others get to run and leave. A string seen inside the old
    /// bead keeps the swap forwarding (blocking would not get it out).
    pub fn wait_clear(
        &self,
        tasks: &dyn Fn() -> Vec<Arc<Task>>,
        deadline: Instant,
    ) -> Result<(), Vec<Inside>> {
        let began = Instant::now();
        loop {
            let inside = self.look(&tasks(), false);
            if inside.is_empty()
                || (began.elapsed() >= FORWARD_GRACE && inside.iter().all(|i| i.address == 0))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(inside);
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Blocks new calls from strings that are not inside, then waits until
    /// no call is inside the old bead, or `deadline`.
    pub fn block_and_drain(
        &mut self,
        tasks: &dyn Fn() -> Vec<Arc<Task>>,
        deadline: Instant,
    ) -> Result<(), Vec<Inside>> {
        self.mediator.set_phase(Phase::Block);
        let first = self.look(&tasks(), true);
        self.drained = first.iter().filter(|i| i.calls > 0).count();
        if first.is_empty() {
            return Ok(());
        }
        loop {
            let inside = self.look(&tasks(), true);
            if inside.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(inside);
            }
            std::thread::yield_now();
        }
    }

    /// Strings not (yet) known to be out of the old bead; with `counted`,
    /// also those with counted calls inside.
    fn look(&self, tasks: &[Arc<Task>], counted: bool) -> Vec<Inside> {
        let m = self.mediator;
        let mut out = Vec::new();
        for t in tasks.iter().filter(|t| !t.is_done()) {
            let med = &t.ctx.mediation;
            let (calls, outermost) = med.inside(m.id);
            let entering = med.entering.load(Ordering::SeqCst);
            if entering != 0 && entering != m.id {
                // About to call what another swap's gate answers.
                out.push(Inside {
                    string: t.ctx.info.name.clone(),
                    address: 0,
                    calls,
                });
                continue;
            }
            if med.clear_for.load(Ordering::Acquire) != m.id {
                match quiesce::look_at_suspended(m, t, outermost) {
                    Look::Clear => med.clear_for.store(m.id, Ordering::Release),
                    Look::Holds(address) => {
                        out.push(Inside {
                            string: t.ctx.info.name.clone(),
                            address,
                            calls,
                        });
                        continue;
                    }
                    Look::Running => {
                        out.push(Inside {
                            string: t.ctx.info.name.clone(),
                            address: 0,
                            calls,
                        });
                        continue;
                    }
                }
            }
            if counted && calls > 0 {
                out.push(Inside {
                    string: t.ctx.info.name.clone(),
                    address: 0,
                    calls,
                });
            }
        }
        out
    }

    /// Points every client slot at the new definitions and lets parked
    /// callers go on into the new bead.
    pub fn complete(self) -> SwapStats {
        for i in &self.imports {
            for s in &i.slots {
                // SAFETY: client slots of `i.symbol`; `i.new` is the new
                // bead's definition of it (the caller's contract).
                unsafe { s.store(i.new) };
            }
        }
        let at = self.mediator.set_phase(Phase::Complete);
        self.stats(at)
    }

    /// Gives every client slot its old definition back and lets parked
    /// callers go on into the old bead.
    pub fn abort(self) -> SwapStats {
        for i in &self.imports {
            for s in &i.slots {
                // SAFETY: as in `complete`; the old definition is what the
                // slot held before the swap.
                unsafe { s.store(i.old) };
            }
        }
        let at = self.mediator.set_phase(Phase::Aborted);
        self.stats(at)
    }

    fn stats(&self, released_at: Instant) -> SwapStats {
        SwapStats {
            released_at: Some(released_at),
            calls_forwarded: self.mediator.forwarded.load(Ordering::Relaxed),
            calls_blocked: self.mediator.blocked.load(Ordering::Relaxed),
            strings_drained: self.drained,
        }
    }
}
