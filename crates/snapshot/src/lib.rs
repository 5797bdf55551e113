//! # Checkpoint images
//!
//! A checkpoint of a tapestry is everything needed to rebuild it in a new
//! process and let its strings go on where they were: the tapestry's own
//! description and state (strings, files, message queues — the `tapestry`
//! crate fills that part in as JSON) and the bytes of the arena memory
//! bead code can see.
//!
//! Which memory: every accessible mapping inside the arena (bead data,
//! heaps, string stacks, TLS blocks) is listed with its protection, and of
//! those, every page the process has made its own — anonymous pages and
//! written copies of file pages ([`capture`]). Pages still backed by a
//! module's file (code, read-only data never written) are not stored: the
//! restoring process maps the same modules at the same addresses.
//!
//! The file ([`image`]):
//!
//! ```text
//!  "WVCKPT01" | sections: kind (4 bytes) len (u64) crc32 (u32) payload ... |
//!  "WVEND!!!" count (u32) crc32 of the section checksums (u32)
//! ```
//!
//! Every section is checksummed, so a flipped bit anywhere is found before
//! anything is restored; files are written to a temporary name, synced and
//! renamed, so a crash while writing leaves the previous image whole.

pub mod capture;
pub mod image;
mod layout;
pub mod track;

pub use capture::{apply, capture_vmas, copy_pages, present_runs, PageRun, Vma};
pub use image::{
    decode_image, encode_image, merge_chain, read_chain, read_chain_with, read_header, read_image,
    write_image, write_image_to, write_image_with, Image, ImageError, Parent, Section,
};
pub use layout::Layout;
pub use track::{Scan, WriteProtect, WriteTracker, Written};

/// CRC-32 of `bytes` (module identities, sections).
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
