//! Points a system library's import slots for thread calls at the
//! runtime's interposers (see `weaves_interpose::for_system_library` for
//! why and which calls).
//!
//! The library was loaded and relocated by the system loader: its dynamic
//! section (`l_ld` of its link map, whose addresses glibc has already
//! made absolute) says where its relocations and symbols are, and each
//! `R_X86_64_JUMP_SLOT`/`R_X86_64_GLOB_DAT` against one of those calls is
//! a slot to change. A slot inside `PT_GNU_RELRO` (the GOT, when the
//! library was linked with `-z relro`) is made writable for the store and
//! read-only again after.
//!
//! Only libraries the tapestry itself opened for its beads are changed:
//! one the runtime had already loaded (the C library, libgcc_s, …) serves
//! the runtime's own threads and keeps its bindings. A changed library
//! stays changed for the rest of the process, as it stays loaded.

use std::ffi::CStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The start of glibc's `struct link_map` (public ABI, `<link.h>`).
#[repr(C)]
struct LinkMap {
    l_addr: u64,
    l_name: *const libc::c_char,
    l_ld: *const Dyn,
}

#[repr(C)]
struct Dyn {
    tag: i64,
    value: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

const RTLD_DI_LINKMAP: i32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_PLTRELSZ: i64 = 2;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// Retargets the thread calls of the library behind `handle` (a `dlopen`
/// handle); returns how many slots changed.
pub(crate) fn retarget_thread_calls(handle: usize) -> Result<usize, String> {
    let mut map: *const LinkMap = std::ptr::null();
    // SAFETY: dlinfo with a live handle writes the library's link map
    // pointer into `map`.
    let r = unsafe {
        libc::dlinfo(
            handle as *mut libc::c_void,
            RTLD_DI_LINKMAP,
            (&mut map as *mut *const LinkMap).cast(),
        )
    };
    if r != 0 || map.is_null() {
        return Err("the system loader has no link map for it".into());
    }
    // SAFETY: glibc's link map for a loaded library; `l_name` is its path,
    // a C string that lives as long as the library.
    let (base, path, dynamic) = unsafe {
        let m = &*map;
        (
            m.l_addr,
            CStr::from_ptr(m.l_name).to_string_lossy().into_owned(),
            m.l_ld,
        )
    };
    let file = Path::new(&path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    // SAFETY: `dynamic` is the library's relocated dynamic section.
    let slots = unsafe { thread_call_slots(base, dynamic, &file) };
    let relro = relro_range(base);
    for &(at, target) in &slots {
        let protected = relro.as_ref().is_some_and(|r| r.contains(&at));
        let page = at & !(page_size() - 1);
        if protected {
            // SAFETY: the page holding the slot, inside the library's
            // RELRO segment (mapped read-only); made writable for the store.
            let r = unsafe {
                libc::mprotect(
                    page as *mut _,
                    page_size() as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if r != 0 {
                return Err(format!(
                    "cannot make its GOT writable: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        // SAFETY: `at` is an import slot of the library (its relocation
        // says so), 8-byte aligned and now writable; its code reads it with
        // plain loads, which one atomic store never tears. The target is
        // the runtime's definition of the same function.
        unsafe { AtomicU64::from_ptr(at as *mut u64) }.store(target, Ordering::Release);
        if protected {
            // SAFETY: back to what the system loader made it.
            unsafe { libc::mprotect(page as *mut _, page_size() as usize, libc::PROT_READ) };
        }
    }
    Ok(slots.len())
}

/// (slot address, new target) for each PLT/GOT slot of the library that a
/// thread call the runtime takes over fills.
///
/// # Safety
/// `dynamic` must be the relocated dynamic section of a library loaded at
/// `base`.
unsafe fn thread_call_slots(base: u64, dynamic: *const Dyn, file: &str) -> Vec<(u64, u64)> {
    let (mut strtab, mut symtab, mut rela, mut relasz, mut jmprel, mut pltrelsz) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // glibc made these addresses absolute; a value below the base is
    // still relative (a library linked at 0 that it did not adjust).
    let absolute = |v: u64| if v < base { v + base } else { v };
    let mut d = dynamic;
    // SAFETY: the dynamic section ends with DT_NULL.
    unsafe {
        while (*d).tag != 0 {
            let v = (*d).value;
            match (*d).tag {
                DT_STRTAB => strtab = absolute(v),
                DT_SYMTAB => symtab = absolute(v),
                DT_RELA => rela = absolute(v),
                DT_RELASZ => relasz = v,
                DT_JMPREL => jmprel = absolute(v),
                DT_PLTRELSZ => pltrelsz = v,
                _ => {}
            }
            d = d.add(1);
        }
    }
    if strtab == 0 || symtab == 0 {
        return Vec::new();
    }
    let mut slots = Vec::new();
    for (table, bytes) in [(rela, relasz), (jmprel, pltrelsz)] {
        if table == 0 {
            continue;
        }
        let count = bytes as usize / std::mem::size_of::<Rela>();
        // SAFETY: the relocation table the dynamic section names, `count`
        // entries long, mapped with the library.
        let relocs = unsafe { std::slice::from_raw_parts(table as *const Rela, count) };
        for r in relocs {
            let kind = r.info as u32;
            let index = r.info >> 32;
            if index == 0 || !matches!(kind, R_X86_64_JUMP_SLOT | R_X86_64_GLOB_DAT) {
                continue;
            }
            // SAFETY: a symbol index from the library's own relocation, into
            // its symbol table; its name is a C string in its string table.
            let name = unsafe {
                let sym = &*(symtab as *const Sym).add(index as usize);
                CStr::from_ptr((strtab + u64::from(sym.name)) as *const libc::c_char)
            };
            let Ok(name) = name.to_str() else { continue };
            let at = base + r.offset;
            if !at.is_multiple_of(8) {
                continue;
            }
            if let Some(target) = weaves_interpose::for_system_library(file, name) {
                slots.push((at, target));
            }
        }
    }
    slots
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}

/// The addresses `PT_GNU_RELRO` of the library loaded at `base` made
/// read-only (whole pages, both ends rounded down, as the system loader
/// protects them).
fn relro_range(base: u64) -> Option<std::ops::Range<u64>> {
    struct Search {
        base: u64,
        found: Option<(u64, u64)>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> i32 {
        // SAFETY: glibc passes a valid record; `data` is our Search.
        unsafe {
            let search = &mut *(data as *mut Search);
            let info = &*info;
            if info.dlpi_addr != search.base {
                return 0;
            }
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            search.found = phdrs
                .iter()
                .find(|p| p.p_type == PT_GNU_RELRO)
                .map(|p| (p.p_vaddr, p.p_memsz));
            1
        }
    }
    let mut search = Search { base, found: None };
    // SAFETY: the C library's dl_iterate_phdr with a callback that only
    // reads the records it is given.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search).cast()) };
    let (vaddr, memsz) = search.found?;
    let down = |a: u64| a & !(page_size() - 1);
    Some(down(base + vaddr)..down(base + vaddr + memsz))
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    /// libstdc++'s `pthread_cond_broadcast` slot points at the runtime's
    /// once the tapestry opened it, and a thread that is not a string can
    /// still use what calls through it (`std::condition_variable`).
    #[test]
    fn libstdcxx_thread_calls_reach_the_runtime_and_work_outside_strings() {
        let h = crate::system::open("libstdc++.so.6").expect("libstdc++ opens");
        // SAFETY: a fresh link-map query; see `retarget_thread_calls`.
        let slots = unsafe {
            let mut map: *const super::LinkMap = std::ptr::null();
            libc::dlinfo(
                h as *mut libc::c_void,
                super::RTLD_DI_LINKMAP,
                (&mut map as *mut *const super::LinkMap).cast(),
            );
            super::thread_call_slots((*map).l_addr, (*map).l_ld, "libstdc++.so.6")
        };
        let broadcast = weaves_interpose::lookup("pthread_cond_broadcast").expect("interposed");
        assert!(slots.iter().any(|&(_, t)| t == broadcast), "{slots:x?}");
        for (at, target) in slots {
            // SAFETY: reading a slot of the loaded library.
            assert_eq!(unsafe { (at as *const u64).read_volatile() }, target);
        }
        let sym = |n: &str| {
            let c = CString::new(n).unwrap();
            // SAFETY: looking a libstdc++ function up.
            let p = unsafe { libc::dlsym(h as *mut libc::c_void, c.as_ptr()) };
            assert!(!p.is_null(), "{n}");
            p
        };
        type Method = unsafe extern "C" fn(*mut u8);
        // SAFETY: std::condition_variable's constructor, notify_all and
        // destructor on 48 bytes of aligned storage (its size).
        unsafe {
            let make: Method = std::mem::transmute(sym("_ZNSt18condition_variableC1Ev"));
            let notify: Method =
                std::mem::transmute(sym("_ZNSt18condition_variable10notify_allEv"));
            let drop: Method = std::mem::transmute(sym("_ZNSt18condition_variableD1Ev"));
            let mut storage = [0u64; 8];
            let cv = storage.as_mut_ptr().cast::<u8>();
            make(cv);
            notify(cv);
            drop(cv);
        }
    }
}
