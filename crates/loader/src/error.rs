//! Errors of loading a module or instantiating a bead.

use std::path::PathBuf;

/// Everything that can be wrong with a module file or its instantiation.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read module: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A directory, FIFO, device or socket: refused before it is opened
    /// for reading (a FIFO would wait for a writer, a device never ends).
    #[error("{path} is {kind}, not an ELF module file")]
    NotRegularFile { path: PathBuf, kind: &'static str },
    #[error("{path}: not an ELF file")]
    NotElf { path: PathBuf },
    #[error("{path}: malformed ELF: {what}")]
    Malformed { path: PathBuf, what: String },
    #[error("{path}: wrong architecture: ELF machine {machine} ({name}), expected x86-64")]
    WrongMachine {
        path: PathBuf,
        machine: u16,
        name: &'static str,
    },
    #[error("{path}: not supported: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: not supported: relocation {kind} against `{symbol}` (at offset {offset:#x})")]
    UnsupportedRelocation {
        path: PathBuf,
        kind: String,
        symbol: String,
        offset: u64,
    },
    #[error("cannot map bead of {path}: {what}")]
    Map { path: PathBuf, what: String },
}
