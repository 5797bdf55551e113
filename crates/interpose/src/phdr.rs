//! `dl_iterate_phdr` that also reports beads.
//!
//! The unwinder (libgcc's `_Unwind_Find_FDE`, used by C++ exceptions, Rust
//! panics and backtraces) finds the `.eh_frame` of the code a frame belongs
//! to by walking `dl_iterate_phdr`. Beads are not known to the system loader,
//! so after the host's objects we report every bead: its base, its module's
//! program headers (`PT_GNU_EH_FRAME` among them) and its name. The
//! `dlpi_adds`/`dlpi_subs` counters include bead additions and removals so
//! that the unwinder's cache notices when beads come and go.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use weaves_arena::OwnerId;
use weaves_loader::Module;
use weaves_strings::RuntimeSection;

use crate::real::real;

/// What `dl_iterate_phdr` reports for one bead.
#[derive(Clone)]
pub struct BeadRecord {
    pub owner: OwnerId,
    pub name: CString,
    /// The module's path (what `dlpi_name`/`dli_fname` report, so that
    /// symbolizers can open the file).
    pub path: CString,
    pub base: u64,
    /// End of the bead's image.
    pub end: u64,
    /// Its `.eh_frame_hdr`, if any.
    pub eh_frame_hdr: u64,
    pub module: Arc<Module>,
    /// Whether the bead belongs to more than one weave.
    pub shared: bool,
    /// Whether a string may be preempted in this bead's code: at most one
    /// declared string runs in it.
    pub preemptible: bool,
}

static BEADS: RwLock<Option<HashMap<OwnerId, BeadRecord>>> = RwLock::new(None);
static ADDS: AtomicU64 = AtomicU64::new(0);
static SUBS: AtomicU64 = AtomicU64::new(0);

/// Makes a bead visible to `dl_iterate_phdr` (and so to the unwinder).
pub fn register_bead(record: BeadRecord) {
    let _rt = RuntimeSection::enter();
    BEADS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(record.owner, record);
    ADDS.fetch_add(1, Ordering::AcqRel);
}

/// Records that more than one string may run in a bead from now on (a live
/// change added weaves or strings reaching it): it is shared, and never
/// preempted inside.
pub fn mark_bead_shared(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = BEADS.write().unwrap_or_else(|e| e.into_inner()).as_mut() {
        if let Some(r) = m.get_mut(&owner) {
            r.shared = true;
            r.preemptible = false;
        }
    }
}

/// Gives a bead a new name (a hot-swapped bead takes its predecessor's).
pub fn rename_bead(owner: OwnerId, name: CString) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = BEADS.write().unwrap_or_else(|e| e.into_inner()).as_mut() {
        if let Some(r) = m.get_mut(&owner) {
            r.name = name;
        }
    }
}

/// Hides a bead again (it is being removed).
pub fn unregister_bead(owner: OwnerId) {
    let _rt = RuntimeSection::enter();
    if let Some(m) = BEADS.write().unwrap_or_else(|e| e.into_inner()).as_mut() {
        m.remove(&owner);
    }
    SUBS.fetch_add(1, Ordering::AcqRel);
}

type Callback = unsafe extern "C" fn(*mut libc::dl_phdr_info, usize, *mut libc::c_void) -> i32;

struct Relay {
    callback: Callback,
    data: *mut libc::c_void,
    host_adds: u64,
    host_subs: u64,
}

unsafe extern "C" fn relay(
    info: *mut libc::dl_phdr_info,
    size: usize,
    data: *mut libc::c_void,
) -> i32 {
    // SAFETY: `data` is the Relay passed to the real dl_iterate_phdr below,
    // alive for the whole iteration; `info` is glibc's valid record of `size`
    // bytes.
    unsafe {
        let relay = &mut *(data as *mut Relay);
        let mut copy = *info;
        relay.host_adds = copy.dlpi_adds;
        relay.host_subs = copy.dlpi_subs;
        copy.dlpi_adds += ADDS.load(Ordering::Acquire);
        copy.dlpi_subs += SUBS.load(Ordering::Acquire);
        (relay.callback)(
            &mut copy,
            size.min(std::mem::size_of::<libc::dl_phdr_info>()),
            relay.data,
        )
    }
}

/// `dl_iterate_phdr`: the host's objects, then every bead.
///
/// # Safety
/// As for glibc's `dl_iterate_phdr`.
#[no_mangle]
pub unsafe extern "C" fn dl_iterate_phdr(
    callback: Option<Callback>,
    data: *mut libc::c_void,
) -> i32 {
    let Some(callback) = callback else { return 0 };
    let mut r = Relay {
        callback,
        data,
        host_adds: 0,
        host_subs: 0,
    };
    // SAFETY: forwarding with our relay, which calls the user's callback
    // with an adjusted copy of each record.
    let rc = unsafe { (real().dl_iterate_phdr)(Some(relay), (&mut r as *mut Relay).cast()) };
    if rc != 0 {
        return rc;
    }
    let beads = {
        let _rt = RuntimeSection::enter();
        let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
        beads
            .as_ref()
            .map(|m| m.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let (adds, subs) = (
        r.host_adds + ADDS.load(Ordering::Acquire),
        r.host_subs + SUBS.load(Ordering::Acquire),
    );
    let mut result = 0;
    for b in &beads {
        let mut info = libc::dl_phdr_info {
            dlpi_addr: b.base,
            dlpi_name: b.path.as_ptr(),
            dlpi_phdr: b.module.program_headers().0.cast(),
            dlpi_phnum: b.module.program_headers().1 as u16,
            dlpi_adds: adds,
            dlpi_subs: subs,
            dlpi_tls_modid: 0,
            dlpi_tls_data: std::ptr::null_mut(),
        };
        // SAFETY: a complete record describing a mapped bead.
        result = unsafe { callback(&mut info, std::mem::size_of::<libc::dl_phdr_info>(), data) };
        if result != 0 {
            break;
        }
    }
    let _rt = RuntimeSection::enter();
    drop(beads);
    result
}

/// Name of the bead whose image contains `addr`.
pub(crate) fn bead_name_at(addr: u64) -> Option<*const libc::c_char> {
    let owner = weaves_arena::owner_of(addr as usize)?;
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    beads.as_ref()?.get(&owner).map(|b| b.name.as_ptr())
}

/// The name of bead `owner`, if it is registered.
pub(crate) fn bead_name(owner: OwnerId) -> Option<String> {
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    beads
        .as_ref()?
        .get(&owner)
        .map(|b| b.name.to_string_lossy().into_owned())
}

/// The address of the exported symbol `name` in bead `owner`.
pub(crate) fn symbol_in(owner: OwnerId, name: &str) -> Option<u64> {
    versioned_symbol_in(owner, name, None)
}

/// The address of `name` at `version` (the default version for `None`)
/// exported by bead `owner`.
pub(crate) fn versioned_symbol_in(
    owner: OwnerId,
    name: &str,
    version: Option<&str>,
) -> Option<u64> {
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    let bead = beads.as_ref()?.get(&owner)?;
    let i = bead.module.find_export(name, version)?;
    Some(bead.base + bead.module.symbol(i).value)
}

/// The address of bead `owner`'s own copy of the C library variable
/// `name` (a COPY relocation of a PIE executable: `stdin`, `__progname`…),
/// if it has one.
pub(crate) fn own_copy_of(owner: OwnerId, name: &str) -> Option<u64> {
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    let bead = beads.as_ref()?.get(&owner)?;
    let i = bead.module.find_export(name, Some("GLIBC_2.2.5"))?;
    bead.module
        .copy_imports()
        .contains(&i)
        .then(|| bead.base + bead.module.symbol(i).value)
}

/// The module of bead `owner`, if it is registered.
pub(crate) fn bead_module(owner: OwnerId) -> Option<Arc<Module>> {
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    beads.as_ref()?.get(&owner).map(|b| b.module.clone())
}

/// `_dl_find_object` (glibc 2.35+), which GCC 12's unwinder asks before
/// anything else: for a PC in bead code we answer from the owner table in
/// O(1); anything else goes to glibc.
///
/// ```text
///  struct dl_find_object { u64 flags; void *map_start; void *map_end;
///                          struct link_map *link_map; void *eh_frame; u64 reserved[7]; }
/// ```
///
/// # Safety
/// As for glibc's `_dl_find_object`: `result` points at such a struct.
#[no_mangle]
pub unsafe extern "C" fn _dl_find_object(pc: *mut libc::c_void, result: *mut u64) -> i32 {
    if let Some(owner) = weaves_arena::owner_of(pc as usize) {
        let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = beads.as_ref().and_then(|m| m.get(&owner)) {
            if (b.base..b.end).contains(&(pc as u64)) && b.eh_frame_hdr != 0 {
                // SAFETY: the caller provides a writable dl_find_object, whose
                // first five words are the fields written here.
                unsafe {
                    *result = 0;
                    *result.add(1) = b.base;
                    *result.add(2) = b.end;
                    *result.add(3) = 0;
                    *result.add(4) = b.eh_frame_hdr;
                }
                return 0;
            }
        }
        return -1;
    }
    // SAFETY: not bead code: glibc answers.
    unsafe { (real().dl_find_object)(pc, result) }
}

/// Where a code address lies in a bead.
pub(crate) struct CodeLocation {
    /// The module's path (a C string owned by the registry).
    pub path: *const libc::c_char,
    pub base: u64,
    /// The function around the address (name, start address), if known.
    pub function: Option<(String, u64)>,
}

/// The bead location of code address `addr`, if it is bead code.
pub(crate) fn describe(addr: u64) -> Option<CodeLocation> {
    let owner = weaves_arena::owner_of(addr as usize)?;
    let beads = BEADS.read().unwrap_or_else(|e| e.into_inner());
    let b = beads.as_ref()?.get(&owner)?;
    if !(b.base..b.end).contains(&addr) {
        return None;
    }
    let function = b
        .module
        .function_at(addr - b.base)
        .map(|(name, within)| (name.to_owned(), addr - within));
    Some(CodeLocation {
        path: b.path.as_ptr(),
        base: b.base,
        function,
    })
}

/// Calls `f` with the bead whose image holds `pc` and the function around
/// it (name, offset), without allocating and without waiting for the
/// registry's lock (for the fault handler).
pub(crate) fn with_bead_at(pc: u64, f: impl FnOnce(&BeadRecord, Option<(&str, u64)>)) {
    let Some(owner) = weaves_arena::owner_of(pc as usize) else {
        return;
    };
    let Ok(beads) = BEADS.try_read() else { return };
    let Some(b) = beads.as_ref().and_then(|m| m.get(&owner)) else {
        return;
    };
    if (b.base..b.end).contains(&pc) {
        f(b, b.module.function_at(pc - b.base));
    }
}

/// Calls `f` with every registered bead, by owner, without allocating. For
/// the fault handler: it never waits for the registry's lock for long (a
/// writer holds it for a few instructions; this thread may be that writer),
/// and gives `None` if it cannot have it.
pub(crate) fn with_registry<R>(f: impl FnOnce(&HashMap<OwnerId, BeadRecord>) -> R) -> Option<R> {
    for _ in 0..10_000 {
        if let Ok(beads) = BEADS.try_read() {
            return beads.as_ref().map(f);
        }
        std::hint::spin_loop();
    }
    None
}
