//! Relocation records and the rules for applying them.
//!
//! Notation of the x86-64 psABI: `B` is the bead's base, `S` the value the
//! symbol binds to, `A` the addend, `P` the place being relocated.
//!
//! | type        | value written                                           |
//! |-------------|---------------------------------------------------------|
//! | RELATIVE    | B + A  (also every entry of a `DT_RELR` table)          |
//! | 64          | S + A                                                   |
//! | GLOB_DAT    | S + A                                                   |
//! | JUMP_SLOT   | S + A  (bound eagerly: no lazy PLT resolution)          |
//! | COPY        | `size` bytes copied from S into P                       |
//! | IRELATIVE   | resolver(B + A)()                                       |
//! | DTPMOD64    | TLS module id of S's bead (our ids, see `TLS_MODULE_TAG`)|
//! | DTPOFF64    | offset of S in its TLS block + A                        |
//! | TPOFF64     | thread-pointer offset, only for host libraries' TLS     |
//! | TLSDESC     | {resolver, argument} pair, resolved through our stubs   |

use std::path::Path;

use crate::abi;

use crate::error::LoadError;
use crate::symbols::Symbol;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Reloc {
    pub offset: u64,
    pub kind: u32,
    pub sym: u32,
    pub addend: i64,
}

/// What one symbol of a bead binds to, as decided by the binder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address (a function or variable); 0 for an unresolved weak symbol.
    Address(u64),
    /// A thread-local variable of a bead: its TLS module id and its offset in
    /// that module's block.
    Tls { module: u64, offset: u64 },
    /// A thread-local variable of a host library: glibc's module id, the
    /// offset in that module's block, and its offset from the thread pointer
    /// (meaningful only if the library lives in static TLS, which is all
    /// `TPOFF64` may assume).
    HostTls {
        module: u64,
        offset: u64,
        tpoff: i64,
    },
    /// The source of a COPY relocation: a definition and its size.
    CopyFrom { addr: u64, size: u64 },
    /// An indirect function: the address of its resolver, called when the
    /// relocations that use it are applied (after the bead's own relocations,
    /// and after the providing bead has been relocated).
    IFunc(u64),
}

/// The runtime's TLS descriptor resolvers (assembly stubs in the interpose
/// crate). A descriptor's argument word is `module << 40 | offset` for
/// dynamic TLS (with [`HOST_TLS_FLAG`] set when `module` is one of glibc's)
/// and the thread-pointer offset for static TLS.
#[derive(Clone, Copy, Debug)]
pub struct TlsResolver {
    pub dynamic: u64,
    pub static_tls: u64,
}

/// Marks a TLS descriptor argument whose module id is glibc's.
pub const HOST_TLS_FLAG: u64 = 1 << 63;

pub(crate) fn kind_name(kind: u32) -> String {
    let name = match kind {
        abi::R_X86_64_NONE => "R_X86_64_NONE",
        abi::R_X86_64_64 => "R_X86_64_64",
        abi::R_X86_64_PC32 => "R_X86_64_PC32",
        abi::R_X86_64_GOT32 => "R_X86_64_GOT32",
        abi::R_X86_64_PLT32 => "R_X86_64_PLT32",
        abi::R_X86_64_COPY => "R_X86_64_COPY",
        abi::R_X86_64_GLOB_DAT => "R_X86_64_GLOB_DAT",
        abi::R_X86_64_JUMP_SLOT => "R_X86_64_JUMP_SLOT",
        abi::R_X86_64_RELATIVE => "R_X86_64_RELATIVE",
        abi::R_X86_64_32 => "R_X86_64_32",
        abi::R_X86_64_32S => "R_X86_64_32S",
        abi::R_X86_64_16 => "R_X86_64_16",
        abi::R_X86_64_PC16 => "R_X86_64_PC16",
        abi::R_X86_64_8 => "R_X86_64_8",
        abi::R_X86_64_PC8 => "R_X86_64_PC8",
        abi::R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
        abi::R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
        abi::R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
        abi::R_X86_64_PC64 => "R_X86_64_PC64",
        abi::R_X86_64_TLSDESC => "R_X86_64_TLSDESC",
        abi::R_X86_64_IRELATIVE => "R_X86_64_IRELATIVE",
        abi::R_X86_64_RELATIVE64 => "R_X86_64_RELATIVE64",
        _ => return format!("type {kind}"),
    };
    name.to_owned()
}

/// Rejects, at module load, any relocation we cannot apply.
pub(crate) fn check_supported(path: &Path, r: &Reloc, symbols: &[Symbol]) -> Result<(), LoadError> {
    let sym = &symbols[r.sym as usize];
    let supported = match r.kind {
        abi::R_X86_64_NONE
        | abi::R_X86_64_64
        | abi::R_X86_64_COPY
        | abi::R_X86_64_GLOB_DAT
        | abi::R_X86_64_JUMP_SLOT
        | abi::R_X86_64_RELATIVE
        | abi::R_X86_64_DTPMOD64
        | abi::R_X86_64_DTPOFF64
        | abi::R_X86_64_TLSDESC
        | abi::R_X86_64_IRELATIVE => true,
        // Initial-exec TLS of the module's own variables needs a slot in
        // glibc's static TLS block, which a bead cannot have.
        abi::R_X86_64_TPOFF64 => r.sym != 0 && !sym.defined,
        _ => false,
    };
    if supported {
        return Ok(());
    }
    let mut kind = kind_name(r.kind);
    if r.kind == abi::R_X86_64_TPOFF64 {
        kind.push_str(" (initial-exec TLS of the module's own variables; rebuild with -ftls-model=global-dynamic)");
    }
    Err(LoadError::UnsupportedRelocation {
        path: path.to_owned(),
        kind,
        symbol: if r.sym == 0 {
            "<none>".into()
        } else {
            sym.display_name()
        },
        offset: r.offset,
    })
}

/// Expands a `DT_RELR` table into the offsets it relocates; `None` if an
/// entry runs past the end of the address space (a malformed table).
pub(crate) fn decode_relr(words: &[object::U64<object::LittleEndian>]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    let mut base = 0u64;
    for w in words {
        let w = w.get(object::LittleEndian);
        if w & 1 == 0 {
            out.push(w);
            base = w.checked_add(8)?;
        } else {
            let mut bits = w >> 1;
            let mut at = base;
            while bits != 0 {
                if bits & 1 != 0 {
                    out.push(at);
                }
                bits >>= 1;
                at = at.checked_add(8)?;
            }
            base = base.checked_add(63 * 8)?;
        }
    }
    Some(out)
}
