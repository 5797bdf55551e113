//! The address layout a restore depends on: where the executable and every
//! system library are. A restored string returns into code at the same
//! addresses, so they must match exactly.

use std::ffi::CStr;

use serde::{Deserialize, Serialize};

/// Load addresses of the executable and the system shared objects of the
/// process (not the beads: they live in the arena).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// (name, load address); the executable has an empty name.
    pub objects: Vec<(String, u64)>,
    /// (name, GNU build id in hex) of those that have one: the same file
    /// at the same address could still be a different build.
    #[serde(default)]
    pub build_ids: Vec<(String, String)>,
}

impl Layout {
    /// This process's layout now.
    pub fn current() -> Layout {
        let mut found: Found = (Vec::new(), Vec::new());
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            data: *mut libc::c_void,
        ) -> i32 {
            // SAFETY: the C library hands a valid info record, and `data` is
            // the pair passed below, alive for the call.
            let (info, (out, ids)) = unsafe { (&*info, &mut *(data as *mut Found)) };
            let name = if info.dlpi_name.is_null() {
                String::new()
            } else {
                // SAFETY: a NUL-terminated name owned by the dynamic linker.
                unsafe { CStr::from_ptr(info.dlpi_name) }
                    .to_string_lossy()
                    .into_owned()
            };
            // Beads (in the arena) are checked one by one by the tapestry,
            // by name; several beads share a module's path.
            let in_arena = (weaves_arena::ARENA_BASE as u64
                ..(weaves_arena::ARENA_BASE + weaves_arena::NODE_SPAN) as u64)
                .contains(&info.dlpi_addr);
            if !name.starts_with("linux-vdso") && !in_arena {
                // SAFETY: the object's program headers and mapped notes, as
                // the dynamic linker describes them.
                if let Some(id) = unsafe { build_id(info) } {
                    ids.push((name.clone(), id));
                }
                out.push((name, info.dlpi_addr));
            }
            0
        }
        // SAFETY: `each` matches the callback type and only writes to
        // `found`, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), &mut found as *mut _ as *mut libc::c_void) };
        Layout {
            objects: found.0,
            build_ids: found.1,
        }
    }

    /// Why `self` (the image's) cannot be used in a process with layout
    /// `now`: the first object that moved or is missing.
    pub fn mismatch(&self, now: &Layout) -> Option<String> {
        for (name, id) in &self.build_ids {
            let shown = shown(name);
            match now.build_ids.iter().find(|(n, _)| n == name) {
                Some((_, now_id)) if now_id != id => {
                    return Some(format!(
                        "{shown} is a different build from the one that took the image \
                         (build id {now_id}, the image's {id}); restore with the same files"
                    ))
                }
                _ => {}
            }
        }
        for (name, addr) in &self.objects {
            let shown = shown(name);
            match now.objects.iter().find(|(n, _)| n == name) {
                Some((_, a)) if a == addr => {}
                Some((_, a)) => {
                    return Some(format!(
                        "{shown} is at {a:#x} in this process but was at {addr:#x} \
                         (a different build or system library, or address randomisation on)"
                    ))
                }
                None => return Some(format!("{shown} is not loaded in this process")),
            }
        }
        None
    }
}

/// How an object is named in messages.
fn shown(name: &str) -> &str {
    if name.is_empty() {
        "the weaves executable"
    } else {
        name
    }
}

type Found = (Vec<(String, u64)>, Vec<(String, String)>);

/// The GNU build id of a loaded object, from its `PT_NOTE` segments.
///
/// # Safety
/// `info` describes a loaded object (from `dl_iterate_phdr`).
unsafe fn build_id(info: &libc::dl_phdr_info) -> Option<String> {
    const NT_GNU_BUILD_ID: u32 = 3;
    // SAFETY: the dynamic linker's program header table of the object.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
        let mut at = info.dlpi_addr as usize + ph.p_vaddr as usize;
        let end = at + ph.p_memsz as usize;
        while at + 12 <= end {
            // SAFETY: inside the mapped note segment (checked against `end`).
            let (namesz, descsz, kind) = unsafe {
                (
                    *(at as *const u32),
                    *((at + 4) as *const u32),
                    *((at + 8) as *const u32),
                )
            };
            let name_at = at + 12;
            let desc_at = name_at + (namesz as usize).next_multiple_of(4);
            let next = desc_at + (descsz as usize).next_multiple_of(4);
            if next > end {
                break;
            }
            if kind == NT_GNU_BUILD_ID && namesz == 4 {
                // SAFETY: the descriptor lies inside the segment (checked).
                let desc =
                    unsafe { std::slice::from_raw_parts(desc_at as *const u8, descsz as usize) };
                return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
            }
            at = next;
        }
    }
    None
}
