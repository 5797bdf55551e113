//! Loading a Wasm module: the checks that refuse a damaged or hostile one
//! in one line, before any engine sees it.

use std::path::{Path, PathBuf};

use wasmparser::{Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};

use crate::wasi;

/// The first bytes of every Wasm module: `\0asm`, then version 1.
pub const MAGIC: [u8; 4] = *b"\0asm";

/// Whether `bytes` begin like a Wasm module (magic and version 1).
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == MAGIC && bytes[4..8] == [1, 0, 0, 0]
}

/// Whether the file at `path` is to be loaded as a Wasm module: it begins
/// with `\0asm`, or its name ends in `.wasm` (so that a damaged one is
/// refused as a bad Wasm module, not as a bad ELF file).
pub fn file_is_wasm(path: &Path) -> bool {
    use std::io::Read;
    if path.extension().is_some_and(|e| e == "wasm") {
        return true;
    }
    // Only a regular file is looked into (a FIFO would block the open,
    // a device could hand out anything); the open does not wait either way.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mut head = [0u8; 4];
    std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == MAGIC)
}

/// The largest linear memory a module may ask for (at load, and by growing)
/// unless the tapestry says otherwise: 2 GiB, half of what a 32-bit memory
/// can address, so that a module asking for all 4 GiB is refused.
pub const DEFAULT_MAX_MEMORY: u64 = 2 << 30;

/// A Wasm module that passed every load-time check.
#[derive(Clone, Debug)]
pub struct WasmModule {
    pub path: PathBuf,
    /// The module as loaded (before any transform).
    pub bytes: Vec<u8>,
    /// Its exports that are functions, with their type (`params`, `results`
    /// in the `i`/`I`/`f`/`F` letters).
    pub functions: Vec<(String, String, String)>,
    /// Its imports `(module, name)`.
    pub imports: Vec<(String, String)>,
    /// Function names from the `name` section, by function index.
    pub names: Vec<(u32, String)>,
    /// Number of imported functions (they come first in the index space).
    pub imported_functions: u32,
    /// Whether it imports `weaves.wv_reconfig_point` (its strings can then
    /// be captured at those calls).
    pub reconfigurable: bool,
    /// Initial linear memory in bytes (0 without one).
    pub initial_memory: u64,
    /// Imports neither WASI nor the runtime serves, which only a weave's
    /// bindings can satisfy (loaded with [`WasmModule::from_bytes_linked`]).
    pub foreign: Vec<Foreign>,
    /// Its exported memories: name and initial size in bytes.
    pub memories: Vec<(String, u64)>,
}

/// An import that a binding through the weave must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub module: String,
    pub name: String,
    pub kind: ForeignKind,
}

/// What a [`Foreign`] import is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForeignKind {
    /// A function, its type in the `i`/`I`/`f`/`F` letters.
    Func { params: String, results: String },
    /// A linear memory of at least this many bytes.
    Memory { min: u64 },
}

/// Why a Wasm module was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a WebAssembly module (bad magic: {found})")]
    BadMagic { path: String, found: String },
    #[error("{path}: invalid WebAssembly at byte offset {offset:#x}: {message}")]
    Invalid {
        path: String,
        offset: usize,
        message: String,
    },
    #[error(
        "{path}: asks for {asked} bytes of linear memory, more than the limit of {limit} bytes"
    )]
    Memory {
        path: String,
        asked: u128,
        limit: u64,
    },
    #[error("{path}: imports `{module}.{name}`, which the weave lacks")]
    Missing {
        path: String,
        module: String,
        name: String,
    },
    #[error("{path}: import `{module}.{name}` has type {found}, but the runtime's has {expected}")]
    Signature {
        path: String,
        module: String,
        name: String,
        found: String,
        expected: String,
    },
    #[error("{path}: not supported: {what}")]
    NotSupported { path: String, what: String },
}

/// The runtime's own calls a Wasm module may import from module `weaves`.
pub(crate) const WEAVES_CALLS: &[(&str, &str, &str)] = &[
    ("wv_reconfig_point", "i", ""),
    ("wv_yield", "", ""),
    ("wv_engine", "", "i"),
];

fn letters(types: &[ValType]) -> String {
    types
        .iter()
        .map(|t| match t {
            ValType::I32 => 'i',
            ValType::I64 => 'I',
            ValType::F32 => 'f',
            ValType::F64 => 'F',
            _ => '?',
        })
        .collect()
}

pub(crate) fn show(params: &str, results: &str) -> String {
    let l = |s: &str| {
        s.chars()
            .map(|c| match c {
                'i' => "i32",
                'I' => "i64",
                'f' => "f32",
                'F' => "f64",
                _ => "ref",
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", l(params), l(results))
}

impl WasmModule {
    /// Reads and checks the module at `path`; `max_memory` bounds the
    /// linear memory it may ask for.
    pub fn load(path: &Path, max_memory: u64) -> Result<WasmModule, LoadError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: shown.clone(),
            source,
        })?;
        WasmModule::from_bytes(path, bytes, max_memory)
    }

    /// [`WasmModule::load`] on bytes already read.
    pub fn from_bytes(
        path: &Path,
        bytes: Vec<u8>,
        max_memory: u64,
    ) -> Result<WasmModule, LoadError> {
        WasmModule::from_bytes_as(path, bytes, max_memory, false)
    }

    /// [`WasmModule::from_bytes`] for a module whose beads a weave binds:
    /// function and memory imports neither WASI nor the runtime serves are
    /// kept in [`WasmModule::foreign`] for the bindings to satisfy.
    pub fn from_bytes_linked(
        path: &Path,
        bytes: Vec<u8>,
        max_memory: u64,
    ) -> Result<WasmModule, LoadError> {
        WasmModule::from_bytes_as(path, bytes, max_memory, true)
    }

    fn from_bytes_as(
        path: &Path,
        bytes: Vec<u8>,
        max_memory: u64,
        linked: bool,
    ) -> Result<WasmModule, LoadError> {
        let shown = path.display().to_string();
        if !is_wasm(&bytes) {
            let found = bytes
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(LoadError::BadMagic {
                path: shown,
                found: if found.is_empty() {
                    "empty file".into()
                } else {
                    found
                },
            });
        }
        // Memory sizes first: a hostile request is named as such, not as
        // whatever the validator thinks of it.
        let mut m = WasmModule {
            path: path.to_owned(),
            bytes: Vec::new(),
            functions: Vec::new(),
            imports: Vec::new(),
            names: Vec::new(),
            imported_functions: 0,
            reconfigurable: false,
            initial_memory: 0,
            foreign: Vec::new(),
            memories: Vec::new(),
        };
        let invalid = |e: wasmparser::BinaryReaderError| LoadError::Invalid {
            path: shown.clone(),
            offset: e.offset(),
            message: e.message().to_owned(),
        };
        let mut types: Vec<(String, String)> = Vec::new();
        let mut func_types: Vec<u32> = Vec::new();
        let mut imports: Vec<(String, String, TypeRef)> = Vec::new();
        let mut exports: Vec<(String, u32)> = Vec::new();
        let mut memory_exports: Vec<(String, u32)> = Vec::new();
        let mut memory_sizes: Vec<u64> = Vec::new();
        for payload in Parser::new(0).parse_all(&bytes) {
            match payload.map_err(invalid)? {
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        let f = ty.map_err(invalid)?;
                        types.push((letters(f.params()), letters(f.results())));
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp.map_err(invalid)?;
                        if let TypeRef::Func(t) = imp.ty {
                            func_types.push(t);
                        }
                        if let TypeRef::Memory(mt) = imp.ty {
                            check_memory(&shown, mt.initial, mt.page_size_log2, max_memory)?;
                            memory_sizes.push(
                                mt.initial
                                    .saturating_mul(1 << mt.page_size_log2.unwrap_or(16)),
                            );
                        }
                        imports.push((imp.module.to_owned(), imp.name.to_owned(), imp.ty));
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        func_types.push(t.map_err(invalid)?);
                    }
                }
                Payload::MemorySection(r) => {
                    for mt in r {
                        let mt = mt.map_err(invalid)?;
                        check_memory(&shown, mt.initial, mt.page_size_log2, max_memory)?;
                        m.initial_memory = mt
                            .initial
                            .saturating_mul(1 << mt.page_size_log2.unwrap_or(16));
                        memory_sizes.push(m.initial_memory);
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.map_err(invalid)?;
                        match e.kind {
                            wasmparser::ExternalKind::Func => {
                                exports.push((e.name.to_owned(), e.index))
                            }
                            wasmparser::ExternalKind::Memory => {
                                memory_exports.push((e.name.to_owned(), e.index))
                            }
                            _ => {}
                        }
                    }
                }
                Payload::CustomSection(c) => {
                    if let wasmparser::KnownCustom::Name(names) = c.as_known() {
                        for n in names.into_iter().flatten() {
                            if let wasmparser::Name::Function(map) = n {
                                m.names.extend(
                                    map.into_iter()
                                        .flatten()
                                        .map(|n| (n.index, n.name.to_owned())),
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let mut validator = Validator::new_with_features(WasmFeatures::default());
        validator.validate_all(&bytes).map_err(invalid)?;

        m.imported_functions = imports
            .iter()
            .filter(|i| matches!(i.2, TypeRef::Func(_)))
            .count() as u32;
        for (module, name, ty) in &imports {
            let runtime = module == "wasi_snapshot_preview1" || module == "weaves";
            if linked && !runtime {
                let kind = match ty {
                    TypeRef::Func(t) => {
                        let (params, results) = types.get(*t as usize).cloned().unwrap_or_default();
                        Some(ForeignKind::Func { params, results })
                    }
                    TypeRef::Memory(mt) => Some(ForeignKind::Memory {
                        min: mt
                            .initial
                            .saturating_mul(1 << mt.page_size_log2.unwrap_or(16)),
                    }),
                    _ => None,
                };
                if let Some(kind) = kind {
                    m.foreign.push(Foreign {
                        module: module.clone(),
                        name: name.clone(),
                        kind,
                    });
                    m.imports.push((module.clone(), name.clone()));
                    continue;
                }
            }
            let TypeRef::Func(t) = ty else {
                return Err(LoadError::NotSupported {
                    path: shown,
                    what: format!("import `{module}.{name}` is not a function (imported tables and globals are not supported yet; a memory only through a weave's binding)"),
                });
            };
            let (params, results) = types.get(*t as usize).cloned().unwrap_or_default();
            let known = match module.as_str() {
                "wasi_snapshot_preview1" => Some(wasi::CALLS.iter().find(|c| c.0 == name)),
                "weaves" => WEAVES_CALLS.iter().find(|c| c.0 == name).map(Some),
                _ => None,
            };
            match known {
                None => {
                    return Err(LoadError::Missing {
                        path: shown,
                        module: module.clone(),
                        name: name.clone(),
                    });
                }
                Some(Some(&(_, p, r))) if p != params || r != results => {
                    return Err(LoadError::Signature {
                        path: shown,
                        module: module.clone(),
                        name: name.clone(),
                        found: show(&params, &results),
                        expected: show(p, r),
                    });
                }
                // Known, or a WASI call outside the subset: that one
                // fails when called.
                Some(_) => {}
            }
            if module == "weaves" && name == "wv_reconfig_point" {
                m.reconfigurable = true;
            }
            m.imports.push((module.clone(), name.clone()));
        }
        for (name, index) in exports {
            let (params, results) = func_types
                .get(index as usize)
                .and_then(|&t| types.get(t as usize))
                .cloned()
                .unwrap_or_default();
            m.functions.push((name, params, results));
        }
        for (name, index) in memory_exports {
            let size = memory_sizes.get(index as usize).copied().unwrap_or(0);
            m.memories.push((name, size));
        }
        m.bytes = bytes;
        Ok(m)
    }

    /// The name of function `index` from the `name` section, if it has one.
    pub fn function_name(&self, index: u32) -> Option<&str> {
        self.names
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, n)| n.as_str())
    }

    /// Checks that `name` is an exported function a string can start at:
    /// no parameters, and no result or one i32 (the exit status).
    pub fn check_entry(&self, name: &str) -> Result<(), String> {
        match self.functions.iter().find(|f| f.0 == name) {
            None => Err(format!(
                "{} exports no function `{name}` (it exports: {})",
                self.path.display(),
                self.functions.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", ")
            )),
            Some((_, p, r)) if p.is_empty() && (r.is_empty() || r == "i") => Ok(()),
            Some((_, p, r)) => Err(format!(
                "{}: function `{name}` has type {}; a string can start only at a function without parameters returning nothing or an i32",
                self.path.display(),
                show(p, r)
            )),
        }
    }
}

fn check_memory(
    path: &str,
    pages: u64,
    page_log2: Option<u32>,
    limit: u64,
) -> Result<(), LoadError> {
    let asked = (pages as u128) << page_log2.unwrap_or(16);
    if asked > limit as u128 {
        return Err(LoadError::Memory {
            path: path.to_owned(),
            asked,
            limit,
        });
    }
    Ok(())
}
