//! The option parser behind `getopt`, `getopt_long`, `getopt_long_only`
//! and `__posix_getopt`, with its state held by the caller — one per bead.
//!
//! glibc keeps getopt's position (the next character inside a cluster such
//! as `-abc`, and where permuted non-options lie) in a static inside libc
//! that no exported function lets a caller save or swap, so beads sharing
//! libc would share it. This is glibc's algorithm — same ordering rules
//! (`+`, `-`, `POSIXLY_CORRECT`), same permutation of `argv`, same long
//! option matching and abbreviations, same messages — over a [`State`]
//! the runtime keeps per bead.

use std::ffi::CStr;

/// What glibc calls `__ordering`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Ordering {
    #[default]
    Permute,
    RequireOrder,
    ReturnInOrder,
}

/// One parser's state (glibc's `struct _getopt_data`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct State {
    pub optind: i32,
    pub optopt: i32,
    /// Set by the last call (null when the option took no argument).
    pub optarg: usize,
    initialized: bool,
    /// Address of the next option character inside the current element;
    /// 0 when none.
    nextchar: usize,
    ordering: Ordering,
    first_nonopt: i32,
    last_nonopt: i32,
}

/// `struct option` of `<getopt.h>`.
#[repr(C)]
pub(crate) struct LongOption {
    pub name: *const libc::c_char,
    pub has_arg: i32,
    pub flag: *mut i32,
    pub val: i32,
}

/// One call's inputs.
pub(crate) struct Call<'a> {
    pub argc: i32,
    pub argv: *mut *mut libc::c_char,
    pub optstring: &'a [u8],
    /// Null-terminated array, or null.
    pub longopts: *const LongOption,
    pub longind: *mut i32,
    pub long_only: bool,
    pub posixly_correct: bool,
    pub print_errors: bool,
}

/// Where error messages go.
pub(crate) trait Errors {
    fn line(&mut self, text: &str);
}

fn byte_at(p: usize) -> u8 {
    // SAFETY: callers pass addresses inside NUL-terminated argv strings
    // (at most at their terminator).
    unsafe { *(p as *const u8) }
}

fn cstr_at(p: usize) -> String {
    // SAFETY: as for `byte_at`: a NUL-terminated string.
    unsafe { CStr::from_ptr(p as *const libc::c_char) }
        .to_string_lossy()
        .into_owned()
}

impl Call<'_> {
    fn arg(&self, i: i32) -> usize {
        // SAFETY: 0 <= i < argc, and argv holds argc pointers (C's contract
        // for getopt's arguments).
        unsafe { *self.argv.add(i as usize) as usize }
    }

    fn set_arg(&self, i: i32, p: usize) {
        // SAFETY: as for `arg`; getopt may permute argv (glibc does).
        unsafe { *self.argv.add(i as usize) = p as *mut libc::c_char };
    }

    fn prog(&self) -> String {
        if self.argc > 0 && self.arg(0) != 0 {
            cstr_at(self.arg(0))
        } else {
            String::new()
        }
    }

    fn is_nonoption(&self, i: i32) -> bool {
        let a = self.arg(i);
        byte_at(a) != b'-' || byte_at(a + 1) == 0
    }

    fn short_spec(&self, c: u8) -> Option<usize> {
        self.optstring.iter().position(|&x| x == c)
    }

    fn long(&self, k: usize) -> &LongOption {
        // SAFETY: k is below the index of the array's terminating entry.
        unsafe { &*self.longopts.add(k) }
    }

    fn long_count(&self) -> usize {
        let mut n = 0;
        while !self.long(n).name.is_null() {
            n += 1;
        }
        n
    }
}

/// Swaps the non-options seen so far with the options after them.
fn exchange(c: &Call<'_>, d: &mut State) {
    let mut bottom = d.first_nonopt;
    let middle = d.last_nonopt;
    let mut top = d.optind;
    while top > middle && middle > bottom {
        if top - middle > middle - bottom {
            let len = middle - bottom;
            for i in 0..len {
                let t = c.arg(bottom + i);
                c.set_arg(bottom + i, c.arg(top - (middle - bottom) + i));
                c.set_arg(top - (middle - bottom) + i, t);
            }
            top -= len;
        } else {
            let len = top - middle;
            for i in 0..len {
                let t = c.arg(bottom + i);
                c.set_arg(bottom + i, c.arg(middle + i));
                c.set_arg(middle + i, t);
            }
            bottom += len;
        }
    }
    d.first_nonopt += d.optind - d.last_nonopt;
    d.last_nonopt = d.optind;
}

/// Runs one getopt call: the option character (or 0, 1, '?', ':' or -1, as
/// glibc returns them).
pub(crate) fn next(c: &mut Call<'_>, d: &mut State, err: &mut dyn Errors) -> i32 {
    if c.argc < 1 {
        return -1;
    }
    d.optarg = 0;
    let mut opts = c.optstring;
    if d.optind == 0 || !d.initialized {
        if d.optind == 0 {
            d.optind = 1;
        }
        d.first_nonopt = d.optind;
        d.last_nonopt = d.optind;
        d.nextchar = 0;
        d.ordering = match opts.first() {
            Some(b'-') => Ordering::ReturnInOrder,
            Some(b'+') => Ordering::RequireOrder,
            _ if c.posixly_correct => Ordering::RequireOrder,
            _ => Ordering::Permute,
        };
        d.initialized = true;
    }
    if matches!(opts.first(), Some(b'-' | b'+')) {
        opts = &opts[1..];
    }
    c.optstring = opts;
    if opts.first() == Some(&b':') {
        c.print_errors = false;
    }

    if d.nextchar == 0 || byte_at(d.nextchar) == 0 {
        if d.last_nonopt > d.optind {
            d.last_nonopt = d.optind;
        }
        if d.first_nonopt > d.optind {
            d.first_nonopt = d.optind;
        }
        if d.ordering == Ordering::Permute {
            if d.first_nonopt != d.last_nonopt && d.last_nonopt != d.optind {
                exchange(c, d);
            } else if d.last_nonopt != d.optind {
                d.first_nonopt = d.optind;
            }
            while d.optind < c.argc && c.is_nonoption(d.optind) {
                d.optind += 1;
            }
            d.last_nonopt = d.optind;
        }
        if d.optind != c.argc && cstr_at(c.arg(d.optind)) == "--" {
            d.optind += 1;
            if d.first_nonopt != d.last_nonopt && d.last_nonopt != d.optind {
                exchange(c, d);
            } else if d.first_nonopt == d.last_nonopt {
                d.first_nonopt = d.optind;
            }
            d.last_nonopt = c.argc;
            d.optind = c.argc;
        }
        if d.optind == c.argc {
            if d.first_nonopt != d.last_nonopt {
                d.optind = d.first_nonopt;
            }
            return -1;
        }
        if c.is_nonoption(d.optind) {
            if d.ordering == Ordering::RequireOrder {
                return -1;
            }
            d.optarg = c.arg(d.optind);
            d.optind += 1;
            return 1;
        }
        let a = c.arg(d.optind);
        if !c.longopts.is_null() {
            if byte_at(a + 1) == b'-' {
                d.nextchar = a + 2;
                return long_option(c, d, err, "--");
            }
            if c.long_only && (byte_at(a + 2) != 0 || c.short_spec(byte_at(a + 1)).is_none()) {
                d.nextchar = a + 1;
                let code = long_option(c, d, err, "-");
                if code != -1 {
                    return code;
                }
            }
        }
        d.nextchar = a + 1;
    }
    short_option(c, d, err)
}

fn missing_argument(c: &Call<'_>, d: &mut State, err: &mut dyn Errors, ch: u8) -> i32 {
    if c.print_errors {
        err.line(&format!(
            "{}: option requires an argument -- '{}'",
            c.prog(),
            ch as char
        ));
    }
    d.optopt = i32::from(ch);
    if c.optstring.first() == Some(&b':') {
        i32::from(b':')
    } else {
        i32::from(b'?')
    }
}

fn short_option(c: &mut Call<'_>, d: &mut State, err: &mut dyn Errors) -> i32 {
    let ch = byte_at(d.nextchar);
    d.nextchar += 1;
    let spec = c.short_spec(ch);
    if byte_at(d.nextchar) == 0 {
        d.optind += 1;
    }
    let Some(at) = spec.filter(|_| ch != b':' && ch != b';') else {
        if c.print_errors {
            err.line(&format!("{}: invalid option -- '{}'", c.prog(), ch as char));
        }
        d.optopt = i32::from(ch);
        return i32::from(b'?');
    };
    let after = |k: usize| c.optstring.get(at + k).copied();
    if ch == b'W' && after(1) == Some(b';') && !c.longopts.is_null() {
        let word = if byte_at(d.nextchar) != 0 {
            d.nextchar
        } else if d.optind == c.argc {
            return missing_argument(c, d, err, ch);
        } else {
            c.arg(d.optind)
        };
        d.nextchar = word;
        d.optarg = 0;
        c.long_only = false;
        return long_option(c, d, err, "-W ");
    }
    if after(1) == Some(b':') {
        if after(2) == Some(b':') {
            if byte_at(d.nextchar) != 0 {
                d.optarg = d.nextchar;
                d.optind += 1;
            } else {
                d.optarg = 0;
            }
        } else if byte_at(d.nextchar) != 0 {
            d.optarg = d.nextchar;
            d.optind += 1;
        } else if d.optind == c.argc {
            d.nextchar = 0;
            return missing_argument(c, d, err, ch);
        } else {
            d.optarg = c.arg(d.optind);
            d.optind += 1;
        }
        d.nextchar = 0;
    }
    i32::from(ch)
}

fn long_option(c: &mut Call<'_>, d: &mut State, err: &mut dyn Errors, prefix: &str) -> i32 {
    let start = d.nextchar;
    let mut end = start;
    while byte_at(end) != 0 && byte_at(end) != b'=' {
        end += 1;
    }
    let written = &cstr_at(start)[..end - start];
    let n = c.long_count();
    let name = |k: usize| {
        // SAFETY: long option names are NUL-terminated C strings.
        unsafe { CStr::from_ptr(c.long(k).name) }
            .to_string_lossy()
            .into_owned()
    };
    let mut found = (0..n).find(|&k| name(k) == written);
    if found.is_none() {
        let mut ambiguous: Vec<usize> = Vec::new();
        let mut first: Option<usize> = None;
        for k in 0..n {
            if !name(k).starts_with(written) {
                continue;
            }
            match first {
                None => first = Some(k),
                Some(f) => {
                    let (p, q) = (c.long(f), c.long(k));
                    if c.long_only || p.has_arg != q.has_arg || p.flag != q.flag || p.val != q.val {
                        if ambiguous.is_empty() {
                            ambiguous.push(f);
                        }
                        ambiguous.push(k);
                    }
                }
            }
        }
        if !ambiguous.is_empty() {
            if c.print_errors {
                let mut text = format!(
                    "{}: option '{prefix}{}' is ambiguous; possibilities:",
                    c.prog(),
                    cstr_at(start)
                );
                for k in ambiguous {
                    text.push_str(&format!(" '{prefix}{}'", name(k)));
                }
                err.line(&text);
            }
            d.nextchar = 0;
            d.optind += 1;
            d.optopt = 0;
            return i32::from(b'?');
        }
        found = first;
    }
    let Some(k) = found else {
        let a = c.arg(d.optind);
        if !c.long_only || byte_at(a + 1) == b'-' || c.short_spec(byte_at(start)).is_none() {
            if c.print_errors {
                err.line(&format!(
                    "{}: unrecognized option '{prefix}{}'",
                    c.prog(),
                    cstr_at(start)
                ));
            }
            d.nextchar = 0;
            d.optind += 1;
            d.optopt = 0;
            return i32::from(b'?');
        }
        return -1;
    };
    let opt = c.long(k);
    let (has_arg, flag, val) = (opt.has_arg, opt.flag, opt.val);
    d.optind += 1;
    d.nextchar = 0;
    if byte_at(end) == b'=' {
        if has_arg != 0 {
            d.optarg = end + 1;
        } else {
            if c.print_errors {
                err.line(&format!(
                    "{}: option '{prefix}{}' doesn't allow an argument",
                    c.prog(),
                    name(k)
                ));
            }
            d.optopt = val;
            return i32::from(b'?');
        }
    } else if has_arg == 1 {
        if d.optind < c.argc {
            d.optarg = c.arg(d.optind);
            d.optind += 1;
        } else {
            if c.print_errors {
                err.line(&format!(
                    "{}: option '{prefix}{}' requires an argument",
                    c.prog(),
                    name(k)
                ));
            }
            d.optopt = val;
            return if c.optstring.first() == Some(&b':') {
                i32::from(b':')
            } else {
                i32::from(b'?')
            };
        }
    }
    if !c.longind.is_null() {
        // SAFETY: the caller's `longindex` pointer (C's contract).
        unsafe { *c.longind = k as i32 };
    }
    if !flag.is_null() {
        // SAFETY: the option's `flag` pointer, supplied by the program.
        unsafe { *flag = val };
        return 0;
    }
    val
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    struct Collect(Vec<String>);
    impl Errors for Collect {
        fn line(&mut self, text: &str) {
            self.0.push(text.to_owned());
        }
    }

    /// Runs getopt over `args` to the end: (results, optargs, final optind,
    /// argv afterwards, messages).
    fn run(
        args: &[&str],
        opts: &str,
        posix: bool,
    ) -> (String, Vec<String>, i32, Vec<String>, Vec<String>) {
        let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*mut libc::c_char> = owned.iter().map(|a| a.as_ptr() as *mut _).collect();
        argv.push(std::ptr::null_mut());
        let mut d = State::default();
        let mut out = String::new();
        let mut optargs = Vec::new();
        let mut errs = Collect(Vec::new());
        loop {
            let mut c = Call {
                argc: args.len() as i32,
                argv: argv.as_mut_ptr(),
                optstring: opts.as_bytes(),
                longopts: std::ptr::null(),
                longind: std::ptr::null_mut(),
                long_only: false,
                posixly_correct: posix,
                print_errors: true,
            };
            let r = next(&mut c, &mut d, &mut errs);
            if r == -1 {
                break;
            }
            out.push(char::from(r as u8));
            if d.optarg != 0 {
                optargs.push(cstr_at(d.optarg));
            }
        }
        let after = argv[..args.len()]
            .iter()
            .map(|&p| cstr_at(p as usize))
            .collect();
        (out, optargs, d.optind, after, errs.0)
    }

    #[test]
    fn clusters_arguments_and_permutation_as_glibc() {
        let (out, optargs, optind, after, errs) =
            run(&["prog", "-ab", "file", "-c", "x", "-d"], "abc:d", false);
        assert_eq!(out, "abcd");
        assert_eq!(optargs, ["x"]);
        assert_eq!(after, ["prog", "-ab", "-c", "x", "-d", "file"]);
        assert_eq!(optind, 5);
        assert!(errs.is_empty());
    }

    #[test]
    fn posix_order_stops_at_the_first_non_option() {
        let (out, _, optind, _, _) = run(&["prog", "-a", "file", "-b"], "ab", true);
        assert_eq!(out, "a");
        assert_eq!(optind, 2);
    }

    #[test]
    fn errors_read_as_glibc_writes_them() {
        let (out, _, _, _, errs) = run(&["prog", "-x", "-c"], "c:", false);
        assert_eq!(out, "??");
        assert_eq!(
            errs,
            [
                "prog: invalid option -- 'x'",
                "prog: option requires an argument -- 'c'"
            ]
        );
        let (out, _, _, _, errs) = run(&["prog", "-c"], ":c:", false);
        assert_eq!(out, ":");
        assert!(errs.is_empty());
    }
}
