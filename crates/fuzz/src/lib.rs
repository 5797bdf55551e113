//! # A mutation fuzzer that runs inside the test suite
//!
//! Every byte-level input of weaves — tapestry files, ELF modules,
//! checkpoint images, monitor requests — has a fuzz target: a test that
//! feeds a parser thousands of damaged variants of a small corpus and fails
//! on the first panic or hang. This crate is the engine those tests share.
//! It has no dependencies and nothing random about it: input number `i` of
//! a target is a pure function of the seed, `i` and the corpus, so every
//! failure reproduces from two numbers.
//!
//! ```no_run
//! let corpus = vec![b"[tapestry]\nname = \"t\"\n".to_vec()];
//! let report = weaves_fuzz::Fuzzer::new("tapestry", corpus)
//!     .iterations(5_000)
//!     .dictionary(&[b"[[bead]]", b"count = ", b"{i}"])
//!     .run(|input| {
//!         // Parse; Ok or Err are both fine: a panic is the failure.
//!         std::str::from_utf8(input).map(|_| ()).map_err(|e| e.to_string())
//!     });
//! assert!(report.inputs >= 5_000);
//! ```
//!
//! ## How an input is made
//!
//! Inputs `0..corpus.len()` are the corpus entries themselves (so a target
//! that rejects its own corpus shows up as "0 accepted"). Every later input
//! starts from a corpus entry chosen by its own generator and stacks 1–4
//! mutations (sometimes up to 16): generic byte-level ones ([`mutate`]) —
//! bit flips, "interesting" integers (0, -1, 2^31, 2^63, …) at any width,
//! arithmetic on integers, deleted, inserted, duplicated or spliced ranges,
//! dictionary tokens — and, half the time when the target supplies one, a
//! structure-aware mutator that knows where the length fields are. A
//! target's `fixup` then runs on the result: the checkpoint image target
//! uses it to recompute checksums, so crafted lengths reach the code behind
//! the checksum check.
//!
//! ## What fails a target
//!
//! * a **panic** while handling an input: the input is written to
//!   `$WEAVES_FUZZ_CRASH_DIR` (default: `$TMPDIR/weaves-fuzz/`) and the
//!   test fails with the command that reruns exactly that input;
//! * a **hang**: an input still running after `WEAVES_FUZZ_HANG_MS`
//!   (default 10 000) — a watchdog thread saves it and aborts the process
//!   (nothing else can stop a loop that does not return).
//!
//! ## Knobs (environment)
//!
//! | variable | effect |
//! |---|---|
//! | `WEAVES_FUZZ_ITERS` | inputs per target (default: each target's own, a few thousand) |
//! | `WEAVES_FUZZ_SEED` | base seed (default: derived from the target's name) |
//! | `WEAVES_FUZZ_ONLY` | run only input number N (to reproduce a failure) |
//! | `WEAVES_FUZZ_HANG_MS` | how long one input may take |
//! | `WEAVES_FUZZ_CRASH_DIR` | where failing inputs are saved |
//!
//! A long local run: `WEAVES_FUZZ_ITERS=1000000 cargo test --release
//! -p weaves-loader --test fuzz -- --nocapture` prints each target's figures.

mod mutate;
mod rng;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use mutate::{get_le, interesting, mutate, put_le};
pub use rng::Rng;

/// A structure-aware mutation or fixup: changes an input in place.
pub type Mutator = dyn Fn(&mut Rng, &mut Vec<u8>) + Send + Sync;

/// One fuzz target's inputs: corpus, mutations, limits.
pub struct Fuzzer {
    name: &'static str,
    gen: Generator,
    iterations: u64,
}

/// Makes input `i` from the seed: everything needed, shared with the
/// watchdog (which regenerates a hanging input to save it).
#[derive(Clone)]
struct Generator {
    corpus: Arc<Vec<Vec<u8>>>,
    dictionary: Arc<Vec<Vec<u8>>>,
    mutator: Option<Arc<Mutator>>,
    fixup: Option<Arc<Mutator>>,
    max_len: usize,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: &'static str,
    /// Inputs handled.
    pub inputs: u64,
    /// Inputs the target accepted (returned `Ok`).
    pub accepted: u64,
    /// Distinct rejection messages (digits folded), up to 100 000: a rough
    /// measure of how many of the parser's checks the inputs reached.
    pub rejections: usize,
    pub elapsed: Duration,
    /// The slowest input: its number and how long it took.
    pub slowest: (u64, Duration),
    pub seed: u64,
    /// Whether this was a rerun of one input (`WEAVES_FUZZ_ONLY`).
    pub rerun: bool,
}

impl Report {
    /// Fails unless the inputs went deep enough to mean something: at
    /// least `accepted` of them were accepted (mutations that keep an input
    /// valid reach the code behind the checks) and at least `rejections`
    /// different refusals were seen. A rerun of one input passes.
    pub fn expect_depth(&self, accepted: u64, rejections: usize) {
        if self.rerun {
            return;
        }
        assert!(
            self.accepted >= accepted && self.rejections >= rejections,
            "too shallow (wanted {accepted} accepted, {rejections} kinds of refusal): {self}"
        );
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz {}: {} inputs in {:.2} s ({:.0}/s, seed {:#x}); {} accepted, {} distinct rejections; slowest #{} took {:.2} ms",
            self.name,
            self.inputs,
            self.elapsed.as_secs_f64(),
            self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.seed,
            self.accepted,
            self.rejections,
            self.slowest.0,
            self.slowest.1.as_secs_f64() * 1e3,
        )
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

impl Fuzzer {
    /// A target named `name` (it names saved inputs and the report) over a
    /// non-empty corpus of valid inputs.
    pub fn new(name: &'static str, corpus: Vec<Vec<u8>>) -> Fuzzer {
        assert!(!corpus.is_empty(), "fuzz {name}: empty corpus");
        let max_len = corpus.iter().map(Vec::len).max().unwrap_or(0) * 2 + 256;
        Fuzzer {
            name,
            gen: Generator {
                corpus: Arc::new(corpus),
                dictionary: Arc::new(Vec::new()),
                mutator: None,
                fixup: None,
                max_len,
            },
            iterations: 2_000,
        }
    }

    /// How many inputs to run when `WEAVES_FUZZ_ITERS` is not set.
    pub fn iterations(mut self, n: u64) -> Fuzzer {
        self.iterations = n;
        self
    }

    /// Inputs never grow past `n` bytes (default: twice the largest corpus
    /// entry, plus 256).
    pub fn max_len(mut self, n: usize) -> Fuzzer {
        self.gen.max_len = n;
        self
    }

    /// Tokens the generic mutations insert or write over bytes (keywords,
    /// delimiters, magic numbers of the format).
    pub fn dictionary(mut self, tokens: &[&[u8]]) -> Fuzzer {
        self.gen.dictionary = Arc::new(tokens.iter().map(|t| t.to_vec()).collect());
        self
    }

    /// A structure-aware mutation, used for about half of the mutations.
    pub fn mutator(mut self, m: impl Fn(&mut Rng, &mut Vec<u8>) + Send + Sync + 'static) -> Fuzzer {
        self.gen.mutator = Some(Arc::new(m));
        self
    }

    /// Runs on every mutated input last (to repair checksums, say).
    pub fn fixup(mut self, f: impl Fn(&mut Rng, &mut Vec<u8>) + Send + Sync + 'static) -> Fuzzer {
        self.gen.fixup = Some(Arc::new(f));
        self
    }

    /// The seed used: `WEAVES_FUZZ_SEED`, or one derived from the name.
    pub fn seed(&self) -> u64 {
        env_u64("WEAVES_FUZZ_SEED").unwrap_or_else(|| {
            // FNV-1a of the name: stable across runs and platforms.
            self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        })
    }

    /// Input number `i` under `seed`.
    pub fn input(&self, seed: u64, i: u64) -> Vec<u8> {
        self.gen.input(seed, i)
    }

    /// Runs `target` on every input; returns the figures (also printed to
    /// stderr). Panics — after saving the input — if `target` panics.
    pub fn run(self, mut target: impl FnMut(&[u8]) -> Result<(), String>) -> Report {
        let seed = self.seed();
        let only = env_u64("WEAVES_FUZZ_ONLY");
        let total = env_u64("WEAVES_FUZZ_ITERS").unwrap_or(self.iterations);
        let range = match only {
            Some(i) => i..i + 1,
            None => 0..total,
        };
        let watchdog = Watchdog::start(self.name, seed, self.gen.clone());
        let started = Instant::now();
        let mut report = Report {
            name: self.name,
            inputs: 0,
            accepted: 0,
            rejections: 0,
            elapsed: Duration::ZERO,
            slowest: (0, Duration::ZERO),
            seed,
            rerun: only.is_some(),
        };
        let mut kinds: HashSet<String> = HashSet::new();
        for i in range {
            let input = self.gen.input(seed, i);
            watchdog.begin(i);
            let t = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
            let took = t.elapsed();
            watchdog.end();
            match outcome {
                Ok(Ok(())) => report.accepted += 1,
                Ok(Err(why)) => {
                    if kinds.len() < 100_000 {
                        kinds.insert(fold_digits(&why));
                    }
                }
                Err(panic) => {
                    let saved = save(self.name, seed, i, &input);
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    panic!(
                        "fuzz {}: input #{i} (seed {seed:#x}, {} bytes) panicked: {what}\n  saved to {}\n  rerun it: WEAVES_FUZZ_SEED={seed:#x} WEAVES_FUZZ_ONLY={i} cargo test …",
                        self.name,
                        input.len(),
                        saved.display()
                    );
                }
            }
            if took > report.slowest.1 {
                report.slowest = (i, took);
            }
            report.inputs += 1;
        }
        watchdog.stop();
        report.elapsed = started.elapsed();
        report.rejections = kinds.len();
        eprintln!("{report}");
        report
    }
}

/// Error messages with digits folded, so "at byte 12" and "at byte 40"
/// count as one kind of rejection.
fn fold_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(120));
    let mut last_digit = false;
    for c in s.chars().take(120) {
        let digit = c.is_ascii_hexdigit() && (last_digit || c.is_ascii_digit());
        if digit {
            if !last_digit {
                out.push('#');
            }
        } else {
            out.push(c);
        }
        last_digit = digit;
    }
    out
}

impl Generator {
    fn input(&self, seed: u64, i: u64) -> Vec<u8> {
        if let Some(entry) = usize::try_from(i).ok().and_then(|i| self.corpus.get(i)) {
            return entry.clone();
        }
        let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut data = self.corpus[rng.below(self.corpus.len() as u64) as usize].clone();
        let rounds = if rng.chance(1, 8) {
            1 + rng.below(16)
        } else {
            1 + rng.below(4)
        };
        for _ in 0..rounds {
            match &self.mutator {
                Some(m) if rng.chance(1, 2) => m(&mut rng, &mut data),
                _ => mutate(&mut rng, &mut data, &self.corpus, &self.dictionary),
            }
            data.truncate(self.max_len);
        }
        if let Some(f) = &self.fixup {
            f(&mut rng, &mut data);
        }
        data
    }
}

/// Where failing inputs go.
fn crash_dir() -> PathBuf {
    std::env::var_os("WEAVES_FUZZ_CRASH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("weaves-fuzz"))
}

fn save(name: &str, seed: u64, i: u64, input: &[u8]) -> PathBuf {
    let dir = crash_dir();
    let path = dir.join(format!("{name}-{seed:016x}-{i}.bin"));
    if std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, input))
        .is_err()
    {
        return PathBuf::from("(could not be saved)");
    }
    path
}

/// Aborts the process, after saving the input, if one input runs too long.
struct Watchdog {
    state: Arc<WatchState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct WatchState {
    /// The input being handled, and since when (ns since `epoch`); 0 when
    /// none is.
    index: AtomicU64,
    since: AtomicU64,
    busy: AtomicBool,
    stop: AtomicBool,
    epoch: Instant,
}

impl Watchdog {
    fn start(name: &'static str, seed: u64, gen: Generator) -> Watchdog {
        let limit = Duration::from_millis(env_u64("WEAVES_FUZZ_HANG_MS").unwrap_or(10_000));
        let state = Arc::new(WatchState {
            index: AtomicU64::new(0),
            since: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            epoch: Instant::now(),
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fuzz watchdog {name}"))
            .spawn(move || {
                while !s.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if !s.busy.load(Ordering::Acquire) {
                        continue;
                    }
                    let i = s.index.load(Ordering::Acquire);
                    let since = Duration::from_nanos(s.since.load(Ordering::Acquire));
                    let now = s.epoch.elapsed();
                    if s.busy.load(Ordering::Acquire)
                        && s.index.load(Ordering::Acquire) == i
                        && now.saturating_sub(since) > limit
                    {
                        let input = gen.input(seed, i);
                        let saved = save(name, seed, i, &input);
                        eprintln!(
                            "fuzz {name}: input #{i} (seed {seed:#x}) still running after {limit:?}: a hang\n  saved to {}\n  rerun it: WEAVES_FUZZ_SEED={seed:#x} WEAVES_FUZZ_ONLY={i} cargo test …",
                            saved.display()
                        );
                        std::process::abort();
                    }
                }
            })
            .ok();
        Watchdog { state, thread }
    }

    fn begin(&self, i: u64) {
        let s = &self.state;
        s.index.store(i, Ordering::Release);
        s.since
            .store(s.epoch.elapsed().as_nanos() as u64, Ordering::Release);
        s.busy.store(true, Ordering::Release);
    }

    fn end(&self) {
        self.state.busy.store(false, Ordering::Release);
    }

    fn stop(mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // A panicking run stops its watchdog too.
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_a_function_of_seed_and_number() {
        let f = Fuzzer::new("t", vec![b"hello, world".to_vec(), vec![0; 64]]);
        assert_eq!(f.input(7, 0), b"hello, world");
        for i in 2..200 {
            assert_eq!(f.input(7, i), f.input(7, i));
        }
        let differ = (2..200).filter(|&i| f.input(7, i) != f.input(8, i)).count();
        assert!(differ > 150, "seeds must matter: {differ}");
    }

    #[test]
    fn a_panicking_target_fails_with_the_input_saved() {
        let r = std::panic::catch_unwind(|| {
            Fuzzer::new("selftest", vec![b"abc".to_vec()])
                .iterations(50)
                .run(|input| {
                    if input.len() != 3 {
                        panic!("length {}", input.len());
                    }
                    Ok(())
                })
        });
        let msg = r.expect_err("the target panics on most inputs");
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("fuzz selftest: input #"), "{msg}");
        assert!(msg.contains("WEAVES_FUZZ_ONLY="), "{msg}");
    }

    #[test]
    fn digits_fold() {
        assert_eq!(fold_digits("at byte 12 of 4096"), "at byte # of #");
        assert_eq!(fold_digits("page run at 0x1f000"), "page run at #x#");
    }
}
