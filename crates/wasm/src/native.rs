//! Calls between Wasm and native code through a weave, with the signature
//! the tapestry declares: a Wasm bead calling a native bead's function
//! ([`call`]), and native code calling a Wasm export through a
//! native-callable [`Trampoline`].
//!
//! Both directions use one register convention of the x86-64 System V ABI:
//! the first six integer arguments travel in `rdi, rsi, rdx, rcx, r8, r9`
//! and the first eight floating-point ones in `xmm0`–`xmm7`, independently
//! of each other and of how many the callee reads; an integer result comes
//! back in `rax` and a floating one in `xmm0`. A function pointer typed
//! with six `i64` and eight `f64` parameters and returning
//! `#[repr(C)] struct { i64, f64 }` (classified INTEGER, SSE: returned in
//! `rax` and `xmm0`) therefore calls, or stands for, any function of at most
//! six integer and eight floating-point parameters and one result. An `f32`
//! travels in the low 32 bits of its `xmm` register, an `i32` in the low 32
//! bits of its integer register. A signature beyond that (more parameters,
//! several results) is refused at load. Values are passed as they are:
//! a pointer into Wasm linear memory is an offset there, not an address
//! native code can use.

use std::sync::{Arc, Mutex};

/// A value type of a declared signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValKind {
    I32,
    I64,
    F32,
    F64,
}

impl ValKind {
    /// The kind called `name` in a tapestry (`i32`, `i64`, `f32`, `f64`).
    pub fn parse(name: &str) -> Result<ValKind, String> {
        Ok(match name {
            "i32" => ValKind::I32,
            "i64" => ValKind::I64,
            "f32" => ValKind::F32,
            "f64" => ValKind::F64,
            _ => {
                return Err(format!(
                    "unknown value type `{name}` (types: i32, i64, f32, f64)"
                ))
            }
        })
    }

    /// The letter the module checks use (`i`, `I`, `f`, `F`).
    pub fn letter(self) -> char {
        match self {
            ValKind::I32 => 'i',
            ValKind::I64 => 'I',
            ValKind::F32 => 'f',
            ValKind::F64 => 'F',
        }
    }

    fn is_float(self) -> bool {
        matches!(self, ValKind::F32 | ValKind::F64)
    }
}

/// A function signature declared in the tapestry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Signature {
    pub params: Vec<ValKind>,
    pub results: Vec<ValKind>,
}

impl Signature {
    /// The params and results in the module checks' letters.
    pub fn letters(&self) -> (String, String) {
        (
            self.params.iter().map(|k| k.letter()).collect(),
            self.results.iter().map(|k| k.letter()).collect(),
        )
    }

    /// Refuses what the register convention cannot carry.
    pub fn check(&self) -> Result<(), String> {
        let floats = self.params.iter().filter(|k| k.is_float()).count();
        let ints = self.params.len() - floats;
        if ints > 6 || floats > 8 {
            return Err(format!(
                "not supported: a native call with {ints} integer and {floats} floating-point parameters (at most 6 and 8)"
            ));
        }
        if self.results.len() > 1 {
            return Err("not supported: a native call with more than one result".into());
        }
        Ok(())
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, r) = self.letters();
        f.write_str(&crate::module::show(&p, &r))
    }
}

/// What a function of the wide type returns: `rax` and `xmm0`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Wide {
    int: i64,
    float: f64,
}

/// The wide function type (see the module's documentation).
type WideFn = unsafe extern "C" fn(
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
) -> Wide;

/// A value's bits: an `i32` or `f32` in the low 32 bits.
pub type Bits = u64;

fn spread(sig: &Signature, args: &[Bits]) -> ([i64; 6], [f64; 8]) {
    let (mut ints, mut floats) = ([0i64; 6], [0f64; 8]);
    let (mut ni, mut nf) = (0, 0);
    for (k, &a) in sig.params.iter().zip(args) {
        if k.is_float() {
            floats[nf] = f64::from_bits(a);
            nf += 1;
        } else {
            ints[ni] = a as i64;
            ni += 1;
        }
    }
    (ints, floats)
}

fn result_bits(sig: &Signature, r: Wide) -> Option<Bits> {
    sig.results.first().map(|k| match k {
        ValKind::I32 => r.int as u32 as u64,
        ValKind::I64 => r.int as u64,
        ValKind::F32 => r.float.to_bits() & 0xffff_ffff,
        ValKind::F64 => r.float.to_bits(),
    })
}

/// Calls the native function at `addr` with `args` as `sig` says.
///
/// # Safety
///
/// `addr` is a function of signature `sig` (checked by
/// [`Signature::check`]), and calling it with these values is safe.
pub(crate) unsafe fn call(addr: u64, sig: &Signature, args: &[Bits]) -> Option<Bits> {
    let (i, f) = spread(sig, args);
    // SAFETY: the caller says `addr` is a function of `sig`, which passes
    // its parameters in a subset of the wide type's registers and returns
    // in `rax` or `xmm0` (see the module's documentation); the registers it
    // does not read are ignored.
    let r = unsafe {
        let wide: WideFn = std::mem::transmute(addr as usize);
        wide(
            i[0], i[1], i[2], i[3], i[4], i[5], f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7],
        )
    };
    result_bits(sig, r)
}

/// What a trampoline calls: the arguments' bits, as the signature it was
/// made with orders them; the result's bits.
pub type Callee = Arc<dyn Fn(&[Bits]) -> Result<Option<Bits>, String> + Send + Sync>;

/// How many trampolines a process has (bindings of native imports to Wasm
/// exports, across its tapestries).
pub const TRAMPOLINES: usize = 64;

struct Slot {
    sig: Signature,
    callee: Option<Callee>,
    /// Who is called (for the message when nothing is bound yet).
    what: String,
}

static SLOTS: Mutex<Vec<Option<Slot>>> = Mutex::new(Vec::new());

fn slots() -> std::sync::MutexGuard<'static, Vec<Option<Slot>>> {
    SLOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A native-callable function standing for a Wasm export: native code
/// calls [`Trampoline::address`] with the declared signature, and the
/// callee set by [`Trampoline::bind`] runs on the calling string. The slot
/// is free again when this is dropped.
#[derive(Debug)]
pub struct Trampoline {
    slot: usize,
}

impl Trampoline {
    /// Claims a free trampoline for a function of `sig` (`what` names it
    /// in messages).
    pub fn claim(sig: Signature, what: String) -> Result<Trampoline, String> {
        sig.check()?;
        let mut s = slots();
        if s.is_empty() {
            s.resize_with(TRAMPOLINES, || None);
        }
        let slot = s.iter().position(Option::is_none).ok_or_else(|| {
            format!("not supported: more than {TRAMPOLINES} native imports bound to Wasm exports")
        })?;
        s[slot] = Some(Slot {
            sig,
            callee: None,
            what,
        });
        Ok(Trampoline { slot })
    }

    /// The native function's address.
    pub fn address(&self) -> u64 {
        TABLE[self.slot] as usize as u64
    }

    /// Makes calls run `callee`.
    pub fn bind(&self, callee: Callee) {
        if let Some(Some(s)) = slots().get_mut(self.slot) {
            s.callee = Some(callee);
        }
    }
}

impl Drop for Trampoline {
    fn drop(&mut self) {
        if let Some(s) = slots().get_mut(self.slot) {
            *s = None;
        }
    }
}

/// What trampoline `k` does: calls its callee with the arguments its
/// signature says are in the registers, or ends the calling string with one
/// line if the call fails.
fn dispatch(k: usize, ints: [i64; 6], floats: [f64; 8]) -> Wide {
    let bound = slots()
        .get(k)
        .and_then(Option::as_ref)
        .map(|s| (s.sig.clone(), s.callee.clone(), s.what.clone()));
    let result = match bound {
        None => Err("a call through a trampoline that nothing is bound to".to_owned()),
        Some((_, None, what)) => Err(format!("{what} is called before the Wasm beads are loaded")),
        Some((sig, Some(callee), _)) => {
            let (mut ni, mut nf) = (0, 0);
            let args: Vec<Bits> = sig
                .params
                .iter()
                .map(|k| {
                    if k.is_float() {
                        nf += 1;
                        let b = floats[nf - 1].to_bits();
                        if *k == ValKind::F32 {
                            b & 0xffff_ffff
                        } else {
                            b
                        }
                    } else {
                        ni += 1;
                        let v = ints[ni - 1];
                        if *k == ValKind::I32 {
                            v as u32 as u64
                        } else {
                            v as u64
                        }
                    }
                })
                .collect();
            callee(&args).map(|r| (sig, r))
        }
    };
    match result {
        Ok((sig, r)) => {
            let mut w = Wide::default();
            match (sig.results.first(), r) {
                (Some(ValKind::F32 | ValKind::F64), Some(b)) => w.float = f64::from_bits(b),
                (Some(_), Some(b)) => w.int = b as i64,
                _ => {}
            }
            w
        }
        Err(e) => {
            let name = weaves_strings::current()
                .map(|c| c.info.name.clone())
                .unwrap_or_default();
            eprintln!("weaves: string `{name}`: {e}");
            // As a process a trap ends: 128 + SIGABRT.
            weaves_strings::exit_current(134);
            // Outside a string there is nothing to end but the process.
            std::process::abort()
        }
    }
}

/// Trampoline `K`: the wide function type, forwarding to [`dispatch`].
#[allow(clippy::too_many_arguments)]
extern "C" fn trampoline<const K: usize>(
    a0: i64,
    a1: i64,
    a2: i64,
    a3: i64,
    a4: i64,
    a5: i64,
    f0: f64,
    f1: f64,
    f2: f64,
    f3: f64,
    f4: f64,
    f5: f64,
    f6: f64,
    f7: f64,
) -> Wide {
    dispatch(
        K,
        [a0, a1, a2, a3, a4, a5],
        [f0, f1, f2, f3, f4, f5, f6, f7],
    )
}

type TrampolineFn =
    extern "C" fn(i64, i64, i64, i64, i64, i64, f64, f64, f64, f64, f64, f64, f64, f64) -> Wide;

macro_rules! table {
    ($($k:literal)*) => { [$(trampoline::<$k> as TrampolineFn),*] };
}

static TABLE: [TrampolineFn; TRAMPOLINES] = table!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn mixed(a: i32, x: f32, b: i64, y: f64) -> f64 {
        a as f64 + x as f64 * 10.0 + b as f64 * 100.0 + y * 1000.0
    }

    extern "C" fn narrow(a: i32) -> i32 {
        a.wrapping_mul(3)
    }

    #[test]
    fn a_native_call_passes_mixed_integer_and_float_arguments_in_their_registers() {
        use ValKind::*;
        let sig = Signature {
            params: vec![I32, F32, I64, F64],
            results: vec![F64],
        };
        let args = [
            (-2i32) as u32 as u64,
            1.5f32.to_bits() as u64,
            7u64,
            0.25f64.to_bits(),
        ];
        // SAFETY: `mixed` has exactly this signature.
        let r = unsafe { call(mixed as *const () as u64, &sig, &args) };
        assert_eq!(f64::from_bits(r.unwrap()), mixed(-2, 1.5, 7, 0.25));
        let sig = Signature {
            params: vec![I32],
            results: vec![I32],
        };
        // SAFETY: `narrow` has exactly this signature.
        let r = unsafe { call(narrow as *const () as u64, &sig, &[(-5i32) as u32 as u64]) };
        assert_eq!(r, Some((-15i32) as u32 as u64));
    }

    #[test]
    fn a_trampoline_hands_its_callee_the_declared_arguments_and_returns_its_result() {
        use ValKind::*;
        let sig = Signature {
            params: vec![F32, I32, F64, I64],
            results: vec![F32],
        };
        let t = Trampoline::claim(sig, "test".into()).unwrap();
        t.bind(Arc::new(|a: &[Bits]| {
            let x = f32::from_bits(a[0] as u32);
            let n = a[1] as u32 as i32;
            let y = f64::from_bits(a[2]);
            let m = a[3] as i64;
            Ok(Some(
                ((x * n as f32) + (y as f32) - m as f32).to_bits() as u64
            ))
        }));
        // SAFETY: the trampoline stands for a function of this signature.
        let f: extern "C" fn(f32, i32, f64, i64) -> f32 =
            unsafe { std::mem::transmute(t.address() as usize) };
        assert_eq!(f(1.5, -4, 0.5, 2), 1.5 * -4.0 + 0.5 - 2.0);
        let too_many = Signature {
            params: vec![I32; 7],
            results: vec![],
        };
        assert!(Trampoline::claim(too_many, "x".into())
            .unwrap_err()
            .contains("not supported"));
    }
}
