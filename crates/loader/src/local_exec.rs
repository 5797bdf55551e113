//! Local-exec thread-locals of PIE executables, moved from `%fs` to `%gs`.
//!
//! An executable reaches its own `__thread` variables at fixed offsets
//! below the thread pointer (`mov %fs:-0x14,%eax`, or `mov %fs:0,%rax`
//! then `lea -0x14(%rax)`): the linker assumes its TLS block sits right
//! under the thread control block, where only the process's real
//! executable (the runtime) has one. Those accesses carry no relocation,
//! so they cannot be bound like a shared object's.
//!
//! They can be moved, though: the instructions differ from their `%gs`
//! twins in one prefix byte (`0x64` → `0x65`), and x86-64 user code has
//! nothing else in `%gs`. So when a PIE with a `PT_TLS` segment is loaded,
//! its code is decoded (linear sweep of each executable segment), every
//! access to its *own* block is rewritten to `%gs`, and the rewritten image
//! is what its beads map (one copy, shared as the file would be). The
//! runtime then points `%gs` at the running string's block for the bead
//! (`weaves_strings::tls`), whose word at offset 0 points at itself, as
//! `%fs:0` does.
//!
//! What is rewritten, and what is not. A PIE can name only two kinds of
//! offsets from the thread pointer: its own block's, which the linker
//! fixed, and other modules' (initial-exec), read from GOT slots that
//! `R_X86_64_TPOFF64` relocations fill. So:
//!
//! | access                                              | becomes |
//! |-----------------------------------------------------|---------|
//! | `%fs:+N`, no register: the control block (stack guard `0x28`, pointer guard `0x30`, self pointer) | kept |
//! | an access whose offset comes from a `TPOFF64` slot (`mov slot(%rip),R; mov %fs:(R),…` or `mov %fs:0,R; add slot(%rip),R`) | kept |
//! | every other `%fs` access: `%fs:-N`, `mov %fs:0,R`, `%fs:(R,I,8)`… | `%gs` |
//!
//! Every load of a `TPOFF64` slot must be matched to the access it feeds
//! (within a few instructions); otherwise the module is refused, naming
//! the address, since an access we could not match might have been
//! rewritten wrongly.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;

use iced_x86::{
    Decoder, DecoderOptions, Instruction, InstructionInfoFactory, OpAccess, OpKind, Register,
};

use crate::abi;
use crate::module::Segment;
use crate::reloc::Reloc;

/// How many decoded instructions to look at before and after an access
/// whose offset comes from a register.
const WINDOW: usize = 12;

/// One executable range of the file: where its bytes are and at which
/// address the code runs (relative to the image base).
pub(crate) struct CodeRange<'a> {
    pub bytes: &'a [u8],
    pub file_offset: usize,
    pub vaddr: u64,
}

/// File offsets of the `%fs` prefix bytes to turn into `%gs` prefixes, or
/// why the module cannot be handled.
///
/// A PIE can name only two kinds of thread pointer offsets: its own
/// block's, which the linker fixed, and other modules' through `TPOFF64`
/// GOT slots. So every `%fs` access but the control block's is the
/// module's own unless its offset demonstrably comes from such a slot; and
/// every load of such a slot must be matched to the access it feeds, or the
/// module is refused (a slot whose use we cannot see might feed an access
/// we rewrote).
pub(crate) fn find_rewrites(
    ranges: &[CodeRange<'_>],
    tpoff_slots: &HashSet<u64>,
) -> Result<Vec<usize>, String> {
    let mut sites = Vec::new();
    let mut info = InstructionInfoFactory::new();
    for range in ranges {
        let code: Vec<Instruction> = decode(range);
        let mut slot_loads: HashSet<usize> = code
            .iter()
            .enumerate()
            .filter(|(_, instr)| reads_a_slot(instr, tpoff_slots))
            .map(|(i, _)| i)
            .collect();
        for (i, instr) in code.iter().enumerate() {
            if instr.segment_prefix() != Register::FS || !has_memory_operand(instr) {
                continue;
            }
            if control_block_field(instr) {
                continue;
            }
            let feeders = slot_feeders(&code, i, &mut info, tpoff_slots);
            if feeders.is_empty() {
                sites.push(prefix_offset(range, instr)?);
            }
            for f in feeders {
                slot_loads.remove(&f);
            }
        }
        if let Some(&unmatched) = slot_loads.iter().min() {
            return Err(format!(
                "code at {:#x} reads another module's thread-local offset (a TPOFF64 slot) for an access that cannot be found, so its own accesses cannot be told apart",
                code[unmatched].ip()
            ));
        }
    }
    Ok(sites)
}

fn decode(range: &CodeRange<'_>) -> Vec<Instruction> {
    let mut decoder = Decoder::with_ip(64, range.bytes, range.vaddr, DecoderOptions::NONE);
    let mut out = Vec::with_capacity(range.bytes.len() / 4);
    let mut instr = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut instr);
        out.push(instr);
    }
    out
}

fn has_memory_operand(instr: &Instruction) -> bool {
    (0..instr.op_count()).any(|i| instr.op_kind(i) == OpKind::Memory)
}

/// `%fs:+N` with no register: a field of the thread control block (the
/// stack guard at 0x28, the pointer guard at 0x30, the self pointer).
fn control_block_field(instr: &Instruction) -> bool {
    instr.memory_base() == Register::None
        && instr.memory_index() == Register::None
        && (instr.memory_displacement64() as i64) > 0
}

fn reads_a_slot(instr: &Instruction, tpoff_slots: &HashSet<u64>) -> bool {
    instr.is_ip_rel_memory_operand() && tpoff_slots.contains(&instr.ip_rel_memory_address())
}

/// The instructions that feed a `TPOFF64` slot's value into the `%fs`
/// access at `code[i]`: the access itself if it reads one, the nearest
/// earlier writer of each register it reads if that loads one, and, for a
/// read of the thread pointer into a register (`mov %fs:0,R`), the next
/// reader of R if that adds one.
fn slot_feeders(
    code: &[Instruction],
    i: usize,
    info: &mut InstructionInfoFactory,
    tpoff_slots: &HashSet<u64>,
) -> Vec<usize> {
    let instr = &code[i];
    let mut feeders = Vec::new();
    let used: Vec<(Register, OpAccess)> = info
        .info(instr)
        .used_registers()
        .iter()
        .map(|u| (u.register(), u.access()))
        .collect();
    for (reg, access) in &used {
        if !reads(*access) || reg.full_register() == Register::RSP {
            continue;
        }
        if let Some(w) = nearest_writer(code, i, *reg, info) {
            if reads_a_slot(&code[w], tpoff_slots) {
                feeders.push(w);
            }
        }
    }
    let thread_pointer = instr.memory_base() == Register::None
        && instr.memory_index() == Register::None
        && instr.memory_displacement64() == 0;
    if thread_pointer && instr.op0_kind() == OpKind::Register {
        let reg = instr.op0_register();
        if let Some(r) = next_reader(code, i, reg, info) {
            if reads_a_slot(&code[r], tpoff_slots) {
                feeders.push(r);
            }
        }
    }
    feeders
}

fn nearest_writer(
    code: &[Instruction],
    i: usize,
    reg: Register,
    info: &mut InstructionInfoFactory,
) -> Option<usize> {
    (i.saturating_sub(WINDOW)..i).rev().find(|&j| {
        info.info(&code[j])
            .used_registers()
            .iter()
            .any(|u| same_register(u.register(), reg) && writes(u.access()))
    })
}

fn next_reader(
    code: &[Instruction],
    i: usize,
    reg: Register,
    info: &mut InstructionInfoFactory,
) -> Option<usize> {
    (i + 1..code.len().min(i + 1 + WINDOW)).find(|&j| {
        info.info(&code[j])
            .used_registers()
            .iter()
            .any(|u| same_register(u.register(), reg) && reads(u.access()))
    })
}

fn same_register(a: Register, b: Register) -> bool {
    a.full_register() == b.full_register()
}

fn reads(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

fn writes(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

/// File offset of the `0x64` prefix byte of `instr`.
fn prefix_offset(range: &CodeRange<'_>, instr: &Instruction) -> Result<usize, String> {
    let start = (instr.ip() - range.vaddr) as usize;
    let bytes = &range.bytes[start..start + instr.len()];
    const LEGACY: [u8; 11] = [
        0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3,
    ];
    bytes
        .iter()
        .take_while(|b| LEGACY.contains(b))
        .position(|&b| b == 0x64)
        .map(|at| range.file_offset + start + at)
        .ok_or_else(|| {
            format!(
                "a thread-local access at {:#x} whose %fs prefix is not among its prefixes",
                instr.ip()
            )
        })
}

/// The module's file with its own local-exec accesses moved to `%gs`, as
/// an anonymous in-memory file its beads map instead of the original (so
/// they still share one copy of the code). The TLS segment's address must
/// be aligned as the linker's offsets assume.
pub(crate) fn rewritten_image(
    path: &Path,
    data: &[u8],
    segments: &[Segment],
    relocs: &[Reloc],
) -> Result<File, String> {
    let ranges: Vec<CodeRange<'_>> = segments
        .iter()
        .filter(|s| s.flags & abi::PF_X != 0 && s.filesz > 0)
        .filter_map(|s| {
            let start = s.offset as usize;
            let bytes = data.get(start..start.checked_add(s.filesz as usize)?)?;
            Some(CodeRange {
                bytes,
                file_offset: start,
                vaddr: s.vaddr,
            })
        })
        .collect();
    let tpoff_slots: HashSet<u64> = relocs
        .iter()
        .filter(|r| r.kind == abi::R_X86_64_TPOFF64)
        .map(|r| r.offset)
        .collect();
    let sites = find_rewrites(&ranges, &tpoff_slots)?;
    let mut image = data.to_vec();
    for &at in &sites {
        image[at] = 0x65;
    }
    in_memory_file(path, &image).map_err(|e| {
        format!(
            "its thread-locals needed a rewritten copy of the code, which could not be made: {e}"
        )
    })
}

fn in_memory_file(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let name = CString::new(format!(
        "weaves-local-exec:{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    ))
    .unwrap_or_default();
    // SAFETY: `name` is a NUL-terminated string; the call has no other
    // memory arguments.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody
    // else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(code: &[u8], tpoff: &[u64]) -> Result<Vec<usize>, String> {
        let range = CodeRange {
            bytes: code,
            file_offset: 0x1000,
            vaddr: 0x5000,
        };
        find_rewrites(&[range], &tpoff.iter().copied().collect())
    }

    #[test]
    fn a_negative_fs_offset_is_the_modules_own_variable() {
        // mov %fs:0xfffffffffffffffc,%eax ; ret
        let code = [0x64, 0x8b, 0x04, 0x25, 0xfc, 0xff, 0xff, 0xff, 0xc3];
        assert_eq!(sites(&code, &[]).unwrap(), vec![0x1000]);
    }

    #[test]
    fn the_stack_guard_stays_on_fs() {
        // mov %fs:0x28,%rax
        let code = [0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00];
        assert!(sites(&code, &[]).unwrap().is_empty());
    }

    #[test]
    fn the_thread_pointer_then_a_lea_is_moved_and_then_a_got_add_is_kept() {
        // mov %fs:0,%rax ; lea -0x10(%rax),%rax
        let own = [
            0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x48, 0x8d, 0x40, 0xf0,
        ];
        assert_eq!(sites(&own, &[]).unwrap(), vec![0x1000]);
        // mov %fs:0,%rax ; add 0x100(%rip),%rax  (GOT slot at 0x5009 + 7 + 0x100)
        let other = [
            0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x48, 0x03, 0x05, 0x00, 0x01, 0, 0,
        ];
        assert!(sites(&other, &[0x5010 + 0x100]).unwrap().is_empty());
    }

    #[test]
    fn a_register_offset_follows_where_the_register_came_from() {
        // mov $-8,%rax (48 c7 c0 f8 ff ff ff) ; mov %fs:(%rax),%eax (64 8b 00)
        let own = [0x48, 0xc7, 0xc0, 0xf8, 0xff, 0xff, 0xff, 0x64, 0x8b, 0x00];
        assert_eq!(sites(&own, &[]).unwrap(), vec![0x1007]);
        // mov 0x100(%rip),%rax (GOT slot 0x5107) ; mov %fs:(%rax),%eax
        let other = [0x48, 0x8b, 0x05, 0x00, 0x01, 0, 0, 0x64, 0x8b, 0x00];
        assert!(sites(&other, &[0x5107]).unwrap().is_empty());
        // add %rdx,%rax ; mov %fs:(%rax),%eax: no slot feeds it, so own
        let computed = [0x48, 0x01, 0xd0, 0x64, 0x8b, 0x00];
        assert_eq!(sites(&computed, &[]).unwrap(), vec![0x1003]);
        // add %rbx,%fs:(%rcx,%rax,8): an indexed access to an own array
        let indexed = [0x64, 0x48, 0x01, 0x1c, 0xc1];
        assert_eq!(sites(&indexed, &[]).unwrap(), vec![0x1000]);
    }

    #[test]
    fn a_slot_load_whose_access_is_not_found_refuses_the_module() {
        // mov 0x100(%rip),%rax (GOT slot 0x5107) ; ret
        let lost = [0x48, 0x8b, 0x05, 0x00, 0x01, 0, 0, 0xc3];
        let e = sites(&lost, &[0x5107]).unwrap_err();
        assert!(e.contains("0x5000"), "{e}");
    }
}
