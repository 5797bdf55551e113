//! # The loader: ELF modules and their beads
//!
//! A [`Module`] is an x86-64 ELF shared object or PIE executable parsed once:
//! its loadable segments, dynamic symbols with their versions, relocations,
//! init/fini lists, TLS template and `DT_NEEDED` list. Parsing validates
//! everything a bead will later need, so that every problem with a file —
//! truncation, wrong machine, an unsupported relocation — is reported when the
//! module is loaded, naming the module, never as a crash later.
//!
//! A [`BeadImage`] is one instance of a module mapped inside the arena at its
//! own base:
//!
//! ```text
//!  base + vaddr ->  | R (headers)  | R X (text)   | R (rodata,  | R W (got, data) | bss (anon) |
//!                   | file, shared | file, shared | eh_frame)   | file, private   | private    |
//! ```
//!
//! Read-only and executable segments are `MAP_PRIVATE` mappings of the file
//! that are never written, so every bead of a module shares their physical
//! pages through the page cache. Writable segments are private copy-on-write
//! mappings: each bead pays only for the data pages it touches.
//!
//! The loader does not decide what an undefined symbol binds to — that is the
//! binder's job (in `weaves-tapestry`). It lists what a module imports
//! ([`Module::imports`]) and applies relocations given a complete table of
//! [`Target`]s ([`BeadImage::relocate`]).

mod abi;
mod error;
mod image;
mod local_exec;
mod module;
mod reloc;
mod slots;
mod symbols;
mod sys;

pub use error::LoadError;
pub use image::BeadImage;
pub use module::{DataObject, Module, ModuleKind, TlsTemplate};
pub use reloc::{Target, TlsResolver, HOST_TLS_FLAG};
pub use slots::{ImportSlot, SlotKind};
pub use symbols::{SymKind, Symbol};
