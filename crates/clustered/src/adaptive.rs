//! A counter that picks its own implementation from the contention it sees.
//!
//! Every `window` adds seen by one rep, the thread that made the last of
//! them reviews the window (others skip the review while one runs):
//!
//! * under [`Shared`], the contention rate is the share of adds that found
//!   the lock taken or last taken on another CPU. Above `up`, the counter
//!   swaps to [`Distributed`].
//! * under [`Distributed`] no add waits, so the rate is the share of the
//!   window's adds made on other CPUs than the busiest one: the adds that
//!   would have met on one lock. Below `down`, far below `up`, for `calm`
//!   reviews in a row, it swaps back to [`Shared`], whose reads are
//!   cheaper.
//!
//! The decision is [`decide`], a pure function of the window's counts, so
//! it can be tested without timing anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::counter::{ClusteredCounter, CounterRep, Distributed, RepStats, Shared};
use crate::{Implementation, SwapReport};

/// When to swap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// Adds per rep between reviews.
    pub window: u64,
    /// Swap shared → distributed when more than this share of adds found
    /// the lock taken.
    pub up: f64,
    /// Swap distributed → shared when less than this share of adds came
    /// from CPUs other than the busiest ...
    pub down: f64,
    /// ... in this many reviews in a row (a moment of calm, or the last
    /// of many threads finishing alone, is no reason to give up the
    /// distributed reps).
    pub calm: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window: 4096,
            up: 0.01,
            down: 0.001,
            calm: 256,
        }
    }
}

/// What one window saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Adds in the window.
    pub ops: u64,
    /// Adds that found the lock taken (shared only).
    pub contended: u64,
    /// Adds on the busiest rep.
    pub busiest: u64,
}

/// The policy's verdict on a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Stay,
    ToDistributed,
    ToShared,
}

/// Decides from one window's counts, `distributed` telling which
/// implementation they were taken under.
pub fn decide(policy: &Policy, distributed: bool, s: Sample) -> Decision {
    // Too few adds to judge (the window straddled a swap).
    if s.ops == 0 || s.ops < policy.window / 2 {
        return Decision::Stay;
    }
    let ops = s.ops as f64;
    if !distributed && s.contended as f64 / ops > policy.up {
        Decision::ToDistributed
    } else if distributed && (s.ops - s.busiest.min(s.ops)) as f64 / ops < policy.down {
        Decision::ToShared
    } else {
        Decision::Stay
    }
}

/// The counts of the last review, per rep slot, and whose they were.
#[derive(Default)]
struct Window {
    implementation: &'static str,
    last: Vec<RepStats>,
    /// Reviews in a row that said [`Decision::ToShared`].
    calm: u32,
}

/// A clustered counter that swaps between [`Shared`] and [`Distributed`].
pub struct AdaptiveCounter {
    counter: ClusteredCounter,
    policy: Policy,
    window: Mutex<Window>,
    shared: Arc<dyn Implementation<dyn CounterRep>>,
    distributed: Arc<dyn Implementation<dyn CounterRep>>,
    last_swap: Mutex<Option<SwapReport>>,
    to_distributed: AtomicU64,
    to_shared: AtomicU64,
}

impl AdaptiveCounter {
    /// A counter starting shared.
    pub fn new(policy: Policy) -> Self {
        Self::starting(policy, false)
    }

    /// A counter starting distributed when `distributed`, else shared.
    pub fn starting(policy: Policy, distributed: bool) -> Self {
        let shared: Arc<dyn Implementation<dyn CounterRep>> = Arc::new(Shared);
        let dist: Arc<dyn Implementation<dyn CounterRep>> = Arc::new(Distributed::default());
        let first = if distributed { &dist } else { &shared };
        AdaptiveCounter {
            counter: ClusteredCounter::new(first.clone()),
            policy: Policy {
                window: policy.window.max(1),
                ..policy
            },
            window: Mutex::default(),
            shared,
            distributed: dist,
            last_swap: Mutex::new(None),
            to_distributed: AtomicU64::new(0),
            to_shared: AtomicU64::new(0),
        }
    }

    /// Adds `n` (and reviews the window when it is full).
    #[inline]
    pub fn add(&self, n: u64) {
        if self
            .counter
            .add_counted(n)
            .is_multiple_of(self.policy.window)
        {
            self.review();
        }
    }

    /// The total.
    pub fn get(&self) -> u64 {
        self.counter.get()
    }

    /// `"shared"` or `"distributed"`.
    pub fn implementation(&self) -> &'static str {
        self.counter.implementation()
    }

    /// Swaps made so far.
    pub fn swaps(&self) -> u64 {
        self.counter.object().swaps()
    }

    /// Swaps made to the distributed implementation and back to shared.
    pub fn swaps_by_direction(&self) -> (u64, u64) {
        (
            self.to_distributed.load(Ordering::Relaxed),
            self.to_shared.load(Ordering::Relaxed),
        )
    }

    /// The report of the last swap, if any.
    pub fn last_swap(&self) -> Option<SwapReport> {
        self.last_swap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The counter underneath.
    pub fn counter(&self) -> &ClusteredCounter {
        &self.counter
    }

    /// Looks at the counts since the last review and swaps if the policy
    /// says so. Returns the decision taken (`Stay` when another thread was
    /// reviewing).
    pub fn review(&self) -> Decision {
        let Ok(mut window) = self.window.try_lock() else {
            return Decision::Stay;
        };
        let (name, stats) = self.counter.object().call(|c| {
            let root = c.root();
            let mut stats = vec![RepStats::default(); root.slots()];
            for (slot, r) in root.reps() {
                stats[slot] = r.stats();
            }
            (root.implementation().name(), stats)
        });
        if window.implementation != name || window.last.len() != stats.len() {
            // A new implementation: its counts start now.
            *window = Window {
                implementation: name,
                last: stats,
                calm: 0,
            };
            return Decision::Stay;
        }
        let mut sample = Sample::default();
        for (now, then) in stats.iter().zip(&window.last) {
            let ops = now.ops.saturating_sub(then.ops);
            sample.ops += ops;
            sample.contended += now.contended.saturating_sub(then.contended);
            sample.busiest = sample.busiest.max(ops);
        }
        window.last = stats;
        let mut decision = decide(&self.policy, name == self.distributed.name(), sample);
        if decision == Decision::ToShared {
            window.calm += 1;
            if window.calm < self.policy.calm {
                decision = Decision::Stay;
            }
        } else {
            window.calm = 0;
        }
        let (to, tally) = match decision {
            Decision::Stay => return decision,
            Decision::ToDistributed => (&self.distributed, &self.to_distributed),
            Decision::ToShared => (&self.shared, &self.to_shared),
        };
        // Refused only when called from inside another clustered call:
        // the next review will try again.
        match self.counter.swap(to.clone()) {
            Ok(report) => {
                if report.completed {
                    tally.fetch_add(1, Ordering::Relaxed);
                }
                *self.last_swap.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                decision
            }
            Err(_) => Decision::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            window: 1000,
            up: 0.01,
            down: 0.001,
            calm: 1,
        }
    }

    fn sample(ops: u64, contended: u64, busiest: u64) -> Sample {
        Sample {
            ops,
            contended,
            busiest,
        }
    }

    #[test]
    fn contention_above_the_threshold_goes_distributed() {
        let p = policy();
        assert_eq!(
            decide(&p, false, sample(1000, 11, 1000)),
            Decision::ToDistributed
        );
        assert_eq!(decide(&p, false, sample(1000, 10, 1000)), Decision::Stay);
        assert_eq!(decide(&p, false, sample(1000, 0, 1000)), Decision::Stay);
    }

    #[test]
    fn adds_from_one_cpu_go_back_to_shared_and_from_many_stay() {
        let p = policy();
        assert_eq!(decide(&p, true, sample(1000, 0, 1000)), Decision::ToShared);
        assert_eq!(decide(&p, true, sample(2000, 0, 1000)), Decision::Stay);
        // Between the thresholds nothing moves (hysteresis).
        assert_eq!(decide(&p, true, sample(1000, 0, 995)), Decision::Stay);
    }

    #[test]
    fn a_window_too_short_to_judge_changes_nothing() {
        let p = policy();
        assert_eq!(decide(&p, false, sample(10, 10, 10)), Decision::Stay);
        assert_eq!(decide(&p, true, sample(0, 0, 0)), Decision::Stay);
    }
}
