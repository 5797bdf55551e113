//! Errors of building or running a tapestry. Each renders as one line that
//! names the file, bead, module or symbol at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TapestryError {
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A module file the tapestry names cannot be loaded: the tapestry
    /// file and line that name it, then what is wrong with the file.
    #[error(
        "{}: line {}: module `{}`: {}{}",
        .0.tapestry.display(),
        .0.line,
        .0.name,
        .0.source,
        .0.hint
    )]
    Module(Box<ModuleError>),
    #[error(transparent)]
    Load(#[from] weaves_loader::LoadError),
    /// Symbols found nowhere (every bead's, listed together).
    #[error("unresolved symbols: {}", render_unresolved(.0))]
    Unresolved(Vec<Unresolved>),
    #[error("{0}")]
    Bind(String),
    #[error("{0}")]
    Run(String),
}

/// A module that cannot be loaded, and where the tapestry names it.
#[derive(Debug)]
pub struct ModuleError {
    pub tapestry: PathBuf,
    pub line: usize,
    pub name: String,
    pub source: weaves_loader::LoadError,
    /// ` (did you mean …?)`, or empty.
    pub hint: String,
}

/// The symbols one bead imports that nothing defines.
#[derive(Clone, Debug)]
pub struct Unresolved {
    pub bead: String,
    pub module: PathBuf,
    /// Names, with `@version` where the reference has one.
    pub symbols: Vec<String>,
    /// For each of `symbols`: whether it is only ever called (a function
    /// reached through the PLT, which native lazy binding would resolve at
    /// its first call) rather than read as data.
    pub functions: Vec<bool>,
}

fn render_unresolved(all: &[Unresolved]) -> String {
    all.iter()
        .map(|u| {
            format!(
                "bead `{}` ({}) needs {}",
                u.bead,
                u.module.display(),
                u.symbols.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
