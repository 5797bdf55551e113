//! A clustered counter with two implementations.
//!
//! * [`Shared`]: one rep, a lock around the value (spinning, then
//!   yielding: see [`crate::spin`] for why it never sleeps). Adds from
//!   several CPUs take turns on one lock (and one cache line); a read is
//!   one lock.
//!   Each add counts as contended when it finds the lock taken or last
//!   taken on another CPU: with a critical section of
//!   a few instructions the lock is rarely seen taken, and the real cost
//!   of sharing is the cache line moving between CPUs. The adaptive
//!   policy watches that count.
//! * [`Distributed`]: a rep per CPU (or per cluster of CPUs), each an atomic
//!   on a cache line of its own. Adds stay on the caller's CPU; a read
//!   sums every rep.
//!
//! Both export and import the total ([`Format::Value`]); two distributed
//! roots with the same layout move rep by rep ([`Format::PerRep`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::spin::SpinLock;

use crate::{Clustered, Format, Implementation, Root, RootKind, State, SwapError, SwapReport};
use crate::{ObjectId, TransferError};

/// What a counter rep can do.
pub trait CounterRep: Send + Sync {
    /// Adds `n` from CPU `cpu`; returns how many adds this rep has seen
    /// (for the adaptive policy's windows).
    fn add(&self, n: u64, cpu: usize) -> u64;
    /// This rep's share of the total.
    fn get(&self) -> u64;
    /// Sets this rep's share (state transfer into a fresh rep).
    fn set(&self, value: u64);
    /// Adds seen and adds that found the rep busy, since it was made.
    fn stats(&self) -> RepStats;
}

/// Counts a rep keeps about its own use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepStats {
    pub ops: u64,
    /// Adds that found the rep busy, or last used from another CPU (its
    /// cache line had to move): what sharing one rep costs.
    pub contended: u64,
}

// ---- shared ----------------------------------------------------------------

/// One locked value for every CPU.
#[derive(Debug, Default)]
pub struct Shared;

#[derive(Default)]
struct SharedRep {
    inner: SpinLock<SharedValue>,
}

/// Everything under the shared rep's lock.
#[derive(Default)]
struct SharedValue {
    value: u64,
    ops: u64,
    /// Adds that found the lock taken.
    waited: u64,
    /// The CPU of the last add, and how many adds came from another CPU
    /// than the one before them.
    last_cpu: usize,
    moves: u64,
}

impl CounterRep for SharedRep {
    #[inline]
    fn add(&self, n: u64, cpu: usize) -> u64 {
        let mut g = self.inner.lock();
        let waited = g.contended;
        g.waited += u64::from(waited);
        g.value = g.value.wrapping_add(n);
        g.ops += 1;
        if g.last_cpu != cpu {
            g.last_cpu = cpu;
            g.moves += 1;
        }
        g.ops
    }
    fn get(&self) -> u64 {
        self.inner.lock().value
    }
    fn set(&self, value: u64) {
        self.inner.lock().value = value;
    }
    fn stats(&self) -> RepStats {
        let g = self.inner.lock();
        RepStats {
            ops: g.ops,
            contended: g.moves + g.waited,
        }
    }
}

fn total(root: &Root<dyn CounterRep>) -> u64 {
    root.reps().fold(0u64, |t, (_, r)| t.wrapping_add(r.get()))
}

impl Implementation<dyn CounterRep> for Shared {
    fn name(&self) -> &'static str {
        "shared"
    }
    fn kind(&self) -> RootKind {
        RootKind::Shared
    }
    fn make_rep(&self) -> Box<dyn CounterRep> {
        Box::<SharedRep>::default()
    }
    fn exports(&self) -> &[Format] {
        &[Format::Value]
    }
    fn imports(&self) -> &[Format] {
        &[Format::Value]
    }
    fn export(&self, root: &Root<dyn CounterRep>, format: Format) -> Result<State, TransferError> {
        match format {
            Format::Value => Ok(State::Value(total(root))),
            other => Err(TransferError::Refused(format!(
                "shared exports no {other:?}"
            ))),
        }
    }
    fn import(&self, root: &Root<dyn CounterRep>, state: State) -> Result<(), TransferError> {
        match state {
            State::Value(v) => {
                root.rep_at(0).set(v);
                Ok(())
            }
            other => Err(TransferError::Refused(format!(
                "shared imports no {:?}",
                other.format()
            ))),
        }
    }
}

// ---- distributed -----------------------------------------------------------

/// A padded atomic per CPU (or per cluster of CPUs); reads sum them.
#[derive(Debug)]
pub struct Distributed {
    pub kind: RootKind,
}

impl Default for Distributed {
    fn default() -> Self {
        Distributed {
            kind: RootKind::PerCpu,
        }
    }
}

#[derive(Default)]
struct DistributedRep {
    cell: CachePadded<DistributedCell>,
}

#[derive(Default)]
struct DistributedCell {
    value: AtomicU64,
    /// Adds seen. A thread preempted between the load and the store below
    /// can lose one count when another thread on this CPU adds meanwhile:
    /// an approximate figure for the policy, at the cost of a plain store.
    ops: AtomicU64,
}

impl CounterRep for DistributedRep {
    #[inline]
    fn add(&self, n: u64, _cpu: usize) -> u64 {
        self.cell.value.fetch_add(n, Ordering::Relaxed);
        let ops = self.cell.ops.load(Ordering::Relaxed) + 1;
        self.cell.ops.store(ops, Ordering::Relaxed);
        ops
    }
    fn get(&self) -> u64 {
        self.cell.value.load(Ordering::Relaxed)
    }
    fn set(&self, value: u64) {
        self.cell.value.store(value, Ordering::Relaxed);
    }
    fn stats(&self) -> RepStats {
        RepStats {
            ops: self.cell.ops.load(Ordering::Relaxed),
            contended: 0,
        }
    }
}

impl Implementation<dyn CounterRep> for Distributed {
    fn name(&self) -> &'static str {
        "distributed"
    }
    fn kind(&self) -> RootKind {
        self.kind
    }
    fn make_rep(&self) -> Box<dyn CounterRep> {
        Box::<DistributedRep>::default()
    }
    fn exports(&self) -> &[Format] {
        &[Format::PerRep, Format::Value]
    }
    fn imports(&self) -> &[Format] {
        &[Format::PerRep, Format::Value]
    }
    fn export(&self, root: &Root<dyn CounterRep>, format: Format) -> Result<State, TransferError> {
        match format {
            Format::Value => Ok(State::Value(total(root))),
            Format::PerRep => {
                let mut per = vec![0; root.slots()];
                for (slot, r) in root.reps() {
                    per[slot] = r.get();
                }
                Ok(State::PerRep(per))
            }
            Format::Opaque => Err(TransferError::Refused(
                "distributed exports no Opaque".into(),
            )),
        }
    }
    fn import(&self, root: &Root<dyn CounterRep>, state: State) -> Result<(), TransferError> {
        match state {
            State::Value(v) => root.rep_at(0).set(v),
            State::PerRep(per) if per.len() == root.slots() => {
                for (slot, v) in per.into_iter().enumerate().filter(|&(_, v)| v != 0) {
                    root.rep_at(slot).set(v);
                }
            }
            // Another layout (per CPU into per cluster): the total is
            // what counts, so it goes into one rep.
            State::PerRep(per) => root
                .rep_at(0)
                .set(per.into_iter().fold(0u64, u64::wrapping_add)),
            State::Opaque(_) => {
                return Err(TransferError::Refused(
                    "distributed imports no Opaque".into(),
                ))
            }
        }
        Ok(())
    }
}

// ---- the counter -------------------------------------------------------------

/// A counter whose implementation can be swapped while in use.
pub struct ClusteredCounter {
    object: Arc<Clustered<dyn CounterRep>>,
}

impl ClusteredCounter {
    /// A counter running `imp`.
    pub fn new(imp: Arc<dyn Implementation<dyn CounterRep>>) -> Self {
        ClusteredCounter {
            object: Clustered::new(imp),
        }
    }

    /// A counter on one locked value.
    pub fn shared() -> Self {
        Self::new(Arc::new(Shared))
    }

    /// A counter with a rep per CPU.
    pub fn distributed() -> Self {
        Self::new(Arc::new(Distributed::default()))
    }

    /// Adds `n`; returns the number of adds the rep it went to has seen.
    #[inline]
    pub fn add_counted(&self, n: u64) -> u64 {
        self.object.call(|c| c.rep().add(n, c.cpu()))
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.add_counted(n);
    }

    /// The total.
    pub fn get(&self) -> u64 {
        self.object.call(|c| total(c.root()))
    }

    /// The live implementation's name.
    pub fn implementation(&self) -> &'static str {
        self.object.implementation()
    }

    /// Swaps to `imp`, carrying the total over.
    pub fn swap(
        &self,
        imp: Arc<dyn Implementation<dyn CounterRep>>,
    ) -> Result<SwapReport, SwapError> {
        self.object.swap(imp)
    }

    /// The underlying clustered object.
    pub fn object(&self) -> &Arc<Clustered<dyn CounterRep>> {
        &self.object
    }

    /// Its id in the translation table.
    pub fn id(&self) -> ObjectId {
        self.object.id()
    }
}

impl Default for ClusteredCounter {
    fn default() -> Self {
        Self::distributed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_implementations_count_from_many_threads() {
        for counter in [ClusteredCounter::shared(), ClusteredCounter::distributed()] {
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..10_000).for_each(|_| counter.add(3)));
                }
            });
            assert_eq!(counter.get(), 120_000, "{}", counter.implementation());
        }
    }

    #[test]
    fn distributed_reps_are_made_on_first_use_only() {
        let counter = ClusteredCounter::distributed();
        let misses = || counter.object().call(|c| c.root().misses());
        assert_eq!(misses(), 0);
        counter.add(1);
        assert!(misses() >= 1);
        assert!(misses() as usize <= crate::cpu::count());
    }

    #[test]
    fn swapping_keeps_the_total_both_ways() {
        let counter = ClusteredCounter::shared();
        counter.add(41);
        let r = counter.swap(Arc::new(Distributed::default())).unwrap();
        assert!(r.completed);
        assert_eq!(
            (r.from, r.to, r.format),
            ("shared", "distributed", Some(Format::Value))
        );
        counter.add(1);
        assert_eq!(counter.get(), 42);
        let r = counter.swap(Arc::new(Distributed::default())).unwrap();
        assert_eq!(r.format, Some(Format::PerRep));
        let r = counter.swap(Arc::new(Shared)).unwrap();
        assert!(r.completed);
        assert_eq!((counter.get(), counter.implementation()), (42, "shared"));
    }

    #[test]
    fn per_rep_state_of_another_layout_keeps_the_total() {
        let counter = ClusteredCounter::new(Arc::new(Distributed {
            kind: RootKind::PerCpu,
        }));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| counter.add(1)));
            }
        });
        let to = Distributed {
            kind: RootKind::ClusteredByN(2),
        };
        let r = counter.swap(Arc::new(to)).unwrap();
        assert!(r.completed, "{r:?}");
        assert_eq!(r.format, Some(Format::PerRep));
        assert_eq!(counter.get(), 4000);
    }
}
