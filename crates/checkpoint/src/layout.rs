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
}

impl Layout {
    /// This process's layout now.
    pub fn current() -> Layout {
        let mut objects: Vec<(String, u64)> = Vec::new();
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            data: *mut libc::c_void,
        ) -> i32 {
            // SAFETY: the C library hands a valid info record, and `data` is
            // the vector passed below, alive for the call.
            let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<(String, u64)>)) };
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
                out.push((name, info.dlpi_addr));
            }
            0
        }
        // SAFETY: `each` matches the callback type and only writes to
        // `objects`, which outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), &mut objects as *mut _ as *mut libc::c_void) };
        Layout { objects }
    }

    /// Why `self` (the image's) cannot be used in a process with layout
    /// `now`: the first object that moved or is missing.
    pub fn mismatch(&self, now: &Layout) -> Option<String> {
        for (name, addr) in &self.objects {
            let shown = if name.is_empty() {
                "the weaves executable"
            } else {
                name
            };
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
