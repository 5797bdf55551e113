//! Parsing a module file once: everything its beads will need.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::abi;
use object::elf::{Dyn64, FileHeader64, ProgramHeader64, Rela64, Sym64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{LittleEndian as LE, Pod};

use crate::error::LoadError;
use crate::reloc::{self, Reloc};
use crate::symbols::{kind_of, SymKind, Symbol};

/// Largest image a module may span (data included): far beyond any real
/// module, small enough that address arithmetic cannot overflow.
const MAX_IMAGE_SPAN: u64 = 1 << 40;
/// Cap on version definition/requirement entries walked (a crafted file
/// could otherwise chain them in a loop).
const MAX_VERSION_ENTRIES: u64 = 1 << 16;
/// Largest segment alignment accepted (real modules use 4 KiB to 2 MiB).
const MAX_SEGMENT_ALIGN: u64 = 1 << 30;

/// Shared object or position-independent executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    SharedObject,
    PieExecutable,
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub flags: u32,
}

/// The module's `PT_TLS` template: per-string TLS blocks are copies of it.
#[derive(Clone, Copy, Debug)]
pub struct TlsTemplate {
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// A parsed module. Immutable; shared by all its beads.
pub struct Module {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) kind: ModuleKind,
    pub(crate) segments: Vec<Segment>,
    /// Page-rounded size of the image from vaddr 0.
    pub(crate) span: u64,
    pub(crate) align: u64,
    pub(crate) phdrs: Vec<ProgramHeader64<LE>>,
    pub(crate) symbols: Vec<Symbol>,
    exports: HashMap<String, Vec<u32>>,
    static_functions: HashMap<String, u64>,
    /// Functions by address (start, size, name), sorted: for naming code
    /// addresses in backtraces and diagnostics.
    functions_by_address: Vec<(u64, u64, String)>,
    /// Variables in writable memory, sorted by address (see
    /// [`Module::data_objects`]).
    data_objects: Vec<DataObject>,
    pub(crate) relocs: Vec<Reloc>,
    pub(crate) relr: Vec<u64>,
    needed: Vec<String>,
    runpath: Vec<String>,
    soname: Option<String>,
    pub(crate) init: Option<u64>,
    pub(crate) init_array: (u64, u64),
    pub(crate) preinit_array: (u64, u64),
    pub(crate) fini: Option<u64>,
    pub(crate) fini_array: (u64, u64),
    tls: Option<TlsTemplate>,
    /// A PIE whose own thread-locals are reached through `%gs` (see
    /// `local_exec`): its strings need `%gs` pointing at their block.
    local_exec: bool,
    build_id: Option<Vec<u8>>,
    imports: Vec<u32>,
    copy_imports: Vec<u32>,
    data_bytes: u64,
}

struct Parser<'a> {
    path: &'a Path,
    data: &'a [u8],
    segments: Vec<Segment>,
}

impl<'a> Parser<'a> {
    fn malformed(&self, what: impl Into<String>) -> LoadError {
        LoadError::Malformed {
            path: self.path.to_owned(),
            what: what.into(),
        }
    }

    /// The file bytes backing `[vaddr, vaddr+len)`.
    fn at(&self, vaddr: u64, len: u64, what: &str) -> Result<&'a [u8], LoadError> {
        for s in &self.segments {
            if vaddr >= s.vaddr && vaddr.saturating_add(len) <= s.vaddr.saturating_add(s.filesz) {
                let off = (s.offset + (vaddr - s.vaddr)) as usize;
                return self.data.get(off..off + len as usize).ok_or_else(|| {
                    self.malformed(format!("{what} lies past the end of the file"))
                });
            }
        }
        Err(self.malformed(format!(
            "{what} at {vaddr:#x} (+{len:#x}) is outside every loadable segment"
        )))
    }

    fn slice<T: Pod>(&self, vaddr: u64, count: u64, what: &str) -> Result<&'a [T], LoadError> {
        let bytes = self.at(
            vaddr,
            count.saturating_mul(std::mem::size_of::<T>() as u64),
            what,
        )?;
        object::pod::slice_from_bytes(bytes, count as usize)
            .map(|(s, _)| s)
            .map_err(|_| self.malformed(format!("{what} is misaligned or truncated")))
    }

    fn cstr(&self, strtab: &'a [u8], off: u32) -> Result<&'a str, LoadError> {
        let tail = strtab
            .get(off as usize..)
            .ok_or_else(|| self.malformed("string table offset out of range"))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.malformed("unterminated string"))?;
        std::str::from_utf8(&tail[..end]).map_err(|_| self.malformed("symbol name is not UTF-8"))
    }
}

impl Parser<'_> {
    /// Version name of every dynamic symbol (from `DT_VERSYM`, resolved through
    /// `DT_VERDEF` for definitions and `DT_VERNEED` for requirements), and
    /// whether it is a non-default (hidden) version.
    fn versions(
        &self,
        get: &dyn Fn(i64) -> Option<u64>,
        nsyms: usize,
        strtab: &[u8],
    ) -> Result<Vec<(Option<String>, bool)>, LoadError> {
        let Some(versym) = get(abi::DT_VERSYM) else {
            return Ok(Vec::new());
        };
        let idx = self.at(versym, (nsyms as u64).saturating_mul(2), "DT_VERSYM")?;
        let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut names: HashMap<u16, String> = HashMap::new();
        if let (Some(mut at), Some(n)) = (get(abi::DT_VERDEF), get(abi::DT_VERDEFNUM)) {
            for _ in 0..n.min(MAX_VERSION_ENTRIES) {
                let vd = self.at(at, 20, "version definition")?;
                let aux = self.at(at + u64::from(u32_at(vd, 12)), 8, "version definition name")?;
                names.insert(u16_at(vd, 4), self.cstr(strtab, u32_at(aux, 0))?.to_owned());
                match u32_at(vd, 16) {
                    0 => break,
                    next => at += u64::from(next),
                }
            }
        }
        if let (Some(mut at), Some(n)) = (get(abi::DT_VERNEED), get(abi::DT_VERNEEDNUM)) {
            for _ in 0..n.min(MAX_VERSION_ENTRIES) {
                let vn = self.at(at, 16, "version requirement")?;
                let mut aux_at = at + u64::from(u32_at(vn, 8));
                for _ in 0..u16_at(vn, 2) {
                    let aux = self.at(aux_at, 16, "version requirement entry")?;
                    names.insert(
                        u16_at(aux, 6),
                        self.cstr(strtab, u32_at(aux, 8))?.to_owned(),
                    );
                    match u32_at(aux, 12) {
                        0 => break,
                        next => aux_at += u64::from(next),
                    }
                }
                match u32_at(vn, 12) {
                    0 => break,
                    next => at += u64::from(next),
                }
            }
        }
        Ok((0..nsyms)
            .map(|i| {
                let v = u16_at(idx, i * 2);
                let index = v & 0x7fff;
                let name = if index >= 2 {
                    names.get(&index).cloned()
                } else {
                    None
                };
                (name, v & 0x8000 != 0)
            })
            .collect())
    }
}

/// Refuses anything but a regular file, naming what it is.
fn refuse_unless_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), LoadError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(LoadError::NotRegularFile {
        path: path.to_owned(),
        kind,
    })
}

fn machine_name(m: u16) -> &'static str {
    match m {
        abi::EM_386 => "x86 (32-bit)",
        abi::EM_ARM => "ARM",
        abi::EM_AARCH64 => "AArch64",
        abi::EM_RISCV => "RISC-V",
        abi::EM_PPC => "PowerPC",
        abi::EM_PPC64 => "PowerPC64",
        abi::EM_S390 => "s390",
        abi::EM_MIPS => "MIPS",
        abi::EM_LOONGARCH => "LoongArch",
        _ => "unknown",
    }
}

impl Module {
    /// Reads and validates the module at `path`.
    ///
    /// Only a regular file is opened for reading: a directory, FIFO, device
    /// or socket is refused from its `stat` (opening a FIFO would wait for a
    /// writer; `/dev/zero` never ends). The file is then mapped, not read:
    /// the parser touches the header first and afterwards only what the
    /// headers point at, so a large file that is not ELF is refused after
    /// its first page, whatever its size.
    pub fn load(path: &Path) -> Result<Module, LoadError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        refuse_unless_regular(path, &std::fs::metadata(path).map_err(io)?)?;
        // O_NONBLOCK: should the path have become a FIFO since the stat,
        // the open returns at once instead of waiting for a writer.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        refuse_unless_regular(path, &meta)?;
        let mapped = crate::sys::MappedFile::new(&file, meta.len()).map_err(io)?;
        Module::parse(path, mapped.bytes(), file)
    }

    /// Parses module bytes already in memory, as [`Module::load`] parses a
    /// file's (for fuzzing the parser). The result has no file behind it: it
    /// can be inspected, but a bead of it maps `/dev/null`.
    #[doc(hidden)]
    pub fn parse_bytes(path: &Path, data: &[u8]) -> Result<Module, LoadError> {
        let file = File::open("/dev/null").map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Module::parse(path, data, file)
    }

    fn parse(path: &Path, data: &[u8], file: File) -> Result<Module, LoadError> {
        let p = path.to_owned();
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            return Err(LoadError::NotElf { path: p });
        }
        if data.len() < 20 {
            return Err(LoadError::Malformed {
                path: p,
                what: "truncated ELF header".into(),
            });
        }
        if data[4] != abi::ELFCLASS64 || data[5] != abi::ELFDATA2LSB {
            let machine = u16::from_le_bytes([data[18], data[19]]);
            let machine = if data[5] == abi::ELFDATA2MSB {
                u16::from_be_bytes([data[18], data[19]])
            } else {
                machine
            };
            return Err(LoadError::WrongMachine {
                path: p,
                machine,
                name: machine_name(machine),
            });
        }
        let machine = u16::from_le_bytes([data[18], data[19]]);
        if machine != abi::EM_X86_64 {
            return Err(LoadError::WrongMachine {
                path: p,
                machine,
                name: machine_name(machine),
            });
        }
        let header = FileHeader64::<LE>::parse(data).map_err(|e| LoadError::Malformed {
            path: p.clone(),
            what: e.to_string(),
        })?;
        let e = LE;
        match header.e_type(e).0 {
            abi::ET_DYN => {}
            abi::ET_EXEC => {
                return Err(LoadError::Unsupported {
                    path: p,
                    what: "non-PIE executable (ET_EXEC) can only live at one fixed address; rebuild it with -fPIE -pie".into(),
                })
            }
            abi::ET_REL => {
                return Err(LoadError::Unsupported {
                    path: p,
                    what: "relocatable object file; link it with -shared (or as a PIE) first".into(),
                })
            }
            t => return Err(LoadError::Malformed { path: p, what: format!("unexpected ELF type {t}") }),
        }
        let phdrs: Vec<ProgramHeader64<LE>> = header
            .program_headers(e, data)
            .map_err(|err| LoadError::Malformed {
                path: p.clone(),
                what: err.to_string(),
            })?
            .to_vec();

        let mut segments = Vec::new();
        let mut dynamic = None;
        let mut tls = None;
        let mut interp = false;
        let mut notes = Vec::new();
        let mut align = 0x1000u64;
        for ph in &phdrs {
            match ph.p_type(e).0 {
                abi::PT_LOAD => {
                    let s = Segment {
                        vaddr: ph.p_vaddr(e),
                        memsz: ph.p_memsz(e),
                        offset: ph.p_offset(e),
                        filesz: ph.p_filesz(e),
                        flags: ph.p_flags(e).0,
                    };
                    if s.filesz > s.memsz
                        || s.offset
                            .checked_add(s.filesz)
                            .is_none_or(|end| end > data.len() as u64)
                    {
                        return Err(LoadError::Malformed {
                            path: p,
                            what: format!(
                                "segment at {:#x} extends past the end of the file (truncated?)",
                                s.vaddr
                            ),
                        });
                    }
                    if s.vaddr % 0x1000 != s.offset % 0x1000 {
                        return Err(LoadError::Malformed {
                            path: p,
                            what: "segment offset and address disagree modulo the page size".into(),
                        });
                    }
                    let a = ph.p_align(e);
                    if a > 1 && (!a.is_power_of_two() || a > MAX_SEGMENT_ALIGN) {
                        return Err(LoadError::Malformed {
                            path: p,
                            what: format!("segment alignment {a:#x} is not a power of two up to {MAX_SEGMENT_ALIGN:#x}"),
                        });
                    }
                    align = align.max(a);
                    segments.push(s);
                }
                abi::PT_DYNAMIC => dynamic = Some((ph.p_offset(e), ph.p_filesz(e))),
                abi::PT_TLS => {
                    tls = Some(TlsTemplate {
                        vaddr: ph.p_vaddr(e),
                        filesz: ph.p_filesz(e),
                        memsz: ph.p_memsz(e),
                        align: ph.p_align(e).max(1),
                    })
                }
                abi::PT_INTERP => interp = true,
                abi::PT_NOTE => notes.push((ph.p_offset(e), ph.p_filesz(e))),
                _ => {}
            }
        }
        if segments.is_empty() {
            return Err(LoadError::Malformed {
                path: p,
                what: "no loadable segments".into(),
            });
        }
        let mut span = 0u64;
        for s in &segments {
            let end = s
                .vaddr
                .checked_add(s.memsz)
                .filter(|&e| e <= MAX_IMAGE_SPAN)
                .ok_or_else(|| LoadError::Malformed {
                    path: p.clone(),
                    what: format!(
                        "segment at {:#x} is impossibly large ({:#x} bytes)",
                        s.vaddr, s.memsz
                    ),
                })?;
            span = span.max(end);
        }
        let span = (span + 0xfff) & !0xfff;
        let parser = Parser {
            path,
            data,
            segments: segments.clone(),
        };

        let Some((dyn_off, dyn_size)) = dynamic else {
            return Err(LoadError::Unsupported {
                path: p,
                what: "statically linked (no dynamic section)".into(),
            });
        };
        let dyn_bytes = data
            .get(dyn_off as usize..dyn_off.saturating_add(dyn_size) as usize)
            .ok_or_else(|| parser.malformed("dynamic section lies past the end of the file"))?;
        let (dyns, _) = object::pod::slice_from_bytes::<Dyn64<LE>>(dyn_bytes, dyn_bytes.len() / 16)
            .map_err(|_| parser.malformed("dynamic section is misaligned"))?;

        let mut d: HashMap<i64, u64> = HashMap::new();
        let mut needed_off = Vec::new();
        let mut runpath_off = Vec::new();
        for dy in dyns {
            let tag = dy.d_tag.get(e).0;
            let val = dy.d_val.get(e);
            match tag {
                abi::DT_NULL => break,
                abi::DT_NEEDED => needed_off.push(val),
                abi::DT_RUNPATH | abi::DT_RPATH => runpath_off.push(val),
                _ => {
                    d.insert(tag, val);
                }
            }
        }
        let get = |t: i64| d.get(&t).copied();
        if get(abi::DT_TEXTREL).is_some() || get(abi::DT_FLAGS).unwrap_or(0) & abi::DF_TEXTREL != 0
        {
            return Err(LoadError::Unsupported {
                path: p,
                what: "text relocations (code not compiled with -fPIC); rebuild with -fPIC".into(),
            });
        }
        if get(abi::DT_REL).is_some() {
            return Err(LoadError::Unsupported {
                path: p,
                what: "REL relocations (x86-64 modules use RELA)".into(),
            });
        }
        let is_pie = interp || get(abi::DT_FLAGS_1).unwrap_or(0) & abi::DF_1_PIE != 0;
        if get(abi::DT_FLAGS).unwrap_or(0) & abi::DF_STATIC_TLS != 0 {
            return Err(LoadError::Unsupported {
                path: p,
                what: "static TLS (DF_STATIC_TLS: initial-exec thread-locals need a slot in the thread's static TLS block, which a bead cannot have); rebuild with -ftls-model=global-dynamic".into(),
            });
        }

        let strtab_addr = get(abi::DT_STRTAB).ok_or_else(|| parser.malformed("no DT_STRTAB"))?;
        let strsz = get(abi::DT_STRSZ).ok_or_else(|| parser.malformed("no DT_STRSZ"))?;
        let strtab = parser.at(strtab_addr, strsz, "dynamic string table")?;
        let needed = needed_off
            .iter()
            .map(|&o| parser.cstr(strtab, o as u32).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let origin = path
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let mut runpath = Vec::new();
        for &o in &runpath_off {
            for dir in parser
                .cstr(strtab, o as u32)?
                .split(':')
                .filter(|s| !s.is_empty())
            {
                runpath.push(
                    dir.replace("${ORIGIN}", &origin)
                        .replace("$ORIGIN", &origin),
                );
            }
        }
        let soname = match get(abi::DT_SONAME) {
            Some(o) => Some(parser.cstr(strtab, o as u32)?.to_owned()),
            None => None,
        };

        // Symbols.
        let symtab_addr = get(abi::DT_SYMTAB).ok_or_else(|| parser.malformed("no DT_SYMTAB"))?;
        let nsyms = count_symbols(&parser, header, &get)?;
        let raw_syms: &[Sym64<LE>] = parser.slice(symtab_addr, nsyms, "dynamic symbol table")?;
        let versions = parser.versions(&get, nsyms as usize, strtab)?;
        let mut symbols = Vec::with_capacity(raw_syms.len());
        for (i, s) in raw_syms.iter().enumerate() {
            let (version, hidden) = versions.get(i).cloned().unwrap_or((None, false));
            let st_info = s.st_info.0;
            let st_other = s.st_other.0;
            symbols.push(Symbol {
                name: parser.cstr(strtab, s.st_name.get(e))?.to_owned(),
                version,
                non_default_version: hidden,
                value: s.st_value.get(e),
                size: s.st_size.get(e),
                kind: kind_of(st_info & 0xf),
                weak: st_info >> 4 == abi::STB_WEAK,
                local: st_info >> 4 == abi::STB_LOCAL,
                defined: s.st_shndx.get(e).0 != abi::SHN_UNDEF,
                absolute: s.st_shndx.get(e).0 == abi::SHN_ABS,
                exported: st_other & 0x3 == abi::STV_DEFAULT
                    || st_other & 0x3 == abi::STV_PROTECTED,
            });
        }
        for sym in &symbols {
            let absolute = sym.absolute
                || sym.value == 0
                || sym.kind == SymKind::Tls
                || sym.kind == SymKind::Other;
            if sym.defined && !absolute && sym.value.checked_add(sym.size).is_none_or(|e| e > span)
            {
                return Err(parser.malformed(format!(
                    "symbol `{}` lies outside the image ({:#x})",
                    sym.name, sym.value
                )));
            }
        }
        let within_image = |vaddr: u64, len: u64| vaddr.checked_add(len).is_some_and(|e| e <= span);
        for (what, tag, size_tag) in [
            ("DT_INIT_ARRAY", abi::DT_INIT_ARRAY, abi::DT_INIT_ARRAYSZ),
            ("DT_FINI_ARRAY", abi::DT_FINI_ARRAY, abi::DT_FINI_ARRAYSZ),
            (
                "DT_PREINIT_ARRAY",
                abi::DT_PREINIT_ARRAY,
                abi::DT_PREINIT_ARRAYSZ,
            ),
        ] {
            if let Some(a) = get(tag) {
                if !within_image(a, get(size_tag).unwrap_or(0)) {
                    return Err(parser.malformed(format!("{what} lies outside the image")));
                }
            }
        }
        let executable = |vaddr: u64| {
            segments
                .iter()
                .any(|s| s.flags & abi::PF_X != 0 && vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz)
        };
        for (what, tag) in [("DT_INIT", abi::DT_INIT), ("DT_FINI", abi::DT_FINI)] {
            if get(tag).is_some_and(|a| !executable(a)) {
                return Err(parser.malformed(format!("{what} is not in an executable segment")));
            }
        }
        if let Some(t) = tls {
            let in_file = segments.iter().any(|s| {
                t.vaddr >= s.vaddr
                    && t.vaddr
                        .checked_add(t.filesz)
                        .is_some_and(|e| e <= s.vaddr + s.filesz)
            });
            if t.filesz > t.memsz
                || !in_file
                || !t.align.is_power_of_two()
                || t.memsz > MAX_IMAGE_SPAN
            {
                return Err(parser.malformed("PT_TLS template lies outside the file's loaded data"));
            }
        }

        let mut exports: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, s) in symbols.iter().enumerate() {
            if s.defined && !s.local && s.exported && !s.name.is_empty() {
                exports.entry(s.name.clone()).or_default().push(i as u32);
            }
        }

        // Relocations.
        let mut relocs = Vec::new();
        let mut read_rela =
            |addr: Option<u64>, size: Option<u64>, what: &str| -> Result<(), LoadError> {
                if let (Some(addr), Some(size)) = (addr, size) {
                    let rs: &[Rela64<LE>] = parser.slice(addr, size / 24, what)?;
                    for r in rs {
                        let info = r.r_info.get(e);
                        relocs.push(Reloc {
                            offset: r.r_offset.get(e),
                            kind: (info & 0xffff_ffff) as u32,
                            sym: (info >> 32) as u32,
                            addend: r.r_addend.get(e),
                        });
                    }
                }
                Ok(())
            };
        read_rela(
            get(abi::DT_RELA),
            get(abi::DT_RELASZ),
            "RELA relocation table",
        )?;
        if get(abi::DT_JMPREL).is_some()
            && get(abi::DT_PLTREL).is_some_and(|t| t != abi::DT_RELA as u64)
        {
            return Err(LoadError::Unsupported {
                path: p,
                what: "PLT relocations of type REL".into(),
            });
        }
        read_rela(
            get(abi::DT_JMPREL),
            get(abi::DT_PLTRELSZ),
            "PLT relocation table",
        )?;
        let relr = match (get(abi::DT_RELR), get(abi::DT_RELRSZ)) {
            (Some(addr), Some(size)) => {
                reloc::decode_relr(parser.slice::<object::U64<LE>>(addr, size / 8, "RELR table")?)
                    .ok_or_else(|| {
                    parser.malformed("RELR table runs past the end of the address space")
                })?
            }
            _ => Vec::new(),
        };
        let writable = |offset: u64, len: u64| {
            segments.iter().any(|s| {
                s.flags & abi::PF_W != 0
                    && offset >= s.vaddr
                    && offset
                        .checked_add(len)
                        .is_some_and(|e| e <= s.vaddr + s.memsz)
            })
        };
        for &off in &relr {
            if !writable(off, 8) {
                return Err(parser.malformed(format!(
                    "RELR relocation at {off:#x} is outside every writable segment"
                )));
            }
        }
        for r in &relocs {
            let len = match r.kind {
                abi::R_X86_64_NONE => 0,
                abi::R_X86_64_TLSDESC => 16,
                abi::R_X86_64_COPY => symbols.get(r.sym as usize).map_or(0, |s| s.size),
                _ => 8,
            };
            if len > 0 && !writable(r.offset, len) {
                return Err(parser.malformed(format!(
                    "relocation {} at {:#x} (+{len} bytes) is outside every writable segment",
                    reloc::kind_name(r.kind),
                    r.offset
                )));
            }
            if r.sym as usize >= symbols.len() {
                return Err(parser.malformed(format!(
                    "relocation at {:#x} names symbol {} of {}",
                    r.offset,
                    r.sym,
                    symbols.len()
                )));
            }
            reloc::check_supported(path, r, &symbols)?;
        }

        // What the binder must resolve: undefined symbols referenced by
        // relocations, plus the sources of COPY relocations (defined in this
        // module, copied from elsewhere).
        let mut imports = Vec::new();
        let mut copy_imports = Vec::new();
        let mut seen = vec![false; symbols.len()];
        for r in &relocs {
            let s = &symbols[r.sym as usize];
            if r.sym == 0 || seen[r.sym as usize] {
                continue;
            }
            if r.kind == abi::R_X86_64_COPY {
                seen[r.sym as usize] = true;
                copy_imports.push(r.sym);
            } else if !s.defined {
                seen[r.sym as usize] = true;
                imports.push(r.sym);
            }
        }

        let (static_functions, mut functions_by_address) = read_static_functions(header, data);
        for sym in symbols
            .iter()
            .filter(|s| s.defined && s.kind == SymKind::Func && s.value != 0)
        {
            functions_by_address.push((sym.value, sym.size, sym.name.clone()));
        }
        functions_by_address.sort_unstable();
        functions_by_address.dedup_by_key(|f| f.0);
        let data_objects = read_data_objects(header, data, &symbols, &segments);
        let build_id = read_build_id(data, &notes);
        let data_bytes = segments
            .iter()
            .filter(|s| s.flags & abi::PF_W != 0)
            .map(|s| s.memsz)
            .sum();
        let pair = |a: i64, sz: i64| (get(a).unwrap_or(0), get(sz).unwrap_or(0) / 8);
        let local_exec = is_pie && tls.is_some_and(|t| t.memsz > 0);
        let file = if local_exec {
            crate::local_exec::rewritten_image(path, data, &segments, &relocs).map_err(|what| {
                LoadError::Unsupported {
                    path: p.clone(),
                    what,
                }
            })?
        } else {
            file
        };

        Ok(Module {
            path: p,
            file,
            kind: if is_pie {
                ModuleKind::PieExecutable
            } else {
                ModuleKind::SharedObject
            },
            segments,
            span,
            align,
            phdrs,
            symbols,
            exports,
            static_functions,
            functions_by_address,
            data_objects,
            relocs,
            relr,
            needed,
            runpath,
            soname,
            init: get(abi::DT_INIT),
            init_array: pair(abi::DT_INIT_ARRAY, abi::DT_INIT_ARRAYSZ),
            preinit_array: pair(abi::DT_PREINIT_ARRAY, abi::DT_PREINIT_ARRAYSZ),
            fini: get(abi::DT_FINI),
            fini_array: pair(abi::DT_FINI_ARRAY, abi::DT_FINI_ARRAYSZ),
            tls,
            local_exec,
            build_id,
            imports,
            copy_imports,
            data_bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn kind(&self) -> ModuleKind {
        self.kind
    }
    /// `DT_NEEDED` entries, in order.
    pub fn needed(&self) -> &[String] {
        &self.needed
    }
    /// `DT_RUNPATH`/`DT_RPATH` directories with `$ORIGIN` expanded.
    pub fn runpath(&self) -> &[String] {
        &self.runpath
    }
    pub fn soname(&self) -> Option<&str> {
        self.soname.as_deref()
    }
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }
    pub fn symbol(&self, index: u32) -> &Symbol {
        &self.symbols[index as usize]
    }
    /// Undefined symbols that relocations reference: the binder resolves these.
    pub fn imports(&self) -> &[u32] {
        &self.imports
    }
    /// Symbols this module defines but whose initial contents come from
    /// another module (COPY relocations of PIE executables).
    pub fn copy_imports(&self) -> &[u32] {
        &self.copy_imports
    }
    /// Whether the module's code reaches symbol `index` through a GOT slot
    /// (or another absolute pointer) that a relocation fills in: only such
    /// variables can be redirected to shared storage.
    pub fn references_through_got(&self, index: u32) -> bool {
        self.relocs
            .iter()
            .any(|r| r.sym == index && matches!(r.kind, abi::R_X86_64_GLOB_DAT | abi::R_X86_64_64))
    }

    pub fn tls(&self) -> Option<TlsTemplate> {
        self.tls
    }
    /// Whether this module's code reaches its thread-locals through `%gs`
    /// (a PIE with local-exec TLS, rewritten at load): a string running its
    /// code needs `%gs` at the end of its TLS block.
    pub fn uses_local_exec_tls(&self) -> bool {
        self.local_exec
    }
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }
    /// Memory mappings one bead of this module makes: one per file-backed
    /// segment, plus one per segment whose zero-filled tail (bss) spills
    /// past its last file page.
    pub fn mappings_per_bead(&self) -> usize {
        let page_up = |x: u64| (x + 0xfff) & !0xfff;
        self.segments
            .iter()
            .map(|s| {
                usize::from(s.filesz > 0)
                    + usize::from(page_up(s.vaddr + s.memsz) > page_up(s.vaddr + s.filesz))
            })
            .sum()
    }

    /// The program headers (as in the file), for `dl_iterate_phdr`.
    pub fn program_headers(&self) -> (*const u8, usize) {
        (self.phdrs.as_ptr().cast(), self.phdrs.len())
    }

    /// Bytes of writable data (data + bss) each bead gets.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }
    /// Size of the address range one bead occupies.
    pub fn image_span(&self) -> u64 {
        self.span
    }

    /// The exported definition of `name` that a lookup for `version` finds:
    /// the default version when `version` is `None`.
    pub fn find_export(&self, name: &str, version: Option<&str>) -> Option<u32> {
        let candidates = self.exports.get(name)?;
        let pick = |want: &dyn Fn(&Symbol) -> bool| {
            candidates
                .iter()
                .copied()
                .find(|&i| want(&self.symbols[i as usize]))
        };
        match version {
            // As glibc: the version asked for, or an unversioned definition.
            Some(v) => pick(&|s| s.version.as_deref() == Some(v))
                .or_else(|| pick(&|s| s.version.is_none())),
            None => pick(&|s| !s.non_default_version),
        }
    }

    /// Address offset (from the bead base) of a function usable as an entry
    /// point: an exported function, or one found in the static symbol table
    /// (a PIE's `main` is usually not exported), or, for a stripped PIE's
    /// `main`, the target `_start` hands to `__libc_start_main`.
    pub fn entry_offset(&self, name: &str) -> Option<u64> {
        if let Some(i) = self.find_export(name, None) {
            let s = &self.symbols[i as usize];
            if matches!(s.kind, SymKind::Func | SymKind::NoType) {
                return Some(s.value);
            }
        }
        if let Some(&v) = self.static_functions.get(name) {
            return Some(v);
        }
        if name == "main" && self.kind == ModuleKind::PieExecutable {
            return self.main_from_start();
        }
        None
    }

    /// The function containing `offset` (from the bead base) and the offset
    /// into it, from the dynamic and (if present) static symbol tables.
    pub fn function_at(&self, offset: u64) -> Option<(&str, u64)> {
        let i = self
            .functions_by_address
            .partition_point(|f| f.0 <= offset)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions_by_address[i];
        let within = offset - start;
        // A zero-sized symbol (assembly) covers up to the next symbol.
        (within < *size || *size == 0).then_some((name.as_str(), within))
    }

    /// The module's variables in writable memory (named objects of the
    /// static symbol table, or of the dynamic one if the file is stripped),
    /// sorted by address: what a hot-swap's state transfer matches by name.
    pub fn data_objects(&self) -> &[DataObject] {
        &self.data_objects
    }

    /// The variable containing `offset` (from the bead base) and the offset
    /// into it.
    pub fn object_at(&self, offset: u64) -> Option<(&DataObject, u64)> {
        let i = self
            .data_objects
            .partition_point(|o| o.offset <= offset)
            .checked_sub(1)?;
        let o = &self.data_objects[i];
        (offset - o.offset < o.size).then_some((o, offset - o.offset))
    }

    /// Every function name usable as an entry (for suggestions in errors).
    pub fn entry_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .exports
            .keys()
            .map(String::as_str)
            .chain(self.static_functions.keys().map(String::as_str))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// glibc's `_start` passes `main` in `%rdi` via `lea main(%rip), %rdi`:
    /// find that instruction in the first bytes of the entry point.
    fn main_from_start(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut head = [0u8; std::mem::size_of::<FileHeader64<LE>>()];
        self.file.read_exact_at(&mut head, 0).ok()?;
        let header = FileHeader64::<LE>::parse(&head[..]).ok()?;
        let entry = header.e_entry(LE);
        let seg = self
            .segments
            .iter()
            .find(|s| entry >= s.vaddr && entry < s.vaddr.saturating_add(s.filesz))?;
        let mut code = [0u8; 64];
        self.file
            .read_exact_at(&mut code, seg.offset.checked_add(entry - seg.vaddr)?)
            .ok()?;
        (0..code.len() - 7).find_map(|i| {
            (code[i..i + 3] == [0x48, 0x8d, 0x3d]).then(|| {
                let disp = i32::from_le_bytes(code[i + 3..i + 7].try_into().ok()?);
                Some((entry as i64 + i as i64 + 7 + i64::from(disp)) as u64)
            })?
        })
    }
}

/// Number of dynamic symbols: from `DT_HASH`'s chain count, or by walking
/// `DT_GNU_HASH` to its last chain.
fn count_symbols(
    parser: &Parser<'_>,
    _h: &FileHeader64<LE>,
    get: &dyn Fn(i64) -> Option<u64>,
) -> Result<u64, LoadError> {
    if let Some(hash) = get(abi::DT_HASH) {
        let words = parser.at(hash, 8, "DT_HASH")?;
        return Ok(u64::from(u32::from_le_bytes(
            words[4..8].try_into().unwrap_or_default(),
        )));
    }
    let gnu =
        get(abi::DT_GNU_HASH).ok_or_else(|| parser.malformed("neither DT_HASH nor DT_GNU_HASH"))?;
    let head = parser.at(gnu, 16, "DT_GNU_HASH")?;
    let word =
        |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap_or_default());
    let (nbuckets, symoffset, bloom_size) = (
        word(head, 0) as u64,
        word(head, 1) as u64,
        word(head, 2) as u64,
    );
    let buckets_at = gnu
        .saturating_add(16)
        .saturating_add(bloom_size.saturating_mul(8));
    let buckets = parser.at(buckets_at, nbuckets.saturating_mul(4), "GNU hash buckets")?;
    let max_bucket = (0..nbuckets as usize)
        .map(|i| word(buckets, i) as u64)
        .max()
        .unwrap_or(0);
    if max_bucket < symoffset {
        return Ok(symoffset);
    }
    let chains_at = buckets_at.saturating_add(nbuckets.saturating_mul(4));
    let mut i = max_bucket;
    loop {
        let c = parser.at(
            chains_at.saturating_add((i - symoffset).saturating_mul(4)),
            4,
            "GNU hash chain",
        )?;
        if word(c, 0) & 1 == 1 {
            return Ok(i + 1);
        }
        i += 1;
    }
}

/// A variable of a module: a named object in a writable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataObject {
    pub name: String,
    /// From the bead base.
    pub offset: u64,
    pub size: u64,
    /// Whether the name is local to one file (`static`): such names may
    /// repeat within a module.
    pub local: bool,
}

/// Named, sized objects lying in writable segments (thread-local ones
/// excluded), sorted by address, one per address.
fn read_data_objects(
    header: &FileHeader64<LE>,
    data: &[u8],
    dynamic: &[Symbol],
    segments: &[Segment],
) -> Vec<DataObject> {
    let writable = |at: u64, size: u64| {
        segments.iter().any(|s| {
            s.flags & abi::PF_W != 0
                && at >= s.vaddr
                && at.saturating_add(size) <= s.vaddr + s.memsz
        })
    };
    let mut out = Vec::new();
    let from_symtab = (|| {
        use object::read::elf::Sym;
        let sections = header.sections(LE, data).ok()?;
        let symtab = sections.symbols(LE, data, object::elf::SHT_SYMTAB).ok()?;
        for s in symtab.iter() {
            if s.st_type().0 != abi::STT_OBJECT || s.st_shndx(LE).0 == abi::SHN_UNDEF {
                continue;
            }
            let (at, size) = (s.st_value(LE), s.st_size(LE));
            let Ok(name) = s.name(LE, symtab.strings()) else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            if size > 0 && writable(at, size) {
                out.push(DataObject {
                    name: name.to_owned(),
                    offset: at,
                    size,
                    local: s.st_bind() == object::elf::STB_LOCAL,
                });
            }
        }
        Some(())
    })();
    if from_symtab.is_none() {
        for s in dynamic
            .iter()
            .filter(|s| s.defined && s.kind == SymKind::Object && s.size > 0)
        {
            if writable(s.value, s.size) {
                out.push(DataObject {
                    name: s.name.clone(),
                    offset: s.value,
                    size: s.size,
                    local: false,
                });
            }
        }
    }
    out.sort_by_key(|a| (a.offset, a.local));
    out.dedup_by_key(|o| o.offset);
    out
}

type FunctionTables = (HashMap<String, u64>, Vec<(u64, u64, String)>);

/// Functions of the static symbol table: by name, and (start, size, name).
fn read_static_functions(header: &FileHeader64<LE>, data: &[u8]) -> FunctionTables {
    let mut out = HashMap::new();
    let mut by_address = Vec::new();
    let Ok(sections) = header.sections(LE, data) else {
        return (out, by_address);
    };
    let Ok(symtab) = sections.symbols(LE, data, object::elf::SHT_SYMTAB) else {
        return (out, by_address);
    };
    for s in symtab.iter() {
        use object::read::elf::Sym;
        if s.st_type().0 == abi::STT_FUNC
            && s.st_shndx(LE).0 != abi::SHN_UNDEF
            && s.st_value(LE) != 0
        {
            if let Ok(name) = s.name(LE, symtab.strings()) {
                if let Ok(name) = std::str::from_utf8(name) {
                    out.entry(name.to_owned()).or_insert(s.st_value(LE));
                    by_address.push((s.st_value(LE), s.st_size(LE), name.to_owned()));
                }
            }
        }
    }
    (out, by_address)
}

fn read_build_id(data: &[u8], notes: &[(u64, u64)]) -> Option<Vec<u8>> {
    for &(off, size) in notes {
        let mut b = data.get(off as usize..off.checked_add(size)? as usize)?;
        while b.len() >= 12 {
            let namesz = u32::from_le_bytes(b[0..4].try_into().ok()?) as usize;
            let descsz = u32::from_le_bytes(b[4..8].try_into().ok()?) as usize;
            let ntype = u32::from_le_bytes(b[8..12].try_into().ok()?);
            let name_end = 12 + ((namesz + 3) & !3);
            let desc_end = name_end + ((descsz + 3) & !3);
            if desc_end > b.len() {
                break;
            }
            if ntype == abi::NT_GNU_BUILD_ID && &b[12..12 + namesz.min(3)] == b"GNU" {
                return Some(b[name_end..name_end + descsz].to_vec());
            }
            b = &b[desc_end..];
        }
    }
    None
}
