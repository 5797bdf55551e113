//! Functions found nowhere, bound as the system loader's lazy binding
//! would: the program loads and runs, and fails only if it calls one.
//!
//! Each such import's PLT slot points at a stub of its own (shared by every
//! bead of the module), 32 bytes of code in an arena page:
//!
//! ```text
//!   mov  rdi, <LazySymbol>     ; which symbol
//!   mov  rsi, [rsp]            ; the caller's return address: which bead
//!   mov  rax, <lazy_fail>
//!   jmp  rax                   ; as if the bead had called lazy_fail
//! ```
//!
//! `lazy_fail` prints one line (`symbol lookup error: … undefined symbol:
//! NAME`, as ld.so words it) and ends the calling string with status 127,
//! the status ld.so exits with. Stub pages are written whole, then made
//! read-and-execute, and never written again: a batch of stubs gets pages
//! of its own.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Mutex;

use weaves_arena::{Arena, Protection, GRANULE};

/// What a stub tells `lazy_fail`.
struct LazySymbol {
    name: String,
    module: String,
}

const STUB_BYTES: usize = 32;

/// Stubs made so far, by (module path, symbol): a module's beads share them.
static STUBS: Mutex<Option<HashMap<(String, String), u64>>> = Mutex::new(None);

/// The stubs for `symbols` of the module at `module` (made if needed), in
/// the same order; `None` if no arena memory could be had.
pub fn stubs_for(module: &str, symbols: &[String]) -> Option<Vec<u64>> {
    let mut g = STUBS.lock().unwrap_or_else(|e| e.into_inner());
    let made = g.get_or_insert_with(HashMap::new);
    let fresh: Vec<&String> = symbols
        .iter()
        .filter(|s| !made.contains_key(&(module.to_owned(), (*s).clone())))
        .collect();
    if !fresh.is_empty() {
        let addrs = write_stubs(module, &fresh)?;
        for (s, a) in fresh.into_iter().zip(addrs) {
            made.insert((module.to_owned(), s.clone()), a);
        }
    }
    Some(
        symbols
            .iter()
            .map(|s| made[&(module.to_owned(), s.clone())])
            .collect(),
    )
}

/// Writes one stub per symbol into fresh arena pages, then makes them
/// read-and-execute.
fn write_stubs(module: &str, symbols: &[&String]) -> Option<Vec<u64>> {
    let arena = Arena::global().ok()?;
    let len = (symbols.len() * STUB_BYTES).next_multiple_of(GRANULE);
    let region = arena.place(len, GRANULE, 0).ok()?;
    arena
        .commit(region.addr, region.len, Protection::ReadWrite)
        .ok()?;
    let mut addrs = Vec::with_capacity(symbols.len());
    for (k, name) in symbols.iter().enumerate() {
        // Lives as long as the process: a stub may be called at any time.
        let record: &'static LazySymbol = Box::leak(Box::new(LazySymbol {
            name: (*name).clone(),
            module: module.to_owned(),
        }));
        let at = region.addr + k * STUB_BYTES;
        let code = stub_code(
            record as *const LazySymbol as u64,
            lazy_fail as *const () as u64,
        );
        // SAFETY: `at` lies in the region just committed read-write, which
        // nothing else uses; STUB_BYTES per stub fit in it.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        addrs.push(at as u64);
    }
    arena
        .commit(region.addr, region.len, Protection::ReadExec)
        .ok()?;
    Some(addrs)
}

/// The machine code of one stub (see the module docs).
fn stub_code(record: u64, target: u64) -> [u8; STUB_BYTES] {
    let mut c = [0xcc_u8; STUB_BYTES]; // int3 padding
    c[0..2].copy_from_slice(&[0x48, 0xbf]); // mov rdi, imm64
    c[2..10].copy_from_slice(&record.to_le_bytes());
    c[10..14].copy_from_slice(&[0x48, 0x8b, 0x34, 0x24]); // mov rsi, [rsp]
    c[14..16].copy_from_slice(&[0x48, 0xb8]); // mov rax, imm64
    c[16..24].copy_from_slice(&target.to_le_bytes());
    c[24..26].copy_from_slice(&[0xff, 0xe0]); // jmp rax
    c
}

/// Where a call to a function found nowhere lands.
extern "C" fn lazy_fail(symbol: &LazySymbol, ret: usize) -> ! {
    let mut who = String::new();
    crate::phdr::with_bead_at(ret as u64, |bead, function| {
        who = format!("bead `{}`", bead.name.to_string_lossy());
        if let Some((f, off)) = function {
            who.push_str(&format!(" (in {f}+{off:#x})"));
        }
    });
    if who.is_empty() {
        who = "code".into();
    }
    let string = weaves_strings::current()
        .map(|c| format!(" in string `{}` (weave `{}`)", c.info.name, c.info.weave))
        .unwrap_or_default();
    let line = format!(
        "weaves: symbol lookup error{string}: {who} called `{}`, which {} needs and no bead or library defines: undefined symbol: {}\n",
        symbol.name, symbol.module, symbol.name
    );
    if let Ok(line) = CString::new(line) {
        // SAFETY: writing our own buffer to stderr.
        unsafe { libc::write(2, line.as_ptr().cast(), line.as_bytes().len()) };
    }
    weaves_strings::exit_current(127);
    // SAFETY: not on a fiber after all: end the process, as ld.so would.
    unsafe { libc::_exit(127) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_code_loads_the_record_and_the_return_address_then_jumps() {
        let c = stub_code(0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00);
        assert_eq!(&c[0..2], &[0x48, 0xbf]);
        assert_eq!(
            u64::from_le_bytes(c[2..10].try_into().unwrap()),
            0x1122_3344_5566_7788
        );
        assert_eq!(&c[10..14], &[0x48, 0x8b, 0x34, 0x24]);
        assert_eq!(
            u64::from_le_bytes(c[16..24].try_into().unwrap()),
            0x99aa_bbcc_ddee_ff00
        );
        assert_eq!(&c[24..26], &[0xff, 0xe0]);
    }
}
