//! Who is to blame for a fault: the bead whose code faulted or, for a fault
//! in a system library or the runtime working for a string (libc's `free`
//! aborting, `memcpy` given a bad pointer, a jump to garbage), the nearest
//! bead frame on the string's stack; failing both, the string's home bead.
//!
//! The nearest bead frame is found by scanning the string's stack upwards
//! from the interrupted stack pointer for a word that is a return address
//! into a bead's code: it lies in an executable segment of a bead, right
//! after a `call` instruction. System libraries are built without frame
//! pointers, so a frame-pointer walk would stop at the first libc frame;
//! the scan does not need them. It runs in a signal handler: it reads only
//! the string's own stack, bead code and the bead registry (never waiting
//! for its lock), and allocates nothing.

use std::collections::HashMap;
use std::fmt::Write as _;

use weaves_arena::{owner_of, OwnerId};
use weaves_strings::{ExecCtx, STACK_GUARD};

use super::line::Line;
use crate::phdr::{with_registry, BeadRecord};

/// The bead a fault is attributed to.
pub(crate) struct Culprit<'a> {
    pub bead: &'a BeadRecord,
    /// A code address in the bead: where it faulted, or the return address
    /// of its call into the code that faulted; 0 when only the string's
    /// home bead is known.
    pub at: u64,
    /// Whether `at` is where the fault happened (not a call site).
    pub direct: bool,
}

impl Culprit<'_> {
    /// Writes "bead `NAME` (PATH, FUNCTION+OFFSET)".
    pub(crate) fn describe(&self, line: &mut Line) {
        let b = self.bead;
        let _ = write!(
            line,
            "bead `{}` ({}",
            b.name.to_string_lossy(),
            b.path.to_string_lossy()
        );
        if self.at != 0 {
            // A return address may be the first byte after its function
            // (a call to a `noreturn` function ends it): name the function
            // holding the call.
            let probe = self.at - u64::from(!self.direct);
            match b.module.function_at(probe - b.base) {
                Some((name, off)) => {
                    let _ = write!(line, ", {name}+{:#x}", off + (self.at - probe));
                }
                None => {
                    let _ = write!(line, ", +{:#x}", self.at - b.base);
                }
            }
        }
        let _ = write!(line, ")");
    }
}

/// Calls `f` with the culprit of a fault at `pc` with stack pointer `sp`
/// while `ctx` runs (if any), or with `None` if no bead can be blamed or
/// the bead registry cannot be read now.
pub(crate) fn with_culprit<R>(
    pc: u64,
    sp: usize,
    ctx: Option<&ExecCtx>,
    f: impl FnOnce(Option<&Culprit<'_>>) -> R,
) -> R {
    with_found(Code::Faulted(pc), sp, ctx, f)
}

/// Like [`with_culprit`], for misuse found in a call that returns to `ret`
/// (the culprit is the caller, if bead code, or the nearest bead frame).
pub(crate) fn with_caller<R>(
    ret: u64,
    sp: usize,
    ctx: Option<&ExecCtx>,
    f: impl FnOnce(Option<&Culprit<'_>>) -> R,
) -> R {
    with_found(Code::Returns(ret), sp, ctx, f)
}

/// Where the search starts.
#[derive(Clone, Copy)]
enum Code {
    /// The address of the faulting instruction.
    Faulted(u64),
    /// The return address of the call that found misuse.
    Returns(u64),
}

fn with_found<R>(
    code: Code,
    sp: usize,
    ctx: Option<&ExecCtx>,
    f: impl FnOnce(Option<&Culprit<'_>>) -> R,
) -> R {
    let mut f = Some(f);
    let found = with_registry(|beads| {
        let culprit = find(beads, code, sp, ctx);
        let f = f.take().expect("called once");
        f(culprit.as_ref())
    });
    match (found, f) {
        (Some(r), _) => r,
        (None, Some(f)) => f(None),
        (None, None) => unreachable!("`f` ran, so `with_registry` returned its result"),
    }
}

fn find<'a>(
    beads: &'a HashMap<OwnerId, BeadRecord>,
    code: Code,
    sp: usize,
    ctx: Option<&ExecCtx>,
) -> Option<Culprit<'a>> {
    let (at, direct) = match code {
        Code::Faulted(pc) => (pc, true),
        Code::Returns(ret) => (ret, false),
    };
    if let Some(bead) = bead_at(beads, at) {
        return Some(Culprit { bead, at, direct });
    }
    let ctx = ctx?;
    let weave = ctx.weave_beads().map(|b| &b[..]);
    if let Some((bead, at)) = nearest_bead_frame(beads, weave, sp, ctx.stack_bounds()) {
        return Some(Culprit {
            bead,
            at,
            direct: false,
        });
    }
    beads.get(&ctx.info.home).map(|bead| Culprit {
        bead,
        at: 0,
        direct: false,
    })
}

/// The bead whose image holds `addr`.
fn bead_at(beads: &HashMap<OwnerId, BeadRecord>, addr: u64) -> Option<&BeadRecord> {
    let b = beads.get(&owner_of(addr as usize)?)?;
    (b.base..b.end).contains(&addr).then_some(b)
}

/// The first return address into bead code on the stack `(low, high)`
/// above `sp`, into one of the beads of `weave` if they are known.
///
/// Stacks are reused, so a frame's unwritten slots can hold return
/// addresses of a string that ran on the stack before, into beads of
/// another weave: those are skipped. (One of the string's own weave could
/// still mislead the function named, not the bead blamed.)
fn nearest_bead_frame<'a>(
    beads: &'a HashMap<OwnerId, BeadRecord>,
    weave: Option<&[OwnerId]>,
    sp: usize,
    (low, high): (usize, usize),
) -> Option<(&'a BeadRecord, u64)> {
    if sp < low + STACK_GUARD || sp >= high {
        return None;
    }
    let mut at = sp & !7;
    while at + 8 <= high {
        // SAFETY: `at` lies in the string's stack above its guard, which is
        // committed read-write memory.
        let word = unsafe { *(at as *const u64) };
        if let Some(b) = bead_at(beads, word) {
            if weave.is_none_or(|w| w.contains(&b.owner)) && is_return_address(b, word) {
                return Some((b, word));
            }
        }
        at += 8;
    }
    None
}

/// Whether `addr` (in `b`'s image) is in executable code, right after a
/// call instruction.
fn is_return_address(b: &BeadRecord, addr: u64) -> bool {
    let Some(start) = code_segment_start(b, addr) else {
        return false;
    };
    if addr < start + 8 {
        return false;
    }
    let mut before = [0u8; 8];
    // SAFETY: the 8 bytes below `addr` lie in the same executable segment
    // of a mapped bead (checked above), which is readable.
    unsafe {
        std::ptr::copy_nonoverlapping((addr - 8) as *const u8, before.as_mut_ptr(), 8);
    }
    ends_with_call(&before)
}

/// The start address of the executable segment of `b` holding `addr`.
fn code_segment_start(b: &BeadRecord, addr: u64) -> Option<u64> {
    let (phdrs, count) = b.module.program_headers();
    let offset = addr - b.base;
    (0..count).find_map(|i| {
        // SAFETY: the module keeps `count` program headers at `phdrs`
        // (Elf64_Phdr, as in the file) for its whole life.
        let ph = unsafe { &*(phdrs as *const libc::Elf64_Phdr).add(i) };
        let code = ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0;
        (code && (ph.p_vaddr..ph.p_vaddr + ph.p_memsz).contains(&offset))
            .then_some(b.base + ph.p_vaddr)
    })
}

/// Whether the bytes `before` (the 8 bytes ending at a return address) end
/// with an x86-64 call: `call rel32` (E8), or `call r/m64` (FF /2, with any
/// ModRM form, optionally after a REX prefix).
fn ends_with_call(before: &[u8; 8]) -> bool {
    if before[3] == 0xe8 {
        return true;
    }
    (2..=7).any(|len| {
        let i = 8 - len;
        before[i] == 0xff && call_rm_length(before[i + 1], before.get(i + 2).copied()) == len
            || i >= 1
                && before[i - 1] & 0xf0 == 0x40
                && before[i] == 0xff
                && call_rm_length(before[i + 1], before.get(i + 2).copied()) == len - 1
    })
}

/// Length of `FF /2` with this ModRM byte (and SIB byte, if one follows),
/// or 0 if it is not `call r/m64`.
fn call_rm_length(modrm: u8, sib: Option<u8>) -> usize {
    if (modrm >> 3) & 7 != 2 {
        return 0;
    }
    let (mode, rm) = (modrm >> 6, modrm & 7);
    let has_sib = mode != 3 && rm == 4;
    let sib_base_disp32 = has_sib && mode == 0 && sib.is_some_and(|s| s & 7 == 5);
    let disp = match mode {
        0 if rm == 5 || sib_base_disp32 => 4,
        1 => 1,
        2 => 4,
        _ => 0,
    };
    2 + usize::from(has_sib) + disp
}

#[cfg(test)]
mod tests {
    use super::ends_with_call;

    fn ends(tail: &[u8]) -> bool {
        let mut b = [0x90u8; 8];
        b[8 - tail.len()..].copy_from_slice(tail);
        ends_with_call(&b)
    }

    #[test]
    fn recognises_the_calls_compilers_emit() {
        assert!(ends(&[0xe8, 1, 2, 3, 4]), "call rel32");
        assert!(
            ends(&[0xff, 0x15, 1, 2, 3, 4]),
            "call [rip+disp32] (PLT-less)"
        );
        assert!(ends(&[0xff, 0xd0]), "call rax");
        assert!(ends(&[0x41, 0xff, 0xd3]), "call r11");
        assert!(ends(&[0xff, 0x50, 0x08]), "call [rax+8]");
        assert!(
            ends(&[0xff, 0x14, 0x25, 1, 2, 3, 4]),
            "call [disp32] via SIB"
        );
        assert!(!ends(&[0x48, 0x89, 0xc7]), "mov rdi, rax");
        assert!(!ends(&[0xff, 0xe0]), "jmp rax");
        assert!(!ends(&[0xc3]), "ret");
    }
}
