//! `setrlimit` and `prlimit` from bead code.
//!
//! Resource limits belong to the process, so a bead that lowers one lowers
//! it for the runtime and every string. Limits the runtime cannot work
//! under are refused with `EPERM` and one line; everything else is the C
//! library's call, and applies to the whole tapestry:
//!
//! | limit | refused when the new soft limit is below |
//! |---|---|
//! | `RLIMIT_NOFILE` | the descriptors open now + 64 (the reactor, the monitor, pidfds and other strings' files need room) |
//! | `RLIMIT_STACK` | 1 MiB (the main thread's stack and threads the runtime starts) |
//! | `RLIMIT_AS` | the address space in use now + 1 GiB (the arena's reservation counts) |
//! | `RLIMIT_DATA` | the data in use now + 1 GiB |
//! | `RLIMIT_NPROC` | the threads running now + 64 (thread-mode strings, the monitor's threads) |
//!
//! `prlimit` on another process, and queries (no new limit), pass through;
//! so do all of these in a forked child.

use weaves_strings::forked::in_forked_child;

use super::refuse;

pub(super) fn lookup(name: &str) -> Option<usize> {
    let f = match name {
        "setrlimit" | "setrlimit64" => setrlimit as *const () as usize,
        "prlimit" | "prlimit64" => prlimit as *const () as usize,
        _ => return None,
    };
    Some(f)
}

/// Room kept for descriptors and threads beyond those in use.
const SPARE: u64 = 64;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

unsafe extern "C" fn setrlimit(resource: i32, limit: *const libc::rlimit) -> i32 {
    if !in_forked_child() && !limit.is_null() {
        // SAFETY: the caller passes a readable rlimit (NULL checked).
        if let Err(why) = check(resource, unsafe { &*limit }) {
            refuse(&call("setrlimit", resource, limit), libc::EPERM, &why);
            return -1;
        }
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::setrlimit(resource as _, limit) }
}

unsafe extern "C" fn prlimit(
    pid: libc::pid_t,
    resource: i32,
    limit: *const libc::rlimit,
    old: *mut libc::rlimit,
) -> i32 {
    // SAFETY: getpid has no preconditions.
    let ours = pid == 0 || pid == unsafe { libc::getpid() };
    if ours && !in_forked_child() && !limit.is_null() {
        // SAFETY: the caller passes a readable rlimit (NULL checked).
        if let Err(why) = check(resource, unsafe { &*limit }) {
            refuse(&call("prlimit", resource, limit), libc::EPERM, &why);
            return -1;
        }
    }
    // SAFETY: the caller's own arguments.
    unsafe { libc::prlimit(pid, resource as _, limit, old) }
}

/// `name(RLIMIT_X, soft)` for a message.
fn call(name: &str, resource: i32, limit: *const libc::rlimit) -> String {
    // SAFETY: non-null (checked by the callers), readable.
    let soft = unsafe { (*limit).rlim_cur };
    format!("{name}({}, {soft})", resource_name(resource))
}

fn resource_name(resource: i32) -> String {
    let name = match resource as u32 {
        libc::RLIMIT_NOFILE => "RLIMIT_NOFILE",
        libc::RLIMIT_STACK => "RLIMIT_STACK",
        libc::RLIMIT_AS => "RLIMIT_AS",
        libc::RLIMIT_DATA => "RLIMIT_DATA",
        libc::RLIMIT_NPROC => "RLIMIT_NPROC",
        _ => return format!("resource {resource}"),
    };
    name.to_owned()
}

/// Whether the runtime can work under `limit` for `resource`; why not.
fn check(resource: i32, limit: &libc::rlimit) -> Result<(), String> {
    let soft = limit.rlim_cur;
    if soft == libc::RLIM_INFINITY {
        return Ok(());
    }
    let (need, what) = match resource as u32 {
        libc::RLIMIT_NOFILE => {
            let open = open_descriptors();
            (open + SPARE, format!("{open} descriptors are open"))
        }
        libc::RLIMIT_STACK => (MIB, "threads need at least 1 MiB of stack".to_owned()),
        libc::RLIMIT_AS => {
            let used = status_field("VmSize") * 1024;
            (
                used + GIB,
                format!("{} MiB of address space are in use", used / MIB),
            )
        }
        libc::RLIMIT_DATA => {
            let used = status_field("VmData") * 1024;
            (used + GIB, format!("{} MiB of data are in use", used / MIB))
        }
        libc::RLIMIT_NPROC => {
            let threads = status_field("Threads");
            (threads + SPARE, format!("{threads} threads are running"))
        }
        _ => return Ok(()),
    };
    if soft >= need {
        return Ok(());
    }
    Err(format!(
        "{what}, and the runtime needs at least {need} to keep running every string"
    ))
}

/// Descriptors this process has open.
fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// A number from a line `key:  N …` of `/proc/self/status` (0 if absent).
fn status_field(key: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soft(n: u64) -> libc::rlimit {
        libc::rlimit {
            rlim_cur: n,
            rlim_max: libc::RLIM_INFINITY,
        }
    }

    #[test]
    fn limits_the_runtime_cannot_live_with_are_refused() {
        assert!(check(libc::RLIMIT_NOFILE as i32, &soft(3)).is_err());
        assert!(check(libc::RLIMIT_STACK as i32, &soft(64 << 10)).is_err());
        assert!(check(libc::RLIMIT_AS as i32, &soft(1 << 30)).is_err());
        assert!(check(libc::RLIMIT_NPROC as i32, &soft(1)).is_err());
    }

    #[test]
    fn harmless_limits_pass() {
        assert!(check(libc::RLIMIT_NOFILE as i32, &soft(1 << 20)).is_ok());
        assert!(check(libc::RLIMIT_STACK as i32, &soft(8 << 20)).is_ok());
        assert!(check(libc::RLIMIT_CORE as i32, &soft(0)).is_ok());
        assert!(check(libc::RLIMIT_AS as i32, &soft(libc::RLIM_INFINITY)).is_ok());
    }

    #[test]
    fn the_reason_says_what_is_in_use() {
        let why = check(libc::RLIMIT_NOFILE as i32, &soft(3)).unwrap_err();
        assert!(why.contains("descriptors are open"), "{why}");
        assert_eq!(resource_name(libc::RLIMIT_NOFILE as i32), "RLIMIT_NOFILE");
    }
}
