//! A Rust executable (a PIE whose standard library keeps its thread state
//! in local-exec thread-locals) using `std::thread`, channels, scoped
//! threads and a panic that crosses `join`. Prints the same lines natively
//! and as beads.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

thread_local! { static LOCAL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) }; }

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    std::panic::set_hook(Box::new(|_| {}));
    let (tx, rx) = mpsc::channel::<(usize, u64)>();
    let total = Arc::new(Mutex::new(0u64));
    let mut handles = Vec::new();
    for t in 0..4usize {
        let tx = tx.clone();
        let total = Arc::clone(&total);
        handles.push(thread::spawn(move || {
            let mut sum = 0u64;
            for i in 0..100_000u64 {
                sum = sum.wrapping_add(i * (t as u64 + 1));
                LOCAL.with(|l| l.set(l.get() + 1));
            }
            *total.lock().unwrap() += sum;
            tx.send((t, LOCAL.with(|l| l.get()))).unwrap();
            sum
        }));
    }
    drop(tx);
    let mut got: Vec<(usize, u64)> = rx.iter().collect();
    got.sort();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (stx, srx) = mpsc::sync_channel::<u32>(0);
    let producer = thread::spawn(move || {
        for i in 0..1000 {
            stx.send(i).unwrap();
        }
    });
    let rendezvous: u32 = srx.iter().sum();
    producer.join().unwrap();
    let scoped = thread::scope(|s| {
        let a = s.spawn(|| (0..1000u64).sum::<u64>());
        let b = s.spawn(|| (1000..2000u64).sum::<u64>());
        a.join().unwrap() + b.join().unwrap()
    });
    let panicked = thread::spawn(|| {
        if std::env::var("NO_SUCH_VAR_X").is_err() {
            panic!("expected panic")
        }
    })
    .join()
    .is_err();
    println!("{name}: received {got:?}");
    println!("{name}: sums {sums:?} total {}", *total.lock().unwrap());
    println!("{name}: rendezvous {rendezvous} scoped {scoped} panicked {panicked}");
    println!("{name} failures 0");
}
