//! Generation-based quiescence: knowing when every call that began before
//! a point in time has ended, without making calls share a cache line.
//!
//! A [`Generations`] holds a generation number and, per CPU, two counters
//! of calls in progress — one per parity of the generation:
//!
//! ```text
//!   generation g = 7 (odd)
//!                 cpu 0     cpu 1     cpu 2  ...   (one cache line each)
//!   even        [   0   ] [   0   ] [   0   ]     <- the old generation, drained
//!   odd         [   2   ] [   0   ] [   1   ]     <- calls entered in generation 7
//! ```
//!
//! A call *enters* by adding one to its CPU's counter for the current
//! parity and *leaves* by taking it back (the [`Token`] remembers which
//! counter). To wait for every call in progress, [`Generations::advance`]
//! moves to the next generation — new calls count on the other parity —
//! and waits until the old parity's counters sum to zero.
//!
//! The race between a call reading generation `g` and the advance is
//! closed Dekker-style: the call adds to its counter, then reads the
//! generation again (both sequentially consistent) and retries if it
//! moved; the advance moves the generation, then reads the counters. In
//! the single order of those four operations either the call sees the new
//! generation (and moves to the other parity) or the advance sees the
//! call's count (and waits for it).
//!
//! Two parities suffice because only one advance runs at a time (callers
//! serialise, see [`crate::Clustered::swap`]) and each waits for its old
//! parity to drain before returning.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// Calls in progress, counted per CPU and per generation parity.
pub struct Generations {
    generation: CachePadded<AtomicU64>,
    counts: Box<[CachePadded<[AtomicUsize; 2]>]>,
}

/// A call in progress; dropping it leaves the generation it entered.
#[must_use = "the call leaves its generation when the token is dropped"]
pub struct Token<'a> {
    generations: &'a Generations,
    parity: usize,
    slot: usize,
    cpu: usize,
}

impl Token<'_> {
    /// The CPU the call entered on.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

impl Drop for Token<'_> {
    fn drop(&mut self) {
        self.generations.counts[self.slot][self.parity].fetch_sub(1, Ordering::Release);
    }
}

impl Generations {
    /// Counters for `cpus` CPUs, in generation 0.
    pub fn new(cpus: usize) -> Self {
        Generations {
            generation: CachePadded::new(AtomicU64::new(0)),
            counts: (0..cpus.max(1))
                .map(|_| CachePadded::new([AtomicUsize::new(0), AtomicUsize::new(0)]))
                .collect(),
        }
    }

    /// The current generation.
    pub fn current(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Enters the current generation from CPU `cpu`.
    #[inline]
    pub fn enter(&self, cpu: usize) -> Token<'_> {
        let slot = cpu % self.counts.len();
        loop {
            let g = self.generation.load(Ordering::SeqCst);
            let parity = (g & 1) as usize;
            self.counts[slot][parity].fetch_add(1, Ordering::SeqCst);
            if self.generation.load(Ordering::SeqCst) == g {
                return Token {
                    generations: self,
                    parity,
                    slot,
                    cpu,
                };
            }
            // An advance moved on meanwhile and may already have summed
            // this parity: count on the new one instead.
            self.counts[slot][parity].fetch_sub(1, Ordering::Release);
        }
    }

    /// Calls in progress that entered with parity `parity`.
    fn in_progress(&self, parity: usize) -> usize {
        self.counts.iter().fold(0usize, |n, c| {
            n.wrapping_add(c[parity].load(Ordering::SeqCst))
        })
    }

    /// Moves to the next generation and waits until every call that entered
    /// an earlier one has left. Returns how many times it looked.
    ///
    /// The caller must not itself be inside a call counted here, and at
    /// most one advance may run at a time.
    pub fn advance(&self) -> u64 {
        let old = self.generation.fetch_add(1, Ordering::SeqCst);
        let parity = (old & 1) as usize;
        let mut looks = 0u64;
        while self.in_progress(parity) != 0 {
            looks += 1;
            // Calls are short: spin a little, then let the threads inside
            // run (on a machine with fewer CPUs than threads they may be
            // waiting for this one's).
            if looks < 64 {
                std::hint::spin_loop();
            } else if looks < 1024 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        looks + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn advance_with_no_calls_returns_at_once() {
        let g = Generations::new(4);
        assert_eq!(g.advance(), 1);
        assert_eq!(g.current(), 1);
    }

    #[test]
    fn advance_waits_for_a_call_of_the_old_generation() {
        let g = Arc::new(Generations::new(2));
        let left = Arc::new(AtomicBool::new(false));
        let token = g.enter(1);
        let waiter = {
            let (g, left) = (g.clone(), left.clone());
            std::thread::spawn(move || {
                g.advance();
                // The call must have left before the advance returned.
                assert!(left.load(Ordering::SeqCst));
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        left.store(true, Ordering::SeqCst);
        drop(token);
        waiter.join().unwrap();
    }

    #[test]
    fn calls_of_the_new_generation_do_not_hold_up_an_advance() {
        let g = Arc::new(Generations::new(2));
        let old = g.enter(0);
        let waiter = {
            let g = g.clone();
            std::thread::spawn(move || g.advance())
        };
        while g.current() == 0 {
            std::thread::yield_now();
        }
        // Entered after the advance began: it counts on the other parity.
        let new = g.enter(1);
        drop(old);
        waiter.join().unwrap();
        assert_eq!(g.current(), 1);
        drop(new);
    }
}
