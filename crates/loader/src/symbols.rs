//! Dynamic symbols as the binder sees them.

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymKind {
    /// Untyped (some assemblers and linker-made symbols).
    NoType,
    /// A variable.
    Object,
    /// A function.
    Func,
    /// A thread-local variable: its value is an offset in the TLS block.
    Tls,
    /// An indirect function: its value is a resolver returning the address.
    IFunc,
    /// Anything else (sections, files, common).
    Other,
}

/// One entry of a module's dynamic symbol table.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    /// Version this symbol requires (undefined) or defines (defined).
    pub version: Option<String>,
    /// A defined symbol whose version is not the default one (`sym@V`, not
    /// `sym@@V`): only found by a lookup naming that version.
    pub non_default_version: bool,
    pub value: u64,
    pub size: u64,
    pub kind: SymKind,
    pub weak: bool,
    /// `STB_LOCAL`: never exported.
    pub local: bool,
    pub defined: bool,
    /// `SHN_ABS`: the value is a number, not an address in the image.
    pub absolute: bool,
    /// Default visibility (only those are exported to other beads).
    pub exported: bool,
}

impl Symbol {
    /// The name with its version, as people write it (`memcpy@GLIBC_2.14`).
    pub fn display_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{}", self.name, v),
            None => self.name.clone(),
        }
    }
}

pub(crate) fn kind_of(st_type: u8) -> SymKind {
    use crate::abi::*;
    match st_type {
        STT_NOTYPE => SymKind::NoType,
        STT_OBJECT | STT_COMMON => SymKind::Object,
        STT_FUNC => SymKind::Func,
        STT_TLS => SymKind::Tls,
        STT_GNU_IFUNC => SymKind::IFunc,
        _ => SymKind::Other,
    }
}
