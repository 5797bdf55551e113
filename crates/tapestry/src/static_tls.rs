//! Puts a system library's thread-local variables in static TLS, so that a
//! PIE bead's initial-exec accesses (`R_X86_64_TPOFF64`: one offset from
//! the thread pointer, the same on every thread) reach them.
//!
//! A library the system loader loads at start-up gets static TLS; one
//! opened later with `dlopen` (libstdc++ for a C++ bead) gets a dynamic
//! block per thread, allocated on first use at a different place on each
//! thread. No offset from the thread pointer names such a variable, so a
//! PIE's inline `std::call_once` (which writes libstdc++'s
//! `__once_callable` at `%fs:offset`) wrote somewhere else, and libstdc++
//! then called a null function.
//!
//! glibc moves a dlopened library's TLS to static TLS (its reserved
//! surplus, set up on every existing thread) when it relocates a
//! `R_X86_64_TPOFF64` that refers to it — provided no thread used its
//! dynamic block yet. So before the runtime looks the variable up (which
//! would use it), it opens a tiny shared object made here, whose only
//! content is such a relocation:
//!
//! ```text
//! 0    ELF header                 e_type ET_DYN, x86-64
//! 64   PT_LOAD (rw, the whole file), PT_DYNAMIC, PT_GNU_STACK (rw)
//! 232  dynamic section            HASH STRTAB SYMTAB STRSZ SYMENT RELA RELASZ RELAENT NULL
//! 376  hash table                 one bucket, two chains, all empty
//! 400  symbol table               null symbol, NAME (global TLS, undefined)
//! 448  RELA                       one R_X86_64_TPOFF64 against symbol 1
//! 472  the relocated word
//! 480  string table               "\0NAME\0"
//! ```

use std::ffi::CString;
use std::io::Write;
use std::os::fd::FromRawFd;

const DYN: usize = 232;
const HASH: usize = 376;
const SYMTAB: usize = 400;
const RELA: usize = 448;
const SLOT: usize = 472;
const STRTAB: usize = 480;

/// Builds the object whose one relocation is a TPOFF64 against `name`.
fn object_for(name: &str) -> Vec<u8> {
    let strtab: Vec<u8> = [&[0u8][..], name.as_bytes(), &[0]].concat();
    let total = STRTAB + strtab.len();
    let mut f = vec![0u8; total];
    let put =
        |f: &mut Vec<u8>, at: usize, bytes: &[u8]| f[at..at + bytes.len()].copy_from_slice(bytes);
    let u16b = |v: u16| v.to_le_bytes();
    let u32b = |v: u32| v.to_le_bytes();
    let u64b = |v: u64| v.to_le_bytes();
    // ELF header.
    put(&mut f, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut f, 16, &u16b(3)); // ET_DYN
    put(&mut f, 18, &u16b(62)); // EM_X86_64
    put(&mut f, 20, &u32b(1));
    put(&mut f, 32, &u64b(64)); // e_phoff
    put(&mut f, 52, &u16b(64)); // e_ehsize
    put(&mut f, 54, &u16b(56)); // e_phentsize
    put(&mut f, 56, &u16b(3)); // e_phnum
    put(&mut f, 58, &u16b(64)); // e_shentsize
                                // Program headers: (type, flags, offset/vaddr, size, align).
    let phdrs: [(u32, u32, u64, u64, u64); 3] = [
        (1, 6, 0, total as u64, 0x1000),
        (2, 6, DYN as u64, (HASH - DYN) as u64, 8),
        (0x6474_e551, 6, 0, 0, 16),
    ];
    for (i, (kind, flags, at, size, align)) in phdrs.into_iter().enumerate() {
        let p = 64 + i * 56;
        put(&mut f, p, &u32b(kind));
        put(&mut f, p + 4, &u32b(flags));
        put(&mut f, p + 8, &u64b(at));
        put(&mut f, p + 16, &u64b(at));
        put(&mut f, p + 24, &u64b(at));
        put(&mut f, p + 32, &u64b(size));
        put(&mut f, p + 40, &u64b(size));
        put(&mut f, p + 48, &u64b(align));
    }
    let dynamic: [(u64, u64); 9] = [
        (4, HASH as u64),
        (5, STRTAB as u64),
        (6, SYMTAB as u64),
        (10, strtab.len() as u64),
        (11, 24),
        (7, RELA as u64),
        (8, 24),
        (9, 24),
        (0, 0),
    ];
    for (i, (tag, value)) in dynamic.into_iter().enumerate() {
        put(&mut f, DYN + i * 16, &u64b(tag));
        put(&mut f, DYN + i * 16 + 8, &u64b(value));
    }
    // nbucket 1, nchain 2, bucket[0] 0, chain[0..2] 0.
    put(&mut f, HASH, &u32b(1));
    put(&mut f, HASH + 4, &u32b(2));
    // Symbol 1: name at 1, STB_GLOBAL|STT_TLS, undefined.
    put(&mut f, SYMTAB + 24, &u32b(1));
    f[SYMTAB + 24 + 4] = (1 << 4) | 6;
    // RELA: offset, info (symbol 1, R_X86_64_TPOFF64 = 18), addend 0.
    put(&mut f, RELA, &u64b(SLOT as u64));
    put(&mut f, RELA + 8, &u64b((1 << 32) | 18));
    put(&mut f, STRTAB, &strtab);
    f
}

/// Makes the TLS of the system library defining `name` static, if it is
/// not yet and no thread used it; says why not otherwise.
pub(crate) fn make_static(name: &str) -> Result<(), String> {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|d| d == name) {
        return Ok(());
    }
    open_relocating(name)?;
    done.push(name.to_owned());
    Ok(())
}

fn open_relocating(name: &str) -> Result<(), String> {
    let c_name = CString::new("weaves-static-tls").map_err(|e| e.to_string())?;
    // SAFETY: memfd_create with a C string; the descriptor is ours.
    let fd = unsafe { libc::memfd_create(c_name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: `fd` was just created and is owned by the File from now on.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(&object_for(name))
        .map_err(|e| e.to_string())?;
    let path = CString::new(format!("/proc/self/fd/{fd}")).map_err(|e| e.to_string())?;
    // SAFETY: dlopen of the object just written: no initialisers, one
    // relocation into its own writable page. It stays loaded (the static
    // TLS it caused stays too).
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        // SAFETY: dlerror describes the last failure as a C string.
        let why = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) };
        return Err(why.to_string_lossy().into_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_pointer() -> u64 {
        let tp: u64;
        // SAFETY: on x86-64 Linux %fs:0 holds the thread pointer itself.
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags))
        };
        tp
    }

    fn offset_here(name: &str) -> i64 {
        let addr = crate::system::lookup(&[], name, None).expect("the variable");
        addr.wrapping_sub(thread_pointer()) as i64
    }

    /// The bug this pins: libstdc++'s thread-locals, opened with dlopen,
    /// were at a different offset from the thread pointer on every thread,
    /// so a PIE's initial-exec `std::call_once` wrote elsewhere.
    #[test]
    fn a_dlopened_librarys_thread_locals_sit_at_one_offset_on_every_thread() {
        crate::system::open("libstdc++.so.6").expect("libstdc++ opens");
        let name = "_ZSt15__once_callable";
        make_static(name).expect("its TLS becomes static");
        let here = offset_here(name);
        let there = std::thread::spawn(move || offset_here(name))
            .join()
            .expect("the other thread");
        assert_eq!(here, there);
    }

    #[test]
    fn the_object_is_one_page_with_its_relocation_in_place() {
        let f = object_for("x");
        assert_eq!(&f[..4], b"\x7fELF");
        assert_eq!(f.len(), STRTAB + 3);
        assert_eq!(
            u64::from_le_bytes(f[RELA + 8..RELA + 16].try_into().unwrap()),
            (1 << 32) | 18
        );
    }
}
