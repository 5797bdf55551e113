//! `weaves bench clustered`: what each implementation of the clustered
//! counter costs (see `weaves_clustered`).
//!
//! * Single thread: nanoseconds per add through the clustered object with
//!   the shared implementation (one spin-then-yield lock), the distributed one (an atomic
//!   per CPU) and the adaptive counter (which stays shared alone), next to
//!   a bare `AtomicU64::fetch_add` for scale.
//! * Eight threads adding at once: adds per second with shared, with
//!   distributed, and with the adaptive counter, which starts shared and
//!   swaps itself when it sees contention.
//!
//! Every figure is the median of several rounds, with the lowest and
//! highest; ratios are against the shared implementation in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::json;
use weaves_clustered::{AdaptiveCounter, ClusteredCounter, Policy};

const THREADS: u64 = 8;
const ROUNDS: usize = 5;
const KINDS: [&str; 3] = ["shared", "distributed", "adaptive"];
const PHASES: [&str; 4] = ["forward", "block", "transfer", "complete"];

/// A counter under test.
enum Counter {
    Fixed(ClusteredCounter),
    Adaptive(Box<AdaptiveCounter>),
}

impl Counter {
    fn new(kind: &str) -> Counter {
        match kind {
            "shared" => Counter::Fixed(ClusteredCounter::shared()),
            "distributed" => Counter::Fixed(ClusteredCounter::distributed()),
            _ => Counter::Adaptive(Box::new(AdaptiveCounter::new(Policy::default()))),
        }
    }
    #[inline]
    fn add(&self, n: u64) {
        match self {
            Counter::Fixed(c) => c.add(n),
            Counter::Adaptive(c) => c.add(n),
        }
    }
    fn get(&self) -> u64 {
        match self {
            Counter::Fixed(c) => c.get(),
            Counter::Adaptive(c) => c.get(),
        }
    }
    fn implementation(&self) -> &'static str {
        match self {
            Counter::Fixed(c) => c.implementation(),
            Counter::Adaptive(c) => c.implementation(),
        }
    }
    /// Microseconds each phase of the last swap took: forward, block,
    /// transfer, complete.
    fn last_swap_us(&self) -> Option<[f64; 4]> {
        let Counter::Adaptive(c) = self else {
            return None;
        };
        let r = c.last_swap()?;
        Some([r.forward, r.block, r.transfer, r.complete].map(|d| d.as_secs_f64() * 1e6))
    }

    /// Swaps to distributed and back to shared.
    fn swaps(&self) -> (u64, u64) {
        match self {
            Counter::Fixed(_) => (0, 0),
            Counter::Adaptive(c) => c.swaps_by_direction(),
        }
    }
}

/// Median, lowest and highest of some rounds.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    Spread {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

impl Spread {
    fn json(&self) -> serde_json::Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }
}

/// One thread, `n` adds: nanoseconds per add.
fn single(kind: &str, n: u64) -> Result<(f64, &'static str), String> {
    let counter = Counter::new(kind);
    let start = Instant::now();
    for _ in 0..n {
        counter.add(std::hint::black_box(1));
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    check(&counter, n)?;
    Ok((ns, counter.implementation()))
}

fn single_atomic(n: u64) -> f64 {
    let counter = AtomicU64::new(0);
    let start = Instant::now();
    for _ in 0..n {
        counter.fetch_add(std::hint::black_box(1), Ordering::Relaxed);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    std::hint::black_box(counter.load(Ordering::Relaxed));
    ns
}

/// What eight threads adding did: millions of adds per second, the swaps
/// made (to distributed, back to shared) and the last one's phases.
struct Together {
    mops: f64,
    swaps: (u64, u64),
    last_swap_us: Option<[f64; 4]>,
}

/// Eight threads, `n` adds each.
fn multi(kind: &str, n: u64) -> Result<Together, String> {
    let counter = Counter::new(kind);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..n {
                    counter.add(std::hint::black_box(1));
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    check(&counter, THREADS * n)?;
    Ok(Together {
        mops: (THREADS * n) as f64 / elapsed / 1e6,
        swaps: counter.swaps(),
        last_swap_us: counter.last_swap_us(),
    })
}

fn check(counter: &Counter, want: u64) -> Result<(), String> {
    let got = counter.get();
    if got != want {
        return Err(format!(
            "the {} counter lost adds: {got} of {want}",
            counter.implementation()
        ));
    }
    Ok(())
}

pub(crate) fn clustered(json: bool, adds: Option<u64>) -> Result<i32, String> {
    let n = adds.unwrap_or(1_000_000).max(1000);
    let mut atomic = Vec::new();
    let mut single_ns: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
    let mut multi_mops: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
    let mut alone_ends = "";
    let mut together_swaps = Vec::new();
    let mut phases_us: [Vec<f64>; 4] = Default::default();
    // Rounds interleave the kinds so that a change in the machine's load
    // falls on all of them alike.
    for _ in 0..ROUNDS {
        atomic.push(single_atomic(n));
        for (k, kind) in KINDS.iter().enumerate() {
            let (ns, ends) = single(kind, n)?;
            single_ns[k].push(ns);
            let together = multi(kind, n)?;
            multi_mops[k].push(together.mops);
            if *kind == "adaptive" {
                alone_ends = ends;
                together_swaps.push(together.swaps);
                for (p, us) in phases_us
                    .iter_mut()
                    .zip(together.last_swap_us.unwrap_or_default())
                {
                    if together.last_swap_us.is_some() {
                        p.push(us);
                    }
                }
            }
        }
    }
    let atomic = spread(atomic);
    let single: Vec<Spread> = single_ns.into_iter().map(spread).collect();
    let multi: Vec<Spread> = multi_mops.into_iter().map(spread).collect();
    // Rounds in which eight threads made the adaptive counter go distributed.
    let distributed_rounds = together_swaps.iter().filter(|s| s.0 > 0).count();
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    // The last swap of each round that swapped, phase by phase.
    let phases: Option<Vec<Spread>> =
        (!phases_us[0].is_empty()).then(|| phases_us.into_iter().map(spread).collect());

    if json {
        let by_kind = |v: &[Spread]| -> serde_json::Value {
            KINDS
                .iter()
                .zip(v)
                .map(|(k, s)| (k.to_string(), s.json()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let ratio = |v: &[Spread]| -> serde_json::Value {
            KINDS
                .iter()
                .zip(v)
                .map(|(k, s)| (k.to_string(), json!(s.median / v[0].median)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let out = json!({
            "adds_per_thread": n,
            "threads": THREADS,
            "rounds": ROUNDS,
            "cpus": cpus,
            "atomic_ns": atomic.json(),
            "single_ns": by_kind(&single),
            "single_ratio_vs_shared": ratio(&single),
            "multi_mops": by_kind(&multi),
            "multi_ratio_vs_shared": ratio(&multi),
            "adaptive_alone_ends": alone_ends,
            "adaptive_together_distributed_rounds": distributed_rounds,
            "adaptive_together_swaps": together_swaps
                .iter()
                .map(|s| json!({"to_distributed": s.0, "to_shared": s.1}))
                .collect::<Vec<_>>(),
            "adaptive_swap_phases_us": phases.as_ref().map(|p| {
                PHASES
                    .iter()
                    .zip(p)
                    .map(|(name, s)| (name.to_string(), s.json()))
                    .collect::<serde_json::Map<_, _>>()
            }),
        });
        outln!("{out}");
        return Ok(0);
    }
    outln!(
        "clustered: a counter's implementations ({n} adds a thread, median of {ROUNDS} rounds [lowest–highest], {cpus} CPUs)"
    );
    outln!("  one thread, ns per add                                 vs shared");
    outln!(
        "    bare AtomicU64::fetch_add   {:>8.2} [{:.2}–{:.2}]",
        atomic.median,
        atomic.min,
        atomic.max
    );
    for (kind, s) in KINDS.iter().zip(&single) {
        outln!(
            "    {:<27} {:>8.2} [{:.2}–{:.2}]   {:>6.2}x",
            kind,
            s.median,
            s.min,
            s.max,
            s.median / single[0].median
        );
    }
    outln!("    (adaptive alone ends {alone_ends})");
    outln!("  {THREADS} threads adding at once, millions of adds per second     vs shared");
    for (kind, s) in KINDS.iter().zip(&multi) {
        outln!(
            "    {:<27} {:>8.2} [{:.2}–{:.2}]   {:>6.2}x",
            kind,
            s.median,
            s.min,
            s.max,
            s.median / multi[0].median
        );
    }
    let swaps: Vec<String> = together_swaps
        .iter()
        .map(|(up, down)| format!("{up}↑{down}↓"))
        .collect();
    outln!(
        "    (adaptive went distributed in {distributed_rounds} of {ROUNDS} rounds; swaps per round, to distributed ↑ and back ↓: {})",
        swaps.join(" ")
    );
    if let Some(p) = phases {
        let each: Vec<String> = PHASES
            .iter()
            .zip(&p)
            .map(|(name, s)| format!("{name} {:.1}", s.median))
            .collect();
        outln!(
            "    (a swap under {THREADS} threads, median µs per phase: {})",
            each.join(", ")
        );
    }
    Ok(0)
}
