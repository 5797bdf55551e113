//! A bead's image: one module mapped at its own base in the arena.

use std::sync::Arc;

use crate::abi;
use weaves_arena::{Arena, OwnerId, Protection, Region};

use crate::error::LoadError;
use crate::module::{Module, ModuleKind};
use crate::reloc::{kind_name, Target, TlsResolver, HOST_TLS_FLAG};
use crate::symbols::SymKind;
use crate::sys::{map_file, prot_of};

/// One module mapped as a bead. Unmapped by [`BeadImage::unmap`].
pub struct BeadImage {
    module: Arc<Module>,
    region: Region,
    base: u64,
    owner: OwnerId,
    /// Set once the memory went back to the arena (a removed bead).
    released: std::sync::atomic::AtomicBool,
}

const PAGE: u64 = 0x1000;

fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}
fn page_up(x: u64) -> u64 {
    (x + PAGE - 1) & !(PAGE - 1)
}

impl BeadImage {
    /// Maps `module` at a fresh base in the arena, owned by bead `owner`.
    pub fn map(module: &Arc<Module>, owner: OwnerId) -> Result<BeadImage, LoadError> {
        let err = |what: String| LoadError::Map {
            path: module.path.clone(),
            what,
        };
        let arena = Arena::global().map_err(|e| err(e.to_string()))?;
        let region = arena
            .place(module.span as usize, module.align as usize, owner)
            .map_err(|e| err(e.to_string()))?;
        let image = BeadImage {
            released: std::sync::atomic::AtomicBool::new(false),
            module: module.clone(),
            region,
            base: region.addr as u64,
            owner,
        };
        if let Err(e) = image.map_segments() {
            // SAFETY: nothing has used the half-made image.
            unsafe { image.unmap() };
            return Err(err(e.to_string()));
        }
        Ok(image)
    }

    fn map_segments(&self) -> std::io::Result<()> {
        for s in &self.module.segments {
            let start = page_down(s.vaddr);
            let file_end = page_up(s.vaddr + s.filesz);
            let mem_end = page_up(s.vaddr + s.memsz);
            let prot = prot_of(s.flags);
            let writable = s.flags & abi::PF_W != 0;
            if s.filesz > 0 {
                // SAFETY: the range lies inside this bead's region, which the
                // arena placed for it alone.
                unsafe {
                    map_file(
                        &self.module.file,
                        (self.base + start) as usize,
                        (file_end - start) as usize,
                        if writable {
                            prot
                        } else {
                            prot | if s.memsz > s.filesz {
                                libc::PROT_WRITE
                            } else {
                                0
                            }
                        },
                        page_down(s.offset),
                    )?
                };
                // Zero the bss that shares the last file page.
                let bss = s.vaddr + s.filesz;
                if s.memsz > s.filesz && bss < file_end {
                    // SAFETY: the bytes lie in the private writable mapping
                    // just made.
                    unsafe {
                        std::ptr::write_bytes(
                            (self.base + bss) as *mut u8,
                            0,
                            (file_end - bss) as usize,
                        )
                    };
                }
                if !writable && s.memsz > s.filesz {
                    // Written only to zero the tail: give the pages back their
                    // real protection (never leave text writable).
                    // SAFETY: the range is this bead's mapping made above.
                    unsafe {
                        crate::sys::protect(
                            (self.base + start) as usize,
                            (file_end - start) as usize,
                            prot,
                        )?
                    };
                }
            }
            let anon_start = if s.filesz > 0 { file_end } else { start };
            if mem_end > anon_start {
                let prot = match (prot & libc::PROT_WRITE != 0, prot & libc::PROT_EXEC != 0) {
                    (true, _) => Protection::ReadWrite,
                    (false, true) => Protection::ReadExec,
                    _ => Protection::Read,
                };
                Arena::global()
                    .map_err(std::io::Error::other)?
                    .commit(
                        (self.base + anon_start) as usize,
                        (mem_end - anon_start) as usize,
                        prot,
                    )
                    .map_err(std::io::Error::other)?;
            }
        }
        Ok(())
    }

    pub fn module(&self) -> &Arc<Module> {
        &self.module
    }
    pub fn base(&self) -> u64 {
        self.base
    }
    pub fn region(&self) -> Region {
        self.region
    }
    pub fn owner(&self) -> OwnerId {
        self.owner
    }

    /// What one of this bead's own definitions binds to. `tls_module` is the
    /// TLS module id the runtime gave this bead.
    pub fn own_target(&self, index: u32, tls_module: u64) -> Target {
        let s = self.module.symbol(index);
        match s.kind {
            SymKind::Tls => Target::Tls {
                module: tls_module,
                offset: s.value,
            },
            SymKind::IFunc => Target::IFunc(self.base + s.value),
            _ => Target::Address(self.base + s.value),
        }
    }

    fn call_resolver(&self, at: u64) -> u64 {
        // SAFETY: `at` is an IFUNC resolver: a function taking no arguments
        // and returning an address. Callers run resolvers only after the
        // bead holding them (and everything it binds to) is relocated.
        let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(at as usize) };
        f()
    }

    /// Applies every relocation. `targets[i]` is what dynamic symbol `i`
    /// binds to; imports and copy sources must all be present (the binder
    /// reports missing ones before this is called).
    ///
    /// # Safety
    /// Addresses in `targets` must be valid for what the bead will do with
    /// them, and no string may be running in the bead.
    pub unsafe fn relocate(
        &self,
        targets: &[Option<Target>],
        tls_module: u64,
        tls: TlsResolver,
    ) -> Result<(), LoadError> {
        let m = &self.module;
        let b = self.base;
        let write = |off: u64, v: u64| {
            // SAFETY: the binder only relocates places inside the writable
            // segments of this image (validated offsets of a module without
            // text relocations), which are mapped private and writable.
            unsafe { ((b + off) as *mut u64).write_unaligned(v) }
        };
        for &off in &m.relr {
            // SAFETY: as for `write`; reads the implicit addend in place.
            let a = unsafe { ((b + off) as *const u64).read_unaligned() };
            write(off, b.wrapping_add(a));
        }
        let target = |r: &crate::reloc::Reloc| -> Result<Target, LoadError> {
            targets
                .get(r.sym as usize)
                .copied()
                .flatten()
                .ok_or_else(|| LoadError::Map {
                    path: m.path.clone(),
                    what: format!("symbol `{}` was not bound", m.symbol(r.sym).display_name()),
                })
        };
        let mut irelative = Vec::new();
        let mut indirect = Vec::new();
        for r in &m.relocs {
            let a = r.addend as u64;
            match r.kind {
                abi::R_X86_64_NONE => {}
                abi::R_X86_64_RELATIVE => write(r.offset, b.wrapping_add(a)),
                abi::R_X86_64_IRELATIVE => irelative.push(*r),
                abi::R_X86_64_64 | abi::R_X86_64_GLOB_DAT | abi::R_X86_64_JUMP_SLOT => {
                    match target(r)? {
                        Target::Address(s) => write(r.offset, s.wrapping_add(a)),
                        Target::IFunc(resolver) => indirect.push((r.offset, resolver, a)),
                        t => return Err(self.bad_target(r.kind, r.sym, t)),
                    }
                }
                abi::R_X86_64_COPY => match target(r)? {
                    Target::CopyFrom {
                        addr: src,
                        size: provided,
                    } if src != 0 => {
                        // Never more than either side has.
                        let size = m.symbol(r.sym).size.min(provided) as usize;
                        // SAFETY: the destination is this image's storage for
                        // the symbol (`size` bytes, by the module's own symbol
                        // table); the source is the same symbol's definition.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                src as *const u8,
                                (b + r.offset) as *mut u8,
                                size,
                            )
                        };
                    }
                    t => return Err(self.bad_target(r.kind, r.sym, t)),
                },
                abi::R_X86_64_DTPMOD64 => {
                    if r.sym == 0 {
                        write(r.offset, tls_module);
                    } else {
                        match target(r)? {
                            Target::Tls { module, .. } | Target::HostTls { module, .. } => {
                                write(r.offset, module)
                            }
                            t => return Err(self.bad_target(r.kind, r.sym, t)),
                        }
                    }
                }
                abi::R_X86_64_DTPOFF64 => {
                    if r.sym == 0 {
                        write(r.offset, a);
                    } else {
                        match target(r)? {
                            Target::Tls { offset, .. } | Target::HostTls { offset, .. } => {
                                write(r.offset, offset.wrapping_add(a))
                            }
                            t => return Err(self.bad_target(r.kind, r.sym, t)),
                        }
                    }
                }
                abi::R_X86_64_TPOFF64 => match target(r)? {
                    Target::HostTls { tpoff, .. } => {
                        write(r.offset, (tpoff as u64).wrapping_add(a))
                    }
                    t => return Err(self.bad_target(r.kind, r.sym, t)),
                },
                abi::R_X86_64_TLSDESC => {
                    let (module, offset, host) = if r.sym == 0 {
                        (tls_module, 0, 0)
                    } else {
                        match target(r)? {
                            Target::Tls { module, offset } => (module, offset, 0),
                            Target::HostTls { module, offset, .. } => {
                                (module, offset, HOST_TLS_FLAG)
                            }
                            t => return Err(self.bad_target(r.kind, r.sym, t)),
                        }
                    };
                    write(r.offset, tls.dynamic);
                    write(
                        r.offset + 8,
                        host | ((module & 0xff_ffff) << 40)
                            | (offset.wrapping_add(a) & 0xff_ffff_ffff),
                    );
                }
                other => {
                    return Err(LoadError::UnsupportedRelocation {
                        path: m.path.clone(),
                        kind: kind_name(other),
                        symbol: m.symbol(r.sym).display_name(),
                        offset: r.offset,
                    })
                }
            }
        }
        // Resolvers run last, when everything they might use is relocated.
        for r in irelative {
            write(
                r.offset,
                self.call_resolver(b.wrapping_add(r.addend as u64)),
            );
        }
        for (offset, resolver, addend) in indirect {
            write(offset, self.call_resolver(resolver).wrapping_add(addend));
        }
        Ok(())
    }

    fn bad_target(&self, kind: u32, sym: u32, target: Target) -> LoadError {
        let s = self.module.symbol(sym);
        let bound = match target {
            Target::Address(_) | Target::CopyFrom { .. } => "an ordinary (non-TLS) symbol",
            Target::IFunc(_) => "an indirect function",
            Target::Tls { .. } | Target::HostTls { .. } => "a thread-local symbol",
        };
        LoadError::Map {
            path: self.module.path.clone(),
            what: format!(
                "{} against `{}` cannot use what it is bound to: {bound}",
                kind_name(kind),
                s.display_name()
            ),
        }
    }

    fn words(&self, (vaddr, count): (u64, u64)) -> Vec<u64> {
        (0..count)
            .map(|i| {
                // SAFETY: the array lies in this image's (relocated) data, as
                // the module's dynamic section says.
                unsafe { ((self.base + vaddr + i * 8) as *const u64).read_unaligned() }
            })
            .filter(|&f| f != 0 && f != u64::MAX)
            .collect()
    }

    /// Initialisers in the order they must run: `DT_PREINIT_ARRAY`
    /// (executables only), `DT_INIT`, then `DT_INIT_ARRAY`.
    pub fn init_functions(&self) -> Vec<u64> {
        let m = &self.module;
        let mut v = Vec::new();
        if m.kind == ModuleKind::PieExecutable {
            v.extend(self.words(m.preinit_array));
        }
        if let Some(i) = m.init {
            v.push(self.base + i);
        }
        v.extend(self.words(m.init_array));
        v
    }

    /// Finalisers in the order they must run (`DT_FINI_ARRAY` backwards,
    /// then `DT_FINI`).
    pub fn fini_functions(&self) -> Vec<u64> {
        let m = &self.module;
        let mut v: Vec<u64> = self.words(m.fini_array).into_iter().rev().collect();
        if let Some(f) = m.fini {
            v.push(self.base + f);
        }
        v
    }

    /// The program headers, for `dl_iterate_phdr`.
    pub fn program_headers(&self) -> (*const u8, usize) {
        (self.module.phdrs.as_ptr().cast(), self.module.phdrs.len())
    }

    /// Address of this bead's `PT_GNU_EH_FRAME` (`.eh_frame_hdr`), which
    /// the unwinder needs to find frame descriptions in bead code.
    pub fn eh_frame_hdr(&self) -> Option<u64> {
        use object::read::elf::ProgramHeader;
        self.module
            .phdrs
            .iter()
            .find(|p| p.p_type(object::LittleEndian).0 == crate::abi::PT_GNU_EH_FRAME)
            .map(|p| self.base + p.p_vaddr(object::LittleEndian))
    }

    /// Address of this bead's TLS initialisation image, if it has TLS.
    pub fn tls_image(&self) -> Option<(u64, crate::TlsTemplate)> {
        self.module.tls().map(|t| (self.base + t.vaddr, t))
    }

    /// Returns the image's memory to the arena.
    ///
    /// # Safety
    /// No code or data of the bead may be used afterwards.
    pub unsafe fn unmap(self) {
        // SAFETY: caller contract.
        unsafe { self.release() };
    }

    /// Gives the physical memory of the bead's writable segments back to
    /// the system, keeping its code (and the address range) mapped: the
    /// data of a bead replaced by a hot-swap, whose code may still be
    /// reachable through a stale function pointer. Whatever reads the data
    /// afterwards finds the file's initial contents (zero for `.bss`).
    ///
    /// # Safety
    /// No one may rely on the bead's data afterwards.
    pub unsafe fn discard_data(&self) {
        if self.released.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        for s in self
            .module
            .segments
            .iter()
            .filter(|s| s.flags & abi::PF_W != 0)
        {
            let lo = page_up(self.base + s.vaddr);
            let hi = page_down(self.base + s.vaddr + s.memsz);
            if hi > lo {
                // SAFETY: whole pages inside the bead's writable segment,
                // mapped while the image is not released; the caller
                // guarantees nobody relies on their contents.
                unsafe {
                    libc::madvise(
                        lo as *mut libc::c_void,
                        (hi - lo) as usize,
                        libc::MADV_DONTNEED,
                    )
                };
            }
        }
    }

    /// Returns the image's memory to the arena, keeping this description
    /// of it (a removed bead's record). Releasing twice does nothing.
    ///
    /// # Safety
    /// No code or data of the bead may be used afterwards.
    pub unsafe fn release(&self) {
        if self
            .released
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        if let Ok(arena) = Arena::global() {
            // SAFETY: caller contract; released only once (above).
            unsafe { arena.release(self.region) };
        }
    }
}
