//! librust_counter.so: a Rust cdylib with its own std inside each bead.
//!
//! Entry: `rust_main(argc, argv)`; argv[1] = tag, argv[2] = N (default 3).
//! Bumps a private static counter N times, builds a Vec and a String on the
//! heap (Rust's allocator -> malloc), and prints with println!:
//!   rust <tag>: counter=<N> vec_len=<N*2> sum=<0+1+..+(2N-1)> text=<tag>/<tag>
//! Returns 0 iff the counter equals N (i.e. this bead's static was fresh).

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn arg(argc: i32, argv: *const *const c_char, i: i32) -> Option<String> {
    if i >= argc || argv.is_null() {
        return None;
    }
    // SAFETY: the caller passes argc valid NUL-terminated strings in argv.
    let p = unsafe { *argv.add(i as usize) };
    if p.is_null() {
        return None;
    }
    // SAFETY: p is a valid NUL-terminated C string (see above).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[no_mangle]
pub extern "C" fn rust_main(argc: i32, argv: *const *const c_char) -> i32 {
    let tag = arg(argc, argv, 1).unwrap_or_else(|| "?".to_string());
    let n: u32 = arg(argc, argv, 2).and_then(|s| s.parse().ok()).unwrap_or(3);

    let mut seen = 0;
    for _ in 0..n {
        seen = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    }

    let v: Vec<u64> = (0..u64::from(n) * 2).collect();
    let sum: u64 = v.iter().sum();
    let mut words = BTreeMap::new();
    words.insert(2, tag.clone());
    words.insert(1, tag.clone());
    let text = words.values().cloned().collect::<Vec<_>>().join("/");

    println!("rust {tag}: counter={seen} vec_len={} sum={sum} text={text}", v.len());
    if seen == n {
        0
    } else {
        1
    }
}
