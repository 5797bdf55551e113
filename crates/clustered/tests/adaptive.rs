//! The adaptive counter's choice under one thread and under eight
//! contending ones. The policy decides from counts (adds that found the
//! lock busy or last taken on another CPU; adds per CPU), so the tests
//! bound the work by adds, never by time.

use std::sync::atomic::{AtomicBool, Ordering};

use weaves_clustered::{AdaptiveCounter, Policy};

fn policy() -> Policy {
    Policy {
        window: 1024,
        ..Policy::default()
    }
}

#[test]
fn one_thread_keeps_the_shared_implementation() {
    let counter = AdaptiveCounter::new(policy());
    for _ in 0..1_000_000 {
        counter.add(1);
    }
    // One thread never finds the lock taken, and takes it from another CPU
    // only when it migrates: no window comes near 1 % contended.
    assert_eq!(counter.implementation(), "shared");
    assert_eq!(counter.swaps(), 0);
    assert_eq!(counter.get(), 1_000_000);
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; the call fills the local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Keeps the calling thread on `cpu`.
fn pin(cpu: usize) {
    // SAFETY: as above; the call reads the local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Eight threads, four pinned to each of two CPUs: left alone, the kernel
/// may run them all on one CPU for a long while (another test busy on the
/// other when they started), and threads taking turns on one CPU do not
/// contend — shared is then the right choice, and there is nothing to show.
#[test]
fn eight_contending_threads_pick_distributed_and_one_goes_back_to_shared() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("one CPU: eight threads do not add at the same time; nothing to show");
        return;
    }
    const BOUND: u64 = 20_000_000;
    let counter = AdaptiveCounter::new(policy());
    let swapped = AtomicBool::new(false);
    let added: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let (counter, swapped, cpu) = (&counter, &swapped, cpus[i % 2]);
                s.spawn(move || {
                    pin(cpu);
                    let mut n = 0u64;
                    while n < BOUND / 8 && !swapped.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            counter.add(1);
                        }
                        n += 256;
                        if counter.swaps() > 0 {
                            swapped.store(true, Ordering::Relaxed);
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert!(
        counter.swaps_by_direction().0 >= 1,
        "no swap after {added} contended adds ({}, {:?})",
        counter.implementation(),
        counter.counter().object().call(|c| c.rep().stats())
    );
    assert_eq!(counter.implementation(), "distributed");
    let report = counter.last_swap().unwrap();
    assert_eq!((report.from, report.to), ("shared", "distributed"));
    assert!(report.completed, "{report:?}");
    assert_eq!(counter.get(), added);

    // Alone again, all adds land on one CPU's rep: back to shared.
    let mut alone = 0u64;
    while counter.implementation() != "shared" && alone < BOUND {
        for _ in 0..1024 {
            counter.add(1);
        }
        alone += 1024;
    }
    assert_eq!(
        counter.implementation(),
        "shared",
        "after {alone} adds alone"
    );
    assert!(counter.swaps_by_direction().1 >= 1);
    assert_eq!(counter.get(), added + alone);
}
