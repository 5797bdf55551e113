//! Import slots: the places in a bead's writable memory that hold the
//! address of something another bead, the runtime or a system library
//! defines. They are what binding fills in, and what live rebinding
//! changes.
//!
//! A slot is derived, not stored: the module's relocation list says where
//! each slot lies relative to the base of any of its beads, and which symbol
//! fills it. A bead's table costs nothing until someone asks for it.
//!
//! | kind | relocation | reached by |
//! |---|---|---|
//! | `Plt` | `R_X86_64_JUMP_SLOT` | calls through the PLT |
//! | `Got` | `R_X86_64_GLOB_DAT` | code loading the address from the GOT |
//! | `Pointer` | `R_X86_64_64` | initialised data (function tables, vtables) |

use std::sync::atomic::{AtomicU64, Ordering};

use crate::abi;
use crate::error::LoadError;
use crate::image::BeadImage;
use crate::module::Module;

/// How a bead's code reaches what a slot points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    Plt,
    Got,
    Pointer,
}

impl SlotKind {
    pub fn name(self) -> &'static str {
        match self {
            SlotKind::Plt => "plt",
            SlotKind::Got => "got",
            SlotKind::Pointer => "pointer",
        }
    }
}

/// One import slot of a module, relative to the base of its beads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportSlot {
    pub offset: u64,
    /// Dynamic symbol index.
    pub symbol: u32,
    pub kind: SlotKind,
    /// Added to the target's address (a pointer into the middle of an
    /// object).
    pub addend: i64,
}

impl Module {
    /// Every slot its beads hold that a symbol fills in.
    pub fn import_slots(&self) -> impl Iterator<Item = ImportSlot> + '_ {
        self.relocs.iter().filter(|r| r.sym != 0).filter_map(|r| {
            let kind = match r.kind {
                abi::R_X86_64_JUMP_SLOT => SlotKind::Plt,
                abi::R_X86_64_GLOB_DAT => SlotKind::Got,
                abi::R_X86_64_64 => SlotKind::Pointer,
                _ => return None,
            };
            Some(ImportSlot {
                offset: r.offset,
                symbol: r.sym,
                kind,
                addend: r.addend,
            })
        })
    }
}

impl BeadImage {
    /// The addresses (and addends) of every slot of this bead that symbol
    /// `symbol` fills, each 8-byte aligned, so that it can be changed with
    /// one atomic store.
    pub fn slots_of(&self, symbol: u32) -> Result<Vec<(u64, i64)>, LoadError> {
        let base = self.base();
        let mut out = Vec::new();
        for s in self.module().import_slots().filter(|s| s.symbol == symbol) {
            if !(base + s.offset).is_multiple_of(8) {
                return Err(LoadError::Map {
                    path: self.module().path().to_owned(),
                    what: format!(
                        "the {} slot for `{}` at {:#x} is not 8-byte aligned, so it cannot be changed atomically",
                        s.kind.name(),
                        self.module().symbol(symbol).display_name(),
                        base + s.offset
                    ),
                });
            }
            out.push((base + s.offset, s.addend));
        }
        Ok(out)
    }

    /// The bead's code: its executable segments, as address ranges.
    pub fn code_ranges(&self) -> Vec<(u64, u64)> {
        self.module()
            .segments
            .iter()
            .filter(|s| s.flags & abi::PF_X != 0)
            .map(|s| (self.base() + s.vaddr, self.base() + s.vaddr + s.memsz))
            .collect()
    }

    /// Points every slot of this bead that symbol `symbol` fills at
    /// `address` (plus each slot's addend), one atomic store per slot, and
    /// returns how many slots changed. A string calling through a slot at
    /// that moment calls either the old or the new target, never a torn
    /// address.
    ///
    /// # Safety
    /// `address` must be a valid definition of the symbol for the bead's
    /// code (a function with the same signature, or storage of the same
    /// type), and stay valid while the bead can still use it.
    pub unsafe fn retarget(&self, symbol: u32, address: u64) -> Result<usize, LoadError> {
        let slots: Vec<ImportSlot> = self
            .module()
            .import_slots()
            .filter(|s| s.symbol == symbol)
            .collect();
        let base = self.base();
        if let Some(s) = slots.iter().find(|s| !(base + s.offset).is_multiple_of(8)) {
            return Err(LoadError::Map {
                path: self.module().path().to_owned(),
                what: format!(
                    "the {} slot for `{}` at {:#x} is not 8-byte aligned, so it cannot be changed atomically",
                    s.kind.name(),
                    self.module().symbol(symbol).display_name(),
                    base + s.offset
                ),
            });
        }
        for s in &slots {
            let at = (base + s.offset) as *mut u64;
            // SAFETY: relocation offsets were validated at load to lie in
            // the image's writable segments (which stay writable: the GOT is
            // not made read-only), the slot is 8-byte aligned (checked
            // above), and the image is mapped while `self` lives. Code of
            // the bead reads slots with plain loads, which an atomic store
            // of the whole word never tears.
            let slot = unsafe { AtomicU64::from_ptr(at) };
            slot.store(address.wrapping_add(s.addend as u64), Ordering::Release);
        }
        Ok(slots.len())
    }
}
