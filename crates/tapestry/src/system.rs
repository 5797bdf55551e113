//! The host's system libraries ("the system bead"): loaded once by the
//! system loader and shared by every bead.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::Mutex;

static HANDLES: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Opens (once) the system library `name`, as the system loader would find
/// it. Its symbols join the process's global scope.
pub(crate) fn open(name: &str) -> Result<usize, String> {
    let mut handles = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    let handles = handles.get_or_insert_with(HashMap::new);
    if let Some(&h) = handles.get(name) {
        return Ok(h);
    }
    let c = CString::new(name).map_err(|_| format!("bad library name {name:?}"))?;
    // SAFETY: dlopen with RTLD_NOLOAD only looks for a loaded library; a
    // handle it returns is released at once (the library stays loaded).
    let runtimes = unsafe {
        let h = libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if !h.is_null() {
            libc::dlclose(h);
        }
        !h.is_null()
    };
    // SAFETY: dlopen with a valid C string; the library's initialisers run
    // now, in the host, which is what loading a system library means.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if h.is_null() {
        // SAFETY: dlerror returns a C string describing the last failure.
        let why = unsafe { CStr::from_ptr(libc::dlerror()) }
            .to_string_lossy()
            .into_owned();
        return Err(why);
    }
    handles.insert(name.to_owned(), h as usize);
    if !runtimes {
        // Loaded for beads alone: its own thread calls act for them.
        if let Err(why) = crate::system_slots::retarget_thread_calls(h as usize) {
            return Err(format!(
                "cannot take over its thread calls (pthread_create, locks, waits) for beads: {why}"
            ));
        }
    }
    Ok(h as usize)
}

/// Address of `name` (with `version`, if the reference is versioned) in the
/// first of `handles` that defines it, else anywhere in the global scope.
pub(crate) fn lookup(handles: &[usize], name: &str, version: Option<&str>) -> Option<u64> {
    let n = CString::new(name).ok()?;
    let v = version.and_then(|v| CString::new(v).ok());
    let find = |h: *mut libc::c_void| -> Option<u64> {
        // SAFETY: dlsym/dlvsym with a valid handle (or RTLD_DEFAULT) and C
        // strings only look symbols up.
        let p = unsafe {
            match &v {
                // As the system loader: exactly the version asked for.
                Some(v) => libc::dlvsym(h, n.as_ptr(), v.as_ptr()),
                None => libc::dlsym(h, n.as_ptr()),
            }
        };
        (!p.is_null()).then_some(p as u64)
    };
    handles
        .iter()
        .find_map(|&h| find(h as *mut libc::c_void))
        .or_else(|| find(libc::RTLD_DEFAULT))
}
