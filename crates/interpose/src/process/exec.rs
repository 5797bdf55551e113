//! The `exec` family from bead code.
//!
//! `execve` replaces the calling *process*; in a tapestry that is the
//! runtime and every string in it. So in the tapestry process every `exec`
//! call from bead code fails with `ENOTSUP`, after one line on stderr
//! naming the string, its bead and the program it tried to run; the
//! program's own error path runs (`perror("execv")`, `_exit(127)`, …) and
//! the rest of the tapestry goes on. To run another program, bead code
//! forks first (or uses `posix_spawn`, `system`, `popen`): in a forked
//! child every `exec` is the C library's and works as usual.
//!
//! Replacing only the calling string's program (loading the new program
//! as a bead in its place) was the alternative: it would need every
//! executable on the system to be loadable as a bead, which PIE
//! executables with thread-locals, for one, are not.
//!
//! `execl`, `execle` and `execlp` are variadic, which Rust cannot define,
//! so every member of the family enters through one assembly stub that
//! keeps the argument registers, asks [`gate`] whether to go on, and then
//! either jumps to the C library's function with the arguments untouched
//! or returns -1:
//!
//! ```text
//!   push rdi rsi rdx rcx r8 r9 rax      (rax: vector-register count of a
//!   gate(which, rdi, rsi)                variadic call; 7 pushes realign
//!   pop  rax r9 r8 rcx rdx rsi rdi       the stack for the call)
//!   gate said go → jmp libc's function     else → eax = -1, ret
//! ```

use weaves_strings::forked::in_forked_child;

use super::{c_text, refuse};

/// How each member names the program it runs.
#[derive(Clone, Copy)]
enum Names {
    /// The first argument is a path or file name.
    Path,
    /// The first argument is a descriptor (`fexecve`).
    Descriptor,
    /// A directory descriptor and a path (`execveat`).
    DirAndPath,
}

/// The family, indexed by the stubs' first argument to [`gate`].
const FAMILY: [(&str, Names); 9] = [
    ("execve", Names::Path),
    ("execv", Names::Path),
    ("execvp", Names::Path),
    ("execvpe", Names::Path),
    ("execl", Names::Path),
    ("execle", Names::Path),
    ("execlp", Names::Path),
    ("fexecve", Names::Descriptor),
    ("execveat", Names::DirAndPath),
];

macro_rules! exec_stub {
    ($stub:ident, $index:literal, $real:path) => {
        std::arch::global_asm!(
            concat!(".globl ", stringify!($stub)),
            concat!(".hidden ", stringify!($stub)),
            concat!(stringify!($stub), ":"),
            "push rdi",
            "push rsi",
            "push rdx",
            "push rcx",
            "push r8",
            "push r9",
            "push rax",
            "mov rdx, rsi",
            "mov rsi, rdi",
            concat!("mov edi, ", $index),
            "call {gate}",
            "test eax, eax",
            "pop rax",
            "pop r9",
            "pop r8",
            "pop rcx",
            "pop rdx",
            "pop rsi",
            "pop rdi",
            concat!("jnz .Lrefused_", stringify!($stub)),
            "jmp {real}",
            concat!(".Lrefused_", stringify!($stub), ":"),
            "mov eax, -1",
            "ret",
            gate = sym gate,
            real = sym $real,
        );
        extern "C" {
            fn $stub();
        }
    };
}

exec_stub!(weaves_execve, 0, libc::execve);
exec_stub!(weaves_execv, 1, libc::execv);
exec_stub!(weaves_execvp, 2, libc::execvp);
exec_stub!(weaves_execvpe, 3, libc::execvpe);
exec_stub!(weaves_execl, 4, libc::execl);
exec_stub!(weaves_execle, 5, libc::execle);
exec_stub!(weaves_execlp, 6, libc::execlp);
exec_stub!(weaves_fexecve, 7, libc::fexecve);
exec_stub!(weaves_execveat, 8, libc::execveat);

pub(super) fn lookup(name: &str) -> Option<usize> {
    let stub: unsafe extern "C" fn() = match name {
        "execve" => weaves_execve,
        "execv" => weaves_execv,
        "execvp" => weaves_execvp,
        "execvpe" => weaves_execvpe,
        "execl" => weaves_execl,
        "execle" => weaves_execle,
        "execlp" => weaves_execlp,
        "fexecve" => weaves_fexecve,
        "execveat" => weaves_execveat,
        _ => return None,
    };
    Some(stub as *const () as usize)
}

/// Whether the exec may go on: 0 in a forked child; otherwise 1, after one
/// line and `errno = ENOTSUP`. `first` and `second` are the call's first
/// two arguments.
extern "C" fn gate(which: u32, first: usize, second: usize) -> i32 {
    if in_forked_child() {
        return 0;
    }
    let (name, names) = FAMILY[which as usize % FAMILY.len()];
    let program = match names {
        Names::Path => c_text(first as *const libc::c_char),
        Names::Descriptor => descriptor_target(first as i32),
        Names::DirAndPath => c_text(second as *const libc::c_char),
    };
    refuse(
        &format!("{name}(\"{program}\")"),
        libc::ENOTSUP,
        "exec would replace the whole tapestry; fork first and exec in the child, or use posix_spawn",
    );
    1
}

/// What descriptor `fd` refers to, for a message.
fn descriptor_target(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| format!("descriptor {fd}"))
}
