//! # Process-wide calls made by bead code
//!
//! A tapestry is one process, and a bead's program believes it is one too.
//! Calls that act on the whole process would, passed through unchanged,
//! act on every string of the tapestry: `fork` would copy a scheduler
//! whose worker threads do not exist in the child, `execve` would replace
//! the runtime, `setrlimit(RLIMIT_NOFILE, 3)` or `close(1)` would starve
//! every string. Each call below gets a defined meaning instead
//! (docs/process-semantics.md has the table users read):
//!
//! | module | calls | meaning |
//! |---|---|---|
//! | [`fork`] | `fork`, `vfork`, `_Fork` | POSIX: the child continues with the calling string alone, as an ordinary single-threaded program |
//! | [`atfork`] | `pthread_atfork` | the process's handlers, as natively; they go with their bead |
//! | [`wait`] | `wait`, `waitpid`, `wait3`, `wait4`, `waitid` | park the string; "any child" means the bead's own children |
//! | [`spawn`] | `posix_spawn(p)`, `system`, `daemon` | children are the bead's; waiting for them parks; `daemon` is refused |
//! | [`popen`] | `popen`, `pclose` | the wait for the command parks |
//! | [`exec`] | the `exec` family | refused in the tapestry (`ENOTSUP`, one line); native in a forked child |
//! | [`limits`] | `setrlimit`, `prlimit` | limits the runtime cannot live with are refused (`EPERM`, one line) |
//! | [`stdfds`] | `close`, `dup2`, `dup3`, `close_range`, `closefrom`, `fclose`, `freopen` | descriptors 0–2 belong to every string: not closed or replaced |
//!
//! In a forked child ([`weaves_strings::forked`]) every one of these is the
//! C library's own: the child is an ordinary process.
//!
//! Every refusal writes one line to stderr naming the string, its bead and
//! what was asked, and sets `errno`, so the program's own error handling
//! runs as it would on a system that refused the call.

mod atfork;
mod exec;
mod fork;
mod limits;
mod popen;
mod shared_streams;
mod spawn;
mod stdfds;
mod wait;

use weaves_strings::{current, RuntimeSection};

pub use stdfds::standard_output_lost;

extern "C" {
    static mut stdin: *mut libc::FILE;
    static mut stdout: *mut libc::FILE;
    static mut stderr: *mut libc::FILE;
}

/// Forgets the fork handlers bead `owner` registered (it is going).
pub(crate) fn forget_bead(owner: weaves_arena::OwnerId) {
    atfork::forget_bead(owner);
}

/// Registers the runtime's fork handlers. Call at start-up, before any
/// bead exists (see `fork`).
pub(crate) fn install_fork_handlers() {
    fork::install();
}

/// The runtime's definition of `name` for bead code, if it is one of the
/// process-wide calls this module gives a meaning.
pub(crate) fn lookup(name: &str) -> Option<u64> {
    fork::lookup(name)
        .or_else(|| atfork::lookup(name))
        .or_else(|| wait::lookup(name))
        .or_else(|| spawn::lookup(name))
        .or_else(|| popen::lookup(name))
        .or_else(|| exec::lookup(name))
        .or_else(|| limits::lookup(name))
        .or_else(|| stdfds::lookup(name))
        .or_else(|| shared_streams::lookup(name))
        .map(|a| a as u64)
}

/// The calling string and its home bead, for a refusal's line.
fn who() -> String {
    let _rt = RuntimeSection::enter();
    match current() {
        Some(ctx) => {
            let bead = crate::phdr::bead_name(ctx.info.home)
                .unwrap_or_else(|| format!("#{}", ctx.info.home));
            format!("string `{}` (bead `{bead}`)", ctx.info.name)
        }
        None => "bead code outside strings".to_owned(),
    }
}

/// Writes one line to stderr with `write(2)`: no stdio buffer or Rust lock
/// that another string might hold.
fn say(line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        // SAFETY: writing our own buffer to descriptor 2.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Refuses a call: one line naming the caller and what it asked, and
/// `errno = code`.
fn refuse(what: &str, code: i32, why: &str) {
    say(&format!(
        "weaves: {} called {what}: refused ({}): {why}",
        who(),
        errno_name(code)
    ));
    set_errno(code);
}

fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EPERM => "EPERM",
        libc::ENOTSUP => "ENOTSUP",
        libc::EINVAL => "EINVAL",
        _ => "error",
    }
}

fn set_errno(code: i32) {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = code };
}

fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// The C string at `p`, lossily, for a message (`"(null)"` for NULL).
fn c_text(p: *const libc::c_char) -> String {
    if p.is_null() {
        return "(null)".to_owned();
    }
    // SAFETY: C passes a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// The home bead of the calling string (0 outside strings): the program
/// whose children, exit handlers and streams a call concerns.
fn home_bead() -> weaves_arena::OwnerId {
    current().map_or(0, |c| c.info.home)
}
