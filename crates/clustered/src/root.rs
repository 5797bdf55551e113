//! Roots: where an object's representatives live, and the miss handler.
//!
//! A root has one slot per *cluster* of CPUs. Its [`RootKind`] says how
//! CPUs map to slots:
//!
//! ```text
//!   Shared          cpu 0 1 2 3 4 5 6 7  ->  slot 0            (one rep)
//!   PerCpu          cpu 0 1 2 3 4 5 6 7  ->  slot 0 1 2 3 4 5 6 7
//!   ClusteredByN(4) cpu 0 1 2 3 4 5 6 7  ->  slot 0 0 0 0 1 1 1 1
//! ```
//!
//! Slots start empty. The first call from a CPU whose slot is empty takes
//! the *miss* path: the implementation's miss handler makes the
//! representative and the slot keeps it for the root's lifetime (a
//! `OnceLock`, so two CPUs missing together agree on one). Later calls
//! from that cluster find it with one acquire load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::Implementation;

/// How the CPUs share representatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// One representative for every CPU.
    Shared,
    /// One representative per CPU.
    PerCpu,
    /// One representative per group of `n` consecutive CPUs.
    ClusteredByN(usize),
}

impl RootKind {
    /// How many slots a root of this kind has for `cpus` CPUs.
    pub fn slots(self, cpus: usize) -> usize {
        match self {
            RootKind::Shared => 1,
            RootKind::PerCpu => cpus.max(1),
            RootKind::ClusteredByN(n) => cpus.max(1).div_ceil(n.max(1)),
        }
    }

    /// The slot CPU `cpu` uses.
    #[inline]
    pub fn slot(self, cpu: usize) -> usize {
        match self {
            RootKind::Shared => 0,
            RootKind::PerCpu => cpu,
            RootKind::ClusteredByN(n) => cpu / n.max(1),
        }
    }
}

/// One instance of an implementation: its representatives, made on demand.
pub struct Root<R: ?Sized> {
    imp: Arc<dyn Implementation<R>>,
    kind: RootKind,
    reps: Box<[OnceLock<Box<R>>]>,
    misses: AtomicU64,
}

impl<R: ?Sized + 'static> Root<R> {
    /// An empty root of `imp` for `cpus` CPUs (every slot misses first).
    pub fn new(imp: Arc<dyn Implementation<R>>, cpus: usize) -> Self {
        let kind = imp.kind();
        Root {
            reps: (0..kind.slots(cpus)).map(|_| OnceLock::new()).collect(),
            imp,
            kind,
            misses: AtomicU64::new(0),
        }
    }

    /// The implementation this root belongs to.
    pub fn implementation(&self) -> &Arc<dyn Implementation<R>> {
        &self.imp
    }

    /// How CPUs map to representatives here.
    pub fn kind(&self) -> RootKind {
        self.kind
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.reps.len()
    }

    /// The representative for CPU `cpu`, made by the miss handler if that
    /// CPU's cluster has none yet.
    #[inline]
    pub fn rep_for_cpu(&self, cpu: usize) -> &R {
        self.rep_at(self.kind.slot(cpu) % self.reps.len())
    }

    /// The representative in slot `slot`, made on a miss.
    ///
    /// # Panics
    /// If `slot` is not below [`Root::slots`].
    pub fn rep_at(&self, slot: usize) -> &R {
        self.reps[slot].get_or_init(|| {
            self.misses.fetch_add(1, Ordering::Relaxed);
            self.imp.make_rep()
        })
    }

    /// The representatives made so far, with their slots.
    pub fn reps(&self) -> impl Iterator<Item = (usize, &R)> {
        self.reps
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.get().map(|r| (i, &**r)))
    }

    /// How many times the miss handler ran.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_cpus_to_slots() {
        assert_eq!(RootKind::Shared.slots(8), 1);
        assert_eq!(RootKind::PerCpu.slots(8), 8);
        assert_eq!(RootKind::ClusteredByN(3).slots(8), 3);
        assert_eq!(RootKind::ClusteredByN(4).slot(5), 1);
        assert_eq!(RootKind::ClusteredByN(0).slots(2), 2);
        assert_eq!(RootKind::Shared.slot(7), 0);
    }
}
