//! The mediator under load: exact totals through repeated swaps,
//! re-entrant calls while callers are blocked, and rolled-back transfers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use weaves_clustered::{
    table, Clustered, ClusteredCounter, CounterRep, Distributed, Format, Implementation, Phase,
    RepStats, Root, RootKind, Shared, State, SwapError, TransferError,
};

fn wait_for(object: &Clustered<dyn CounterRep>, phase: Phase) {
    while object.phase() != phase {
        std::thread::yield_now();
    }
}

#[test]
fn increments_through_repeated_swaps_are_neither_lost_nor_duplicated() {
    const THREADS: u64 = 8;
    const ADDS: u64 = 100_000;
    let counter = ClusteredCounter::shared();
    let done = AtomicU64::new(0);
    let implementations: [Arc<dyn Implementation<dyn CounterRep>>; 3] = [
        Arc::new(Distributed::default()),
        Arc::new(Distributed {
            kind: RootKind::ClusteredByN(2),
        }),
        Arc::new(Shared),
    ];
    let mut completed = 0;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (counter, done) = (&counter, &done);
            s.spawn(move || {
                for i in 0..ADDS {
                    // Mixed sizes: a lost or doubled add of any of them
                    // changes the total.
                    counter.add(1 + (i + t) % 3);
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let mut next = 0;
        while done.load(Ordering::SeqCst) < THREADS || completed < 3 {
            let report = counter.swap(implementations[next % 3].clone()).unwrap();
            assert!(report.completed, "{report:?}");
            completed += 1;
            next += 1;
        }
    });
    let want: u64 = (0..THREADS)
        .map(|t| (0..ADDS).map(|i| 1 + (i + t) % 3).sum::<u64>())
        .sum();
    assert_eq!(counter.get(), want, "after {completed} swaps");
    assert_eq!(counter.object().swaps(), completed as u64);
    eprintln!("{completed} swaps under load");
}

#[test]
fn a_reentrant_call_while_callers_are_blocked_goes_through() {
    let counter = ClusteredCounter::shared();
    counter.add(1);
    let object = counter.object();
    let hold = Barrier::new(2);
    let entered = Barrier::new(2);
    let report = std::thread::scope(|s| {
        // An old call keeps the mediator forwarding until released.
        s.spawn(|| {
            object.call(|c| {
                hold.wait();
                hold.wait();
                c.rep().add(1, 0);
            })
        });
        hold.wait();
        let swapper = s.spawn(|| object.swap(Arc::new(Distributed::default())).unwrap());
        wait_for(object, Phase::Forward);
        // A call that starts while forwarding, and calls the object again
        // once new callers are blocked.
        s.spawn(|| {
            object.call(|c| {
                c.rep().add(1, 0);
                entered.wait();
                wait_for(object, Phase::Block);
                object.call(|inner| inner.rep().add(1, 0));
            })
        });
        entered.wait();
        hold.wait();
        swapper.join().unwrap()
    });
    assert!(report.completed, "{report:?}");
    assert!(report.forwarded >= 1, "{report:?}");
    assert!(report.let_through >= 1, "{report:?}");
    assert_eq!(counter.get(), 4);
    assert_eq!(counter.implementation(), "distributed");
}

#[test]
fn callers_blocked_during_a_swap_continue_on_the_new_implementation() {
    let counter = ClusteredCounter::shared();
    let object = counter.object();
    let old = Barrier::new(2);
    let forwarded = Barrier::new(2);
    let (report, seen_by_blocked) = std::thread::scope(|s| {
        s.spawn(|| {
            object.call(|_| {
                old.wait();
                old.wait();
            })
        });
        old.wait();
        let swapper = s.spawn(|| object.swap(Arc::new(Distributed::default())).unwrap());
        wait_for(object, Phase::Forward);
        // A forwarded call holds the swap in Block until released.
        s.spawn(|| {
            object.call(|c| {
                forwarded.wait();
                forwarded.wait();
                c.rep().add(10, 0);
            })
        });
        forwarded.wait();
        old.wait();
        wait_for(object, Phase::Block);
        let blocked = s.spawn(|| {
            counter.add(5);
            counter.implementation()
        });
        while object.mediated().1 == 0 {
            std::thread::yield_now();
        }
        forwarded.wait();
        (swapper.join().unwrap(), blocked.join().unwrap())
    });
    assert!(report.completed, "{report:?}");
    assert!(report.forwarded >= 1 && report.blocked >= 1, "{report:?}");
    assert_eq!(seen_by_blocked, "distributed");
    assert_eq!(counter.get(), 15);
}

#[test]
fn a_swap_from_inside_a_call_is_refused() {
    let counter = ClusteredCounter::shared();
    let err = counter
        .object()
        .call(|_| counter.swap(Arc::new(Distributed::default())).unwrap_err());
    assert_eq!(err, SwapError::FromInside);
    assert!(err.to_string().starts_with("not supported: "));
    assert_eq!(counter.implementation(), "shared");
}

/// A counter rep of the test's own.
#[derive(Default)]
struct Plain(AtomicU64);

impl CounterRep for Plain {
    fn add(&self, n: u64, _cpu: usize) -> u64 {
        self.0.fetch_add(n, Ordering::SeqCst) + n
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn set(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst)
    }
    fn stats(&self) -> RepStats {
        RepStats::default()
    }
}

/// Offers formats it then refuses, or none at all.
struct Refusing {
    formats: &'static [Format],
}

impl Implementation<dyn CounterRep> for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn kind(&self) -> RootKind {
        RootKind::Shared
    }
    fn make_rep(&self) -> Box<dyn CounterRep> {
        Box::<Plain>::default()
    }
    fn imports(&self) -> &[Format] {
        self.formats
    }
    fn import(&self, root: &Root<dyn CounterRep>, state: State) -> Result<(), TransferError> {
        // Half-done work in the fresh root must not leak into the object.
        root.rep_at(0).set(999);
        Err(TransferError::Refused(format!("{state:?} is not welcome")))
    }
}

#[test]
fn a_failed_transfer_rolls_back_to_the_old_implementation() {
    let counter = ClusteredCounter::distributed();
    counter.add(7);
    let report = counter
        .swap(Arc::new(Refusing {
            formats: &[Format::Value],
        }))
        .unwrap();
    assert!(!report.completed);
    assert_eq!(report.format, Some(Format::Value));
    assert!(
        matches!(report.error, Some(TransferError::Refused(_))),
        "{report:?}"
    );

    let report = counter
        .swap(Arc::new(Refusing {
            formats: &[Format::Opaque],
        }))
        .unwrap();
    assert!(!report.completed);
    assert_eq!(report.format, None);
    assert_eq!(
        report.error.unwrap().to_string(),
        "`distributed` and `refusing` share no state format"
    );

    counter.add(1);
    assert_eq!(counter.get(), 8);
    assert_eq!(counter.implementation(), "distributed");
    assert_eq!(counter.object().swaps(), 0);
}

#[test]
fn the_translation_table_finds_live_objects_by_id_only() {
    let counter = ClusteredCounter::shared();
    counter.add(3);
    let id = counter.id();
    let found = table::lookup::<dyn CounterRep>(id).expect("listed");
    assert_eq!(found.call(|c| c.rep().get()), 3);
    assert!(table::lookup::<str>(id).is_none(), "wrong rep type");
    drop(found);
    drop(counter);
    assert!(table::lookup::<dyn CounterRep>(id).is_none());
}

/// Panics while exporting.
struct Panicking;

impl Implementation<dyn CounterRep> for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn kind(&self) -> RootKind {
        RootKind::Shared
    }
    fn make_rep(&self) -> Box<dyn CounterRep> {
        Box::<Plain>::default()
    }
    fn imports(&self) -> &[Format] {
        &[Format::Value]
    }
    fn import(&self, _: &Root<dyn CounterRep>, _: State) -> Result<(), TransferError> {
        panic!("import failed loudly")
    }
}

#[test]
fn a_panicking_import_leaves_the_object_usable() {
    let counter = ClusteredCounter::shared();
    counter.add(2);
    let swap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        counter.swap(Arc::new(Panicking))
    }));
    assert!(swap.is_err());
    assert_eq!(counter.object().phase(), Phase::Normal);
    counter.add(1);
    assert_eq!((counter.get(), counter.implementation()), (3, "shared"));
}
