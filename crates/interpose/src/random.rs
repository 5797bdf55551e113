//! The C library's pseudo-random generators, per bead.
//!
//! `rand`/`srand`/`random`/`srandom`/`initstate`/`setstate` and the
//! `drand48` family keep one hidden state in libc, so three beads each
//! seeding 42 would draw interleaved values from one sequence, and
//! replicated runs would differ. Here each bead has its own state, driven by
//! glibc's reentrant generators (`random_r`, `drand48_r`, …), so each bead
//! draws exactly the sequence a process of its own would. glibc's relations
//! are kept: `rand` is `random`, `srand` is `srandom`, and the `*rand48`
//! functions share one `drand48_data`.
//!
//! The entry points are assembly shims that pass the caller's return
//! address along: it names the bead (the arena's owner table), whichever
//! string runs it. A removed bead's state goes with it ([`forget_bead`]).

use std::collections::HashMap;
use std::sync::Mutex;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::RuntimeSection;

/// glibc's `struct random_data` (x86-64).
#[repr(C)]
struct RandomData {
    fptr: *mut i32,
    rptr: *mut i32,
    state: *mut i32,
    rand_type: i32,
    rand_deg: i32,
    rand_sep: i32,
    end_ptr: *mut i32,
}

/// glibc's `struct drand48_data`.
#[repr(C)]
#[derive(Default)]
struct Drand48Data {
    x: [u16; 3],
    old_x: [u16; 3],
    c: u16,
    init: u16,
    a: u64,
}

extern "C" {
    fn random_r(buf: *mut RandomData, result: *mut i32) -> i32;
    fn srandom_r(seed: u32, buf: *mut RandomData) -> i32;
    fn initstate_r(seed: u32, state: *mut libc::c_char, n: usize, buf: *mut RandomData) -> i32;
    fn setstate_r(state: *mut libc::c_char, buf: *mut RandomData) -> i32;
    fn drand48_r(buf: *mut Drand48Data, result: *mut f64) -> i32;
    fn erand48_r(xsubi: *mut u16, buf: *mut Drand48Data, result: *mut f64) -> i32;
    fn lrand48_r(buf: *mut Drand48Data, result: *mut libc::c_long) -> i32;
    fn nrand48_r(xsubi: *mut u16, buf: *mut Drand48Data, result: *mut libc::c_long) -> i32;
    fn mrand48_r(buf: *mut Drand48Data, result: *mut libc::c_long) -> i32;
    fn jrand48_r(xsubi: *mut u16, buf: *mut Drand48Data, result: *mut libc::c_long) -> i32;
    fn srand48_r(seed: libc::c_long, buf: *mut Drand48Data) -> i32;
    fn seed48_r(seed16v: *mut u16, buf: *mut Drand48Data) -> i32;
    fn lcong48_r(param: *mut u16, buf: *mut Drand48Data) -> i32;
}

/// glibc's default state size for `random` (TYPE_3).
const STATE_BYTES: usize = 128;

/// One bead's generators. Boxed: `random_data` points into `table` (or into
/// the program's own buffer after `initstate`/`setstate`), so it must not
/// move.
struct Generators {
    random: RandomData,
    table: [i32; STATE_BYTES / 4],
    drand48: Drand48Data,
    /// `seed48` returns a pointer to the previous seed, which must outlive
    /// the call.
    seed48_old: [u16; 3],
}

// SAFETY: the raw pointers point into the same heap box (or into a buffer
// the program handed `initstate`/`setstate`, which C says must stay valid);
// every access is under `STATES`' lock.
unsafe impl Send for Generators {}

impl Generators {
    fn new() -> Box<Generators> {
        let mut g = Box::new(Generators {
            random: RandomData {
                fptr: std::ptr::null_mut(),
                rptr: std::ptr::null_mut(),
                state: std::ptr::null_mut(),
                rand_type: 0,
                rand_deg: 0,
                rand_sep: 0,
                end_ptr: std::ptr::null_mut(),
            },
            table: [0; STATE_BYTES / 4],
            drand48: Drand48Data::default(),
            seed48_old: [0; 3],
        });
        // SAFETY: the table is STATE_BYTES of the box, which does not move;
        // seed 1 is what glibc's `random` starts from without `srandom`.
        unsafe {
            let table = g.table.as_mut_ptr().cast();
            initstate_r(1, table, STATE_BYTES, &mut g.random);
        }
        g
    }
}

static STATES: Mutex<Option<HashMap<OwnerId, Box<Generators>>>> = Mutex::new(None);

/// Runs `f` on the generators of the bead whose code is at `ret`.
fn with_bead<R>(ret: usize, f: impl FnOnce(&mut Generators) -> R) -> R {
    let _rt = RuntimeSection::enter();
    let owner = owner_of(ret).unwrap_or_else(weaves_strings::acting_bead);
    let mut g = STATES.lock().unwrap_or_else(|e| e.into_inner());
    let gens = g
        .get_or_insert_with(HashMap::new)
        .entry(owner)
        .or_insert_with(Generators::new);
    f(gens)
}

/// Drops bead `owner`'s generators (it is being removed).
pub(crate) fn forget_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = STATES.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
}

extern "C" fn random_from(ret: usize) -> libc::c_long {
    let mut r = 0i32;
    // SAFETY: the bead's own random_data, initialised by initstate_r.
    with_bead(ret, |g| unsafe { random_r(&mut g.random, &mut r) });
    libc::c_long::from(r)
}

extern "C" fn rand_from(ret: usize) -> i32 {
    random_from(ret) as i32
}

extern "C" fn srandom_from(seed: u32, ret: usize) {
    // SAFETY: as above.
    with_bead(ret, |g| unsafe { srandom_r(seed, &mut g.random) });
}

extern "C" fn initstate_from(
    seed: u32,
    state: *mut libc::c_char,
    n: usize,
    ret: usize,
) -> *mut libc::c_char {
    with_bead(ret, |g| {
        // The previous state array, as glibc's initstate returns it.
        let old = g.random.state.wrapping_sub(1).cast::<libc::c_char>();
        // SAFETY: `state` is the program's buffer of `n` bytes (C's contract).
        if unsafe { initstate_r(seed, state, n, &mut g.random) } < 0 {
            return std::ptr::null_mut();
        }
        old
    })
}

extern "C" fn setstate_from(state: *mut libc::c_char, ret: usize) -> *mut libc::c_char {
    with_bead(ret, |g| {
        let old = g.random.state.wrapping_sub(1).cast::<libc::c_char>();
        // SAFETY: `state` was set up by initstate (C's contract).
        if unsafe { setstate_r(state, &mut g.random) } < 0 {
            return std::ptr::null_mut();
        }
        old
    })
}

extern "C" fn drand48_from(ret: usize) -> f64 {
    let mut r = 0.0;
    // SAFETY: the bead's own drand48_data.
    with_bead(ret, |g| unsafe { drand48_r(&mut g.drand48, &mut r) });
    r
}

extern "C" fn erand48_from(xsubi: *mut u16, ret: usize) -> f64 {
    let mut r = 0.0;
    // SAFETY: `xsubi` is the program's unsigned short[3] (C's contract).
    with_bead(ret, |g| unsafe { erand48_r(xsubi, &mut g.drand48, &mut r) });
    r
}

extern "C" fn lrand48_from(ret: usize) -> libc::c_long {
    let mut r = 0;
    // SAFETY: as for drand48.
    with_bead(ret, |g| unsafe { lrand48_r(&mut g.drand48, &mut r) });
    r
}

extern "C" fn nrand48_from(xsubi: *mut u16, ret: usize) -> libc::c_long {
    let mut r = 0;
    // SAFETY: as for erand48.
    with_bead(ret, |g| unsafe { nrand48_r(xsubi, &mut g.drand48, &mut r) });
    r
}

extern "C" fn mrand48_from(ret: usize) -> libc::c_long {
    let mut r = 0;
    // SAFETY: as for drand48.
    with_bead(ret, |g| unsafe { mrand48_r(&mut g.drand48, &mut r) });
    r
}

extern "C" fn jrand48_from(xsubi: *mut u16, ret: usize) -> libc::c_long {
    let mut r = 0;
    // SAFETY: as for erand48.
    with_bead(ret, |g| unsafe { jrand48_r(xsubi, &mut g.drand48, &mut r) });
    r
}

extern "C" fn srand48_from(seed: libc::c_long, ret: usize) {
    // SAFETY: as for drand48.
    with_bead(ret, |g| unsafe { srand48_r(seed, &mut g.drand48) });
}

extern "C" fn seed48_from(seed16v: *mut u16, ret: usize) -> *mut u16 {
    with_bead(ret, |g| {
        g.seed48_old = g.drand48.x;
        // SAFETY: `seed16v` is the program's unsigned short[3].
        unsafe { seed48_r(seed16v, &mut g.drand48) };
        // Valid until the bead's next seed48 (glibc: a static buffer).
        g.seed48_old.as_mut_ptr()
    })
}

extern "C" fn lcong48_from(param: *mut u16, ret: usize) {
    // SAFETY: `param` is the program's unsigned short[7].
    with_bead(ret, |g| unsafe { lcong48_r(param, &mut g.drand48) });
}

/// Shims: move the return address into the register after the last
/// argument, then jump to the Rust implementation.
macro_rules! shims {
    ($( $name:literal, $reg:literal => $target:ident; )*) => {
        std::arch::global_asm!(
            $(
                concat!(".globl ", $name),
                concat!(".hidden ", $name),
                concat!($name, ":"),
                concat!("mov ", $reg, ", qword ptr [rsp]"),
                concat!("jmp {", stringify!($target), "}"),
            )*
            $( $target = sym $target, )*
        );
    };
}

shims! {
    "weaves_rand", "rdi" => rand_from;
    "weaves_random", "rdi" => random_from;
    "weaves_srandom", "rsi" => srandom_from;
    "weaves_initstate", "rcx" => initstate_from;
    "weaves_setstate", "rsi" => setstate_from;
    "weaves_drand48", "rdi" => drand48_from;
    "weaves_erand48", "rsi" => erand48_from;
    "weaves_lrand48", "rdi" => lrand48_from;
    "weaves_nrand48", "rsi" => nrand48_from;
    "weaves_mrand48", "rdi" => mrand48_from;
    "weaves_jrand48", "rsi" => jrand48_from;
    "weaves_srand48", "rsi" => srand48_from;
    "weaves_seed48", "rsi" => seed48_from;
    "weaves_lcong48", "rsi" => lcong48_from;
}

extern "C" {
    fn weaves_rand();
    fn weaves_random();
    fn weaves_srandom();
    fn weaves_initstate();
    fn weaves_setstate();
    fn weaves_drand48();
    fn weaves_erand48();
    fn weaves_lrand48();
    fn weaves_nrand48();
    fn weaves_mrand48();
    fn weaves_jrand48();
    fn weaves_srand48();
    fn weaves_seed48();
    fn weaves_lcong48();
}

/// The runtime's definition of `name`, if it is one of these.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    let f: unsafe extern "C" fn() = match name {
        "rand" => weaves_rand,
        "random" => weaves_random,
        // glibc: srand is srandom.
        "srand" | "srandom" => weaves_srandom,
        "initstate" => weaves_initstate,
        "setstate" => weaves_setstate,
        "drand48" => weaves_drand48,
        "erand48" => weaves_erand48,
        "lrand48" => weaves_lrand48,
        "nrand48" => weaves_nrand48,
        "mrand48" => weaves_mrand48,
        "jrand48" => weaves_jrand48,
        "srand48" => weaves_srand48,
        "seed48" => weaves_seed48,
        "lcong48" => weaves_lcong48,
        _ => return None,
    };
    Some(f as usize as u64)
}
