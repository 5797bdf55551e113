//! Errors of building or running a tapestry. Each renders as one line that
//! names the file, bead, module or symbol at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TapestryError {
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    Load(#[from] weaves_loader::LoadError),
    /// A module the tapestry (or a fragment) names cannot be loaded: the
    /// file and line that name it, then why.
    #[error("{file}: line {line}: module `{module}`: {source}")]
    Module {
        file: PathBuf,
        line: usize,
        module: String,
        source: Box<weaves_loader::LoadError>,
    },
    #[error("{0}")]
    Bind(String),
    #[error("{0}")]
    Run(String),
}
