//! Thread-specific data (`pthread_key_create`, `pthread_setspecific`,
//! `pthread_getspecific`, `pthread_key_delete`) per string.
//!
//! glibc keeps a thread's values in its thread descriptor, found through
//! the thread pointer — the worker's, whichever string runs. So strings
//! sharing a worker shared their values, destructors never ran when a
//! string ended, and a value set under a deleted key came back under the
//! key that reused its slot. Here:
//!
//! * keys are the runtime's: a slot and a sequence number, like glibc's
//!   (a deleted key's values are never seen under a later key in its slot);
//! * values belong to the string that set them;
//! * when a string ends, each non-null value whose key has a destructor is
//!   set to null and handed to it, for up to
//!   `PTHREAD_DESTRUCTOR_ITERATIONS` rounds, as a thread's are.
//!
//! Outside strings the C library's functions run unchanged. A key the C
//! library made (outside strings: a bead's or a system library's
//! initialiser) stays the C library's in strings too, its values per
//! worker thread: the runtime's keys are numbered from [`KEY_BASE`], above
//! every key glibc hands out, so the two never mix.

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_strings::{current, RuntimeSection};

/// glibc's `PTHREAD_KEYS_MAX`.
const KEYS_MAX: usize = 1024;
/// The runtime's key for slot `k` is `KEY_BASE + k` (glibc's keys are
/// below `PTHREAD_KEYS_MAX`, 1024).
const KEY_BASE: u32 = 1 << 16;

/// The runtime's slot a key names, or `None` for a C library key.
fn slot_of(key: u32) -> Option<u32> {
    key.checked_sub(KEY_BASE)
}

/// glibc's `PTHREAD_DESTRUCTOR_ITERATIONS`.
const DESTRUCTOR_ROUNDS: usize = 4;

#[derive(Clone, Copy, Default)]
struct Key {
    /// Odd while the key exists (glibc's convention): a value stored under
    /// one generation is not the value of the next.
    seq: u64,
    destructor: usize,
}

#[derive(Default)]
struct Table {
    keys: Vec<Key>,
    /// Each string's values: key slot → (key generation, value).
    values: HashMap<u32, HashMap<u32, (u64, usize)>>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let mut g = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(|| Table {
        keys: vec![Key::default(); KEYS_MAX],
        values: HashMap::new(),
    }))
}

unsafe extern "C" fn key_create(key: *mut u32, destructor: usize) -> i32 {
    if current().is_none() {
        // SAFETY: the caller's own arguments.
        return unsafe {
            libc::pthread_key_create(
                key,
                std::mem::transmute::<usize, Option<unsafe extern "C" fn(*mut libc::c_void)>>(
                    destructor,
                ),
            )
        };
    }
    let slot = with_table(|t| {
        let k = t.keys.iter().position(|k| k.seq % 2 == 0)?;
        t.keys[k].seq += 1;
        t.keys[k].destructor = destructor;
        Some(k as u32)
    });
    match slot {
        Some(k) => {
            // SAFETY: C's contract: `key` points to a pthread_key_t.
            unsafe { *key = KEY_BASE + k };
            0
        }
        None => libc::EAGAIN,
    }
}

/// Makes the runtime key `key` exist here with `destructor` if it does not
/// yet: a DSM node adopting a key another node created (the manager hands
/// keys out, so every node agrees on their numbers).
pub(crate) fn ensure_key(key: u32, destructor: usize) -> bool {
    let Some(slot) = slot_of(key) else {
        return false;
    };
    with_table(|t| match t.keys.get_mut(slot as usize) {
        Some(k) => {
            if k.seq % 2 == 0 {
                k.seq += 1;
                k.destructor = destructor;
            }
            true
        }
        None => false,
    })
}

/// The runtime key for slot `slot` (what a DSM manager hands out).
pub(crate) fn key_of_slot(slot: u32) -> Option<u32> {
    (slot < KEYS_MAX as u32).then_some(KEY_BASE + slot)
}

unsafe extern "C" fn key_delete(key: u32) -> i32 {
    let Some(slot) = slot_of(key) else {
        // SAFETY: the caller's own argument, a C library key.
        return unsafe { libc::pthread_key_delete(key) };
    };
    with_table(|t| match t.keys.get_mut(slot as usize) {
        Some(k) if k.seq % 2 == 1 => {
            k.seq += 1;
            k.destructor = 0;
            0
        }
        _ => libc::EINVAL,
    })
}

unsafe extern "C" fn setspecific(key: u32, value: usize) -> i32 {
    let (Some(ctx), Some(slot)) = (current(), slot_of(key)) else {
        if slot_of(key).is_some() {
            // A runtime key outside strings: no string to hold the value.
            return libc::EINVAL;
        }
        // SAFETY: the caller's own arguments, a C library key.
        return unsafe { libc::pthread_setspecific(key, value as *const libc::c_void) };
    };
    let id = ctx.info.id;
    let (code, first) = with_table(|t| {
        let Some(k) = t
            .keys
            .get(slot as usize)
            .filter(|k| k.seq % 2 == 1)
            .copied()
        else {
            return (libc::EINVAL, false);
        };
        let first = !t.values.contains_key(&id);
        t.values.entry(id).or_default().insert(slot, (k.seq, value));
        (0, first)
    });
    if first && code == 0 {
        // The string's values go when it ends: destructors first.
        let _rt = RuntimeSection::enter();
        ctx.on_thread_exit(run_destructors as *const () as usize, id as usize);
    }
    code
}

unsafe extern "C" fn getspecific(key: u32) -> usize {
    let (Some(ctx), Some(slot)) = (current(), slot_of(key)) else {
        if slot_of(key).is_some() {
            return 0;
        }
        // SAFETY: the caller's own argument, a C library key.
        return unsafe { libc::pthread_getspecific(key) } as usize;
    };
    with_table(|t| {
        let live = t.keys.get(slot as usize).map(|k| k.seq)?;
        let (seq, value) = *t.values.get(&ctx.info.id)?.get(&slot)?;
        (seq == live).then_some(value)
    })
    .unwrap_or(0)
}

/// Runs when string `id` ends: its values' destructors, as a thread's.
extern "C" fn run_destructors(id: usize) {
    let id = id as u32;
    for _ in 0..DESTRUCTOR_ROUNDS {
        // Take the live non-null values with destructors, clearing them.
        let due: Vec<(u32, usize, usize)> = with_table(|t| {
            let keys = t.keys.clone();
            let Some(values) = t.values.get_mut(&id) else {
                return Vec::new();
            };
            let mut due = Vec::new();
            for (&slot, entry) in values.iter_mut() {
                let k = keys[slot as usize];
                if entry.0 == k.seq && entry.1 != 0 && k.destructor != 0 {
                    due.push((slot, k.destructor, entry.1));
                    entry.1 = 0;
                }
            }
            // In key order, as glibc walks a thread's keys.
            due.sort_unstable_by_key(|d| d.0);
            due
        });
        if due.is_empty() {
            break;
        }
        for (_, destructor, value) in due {
            // SAFETY: the program registered `destructor` as
            // `void (*)(void *)` for this key, and `value` is what it stored.
            let f: extern "C" fn(usize) = unsafe { std::mem::transmute(destructor) };
            f(value);
        }
    }
    with_table(|t| t.values.remove(&id));
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f = match name {
        "pthread_key_create" => key_create as *const () as usize,
        "pthread_key_delete" => key_delete as *const () as usize,
        "pthread_setspecific" => setspecific as *const () as usize,
        "pthread_getspecific" => getspecific as *const () as usize,
        _ => return None,
    };
    Some(f as u64)
}
