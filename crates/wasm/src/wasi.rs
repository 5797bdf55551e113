//! The WASI subset (`wasi_snapshot_preview1`), implemented once for both
//! engines.
//!
//! Every call takes the string's [`Wasi`] state and the instance's linear
//! memory as a plain byte slice, so the same code serves wasmtime and wasmi
//! and the state (arguments, environment, which of fds 0–2 are closed) is
//! an ordinary value the runtime can capture and hand to another engine.
//! Output goes to the process's fds 1 and 2, input comes from fd 0: a Wasm
//! string shares them with every other string, as a native one does.
//!
//! Calls outside the subset are bound to a function that ends the string
//! with `not supported: WASI call `NAME`` when (and only if) it is called.

use std::time::{Duration, Instant};

/// WASI error numbers (`errno` in the WASI spec) the subset returns.
pub(crate) mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
}

/// Why a host call ends the Wasm call instead of returning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `proc_exit(status)`.
    Exit(i32),
    /// A call outside the subset (its message says which).
    NotSupported(String),
    /// The string was asked to stop (`weaves stop`, a script's `stop`): it
    /// leaves Wasm code at its next host call.
    Stopped,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Exit(s) => write!(f, "exit status {s}"),
            Stop::NotSupported(what) => f.write_str(what),
            Stop::Stopped => f.write_str("stopped"),
        }
    }
}

impl std::error::Error for Stop {}

/// One string's WASI state: what moves with it from engine to engine.
#[derive(Clone, Debug)]
pub struct Wasi {
    /// The process fds that WASI fds 0, 1, 2 stand for (0, 1, 2 unless
    /// told otherwise).
    pub fds: [i32; 3],
    /// `argv`, program name first.
    pub args: Vec<Vec<u8>>,
    /// `KEY=VALUE` entries.
    pub env: Vec<Vec<u8>>,
    /// Which of fds 0, 1, 2 the program closed (they stay open in the
    /// process: other strings use them).
    pub closed: [bool; 3],
    /// Whether a call that would wait may switch the worker to another
    /// string. Only where the engine keeps no per-thread state across host
    /// calls (wasmi); under wasmtime a wait blocks the worker thread.
    pub may_switch: bool,
}

impl Default for Wasi {
    fn default() -> Wasi {
        Wasi {
            fds: [0, 1, 2],
            args: Vec::new(),
            env: Vec::new(),
            closed: [false; 3],
            may_switch: false,
        }
    }
}

impl Wasi {
    /// WASI state with these arguments (program name first) and
    /// environment (`KEY=VALUE`).
    pub fn new(args: Vec<Vec<u8>>, env: Vec<Vec<u8>>) -> Wasi {
        Wasi {
            args,
            env,
            ..Wasi::default()
        }
    }
}

/// The subset's calls: name, parameter types, result types (`i`: i32,
/// `I`: i64).
pub(crate) const CALLS: &[(&str, &str, &str)] = &[
    ("args_get", "ii", "i"),
    ("args_sizes_get", "ii", "i"),
    ("environ_get", "ii", "i"),
    ("environ_sizes_get", "ii", "i"),
    ("fd_write", "iiii", "i"),
    ("fd_read", "iiii", "i"),
    ("fd_close", "i", "i"),
    ("fd_seek", "iIii", "i"),
    ("fd_fdstat_get", "ii", "i"),
    ("fd_prestat_get", "ii", "i"),
    ("fd_prestat_dir_name", "iii", "i"),
    ("clock_time_get", "iIi", "i"),
    ("clock_res_get", "ii", "i"),
    ("random_get", "ii", "i"),
    ("proc_exit", "i", ""),
    ("sched_yield", "", "i"),
    ("poll_oneoff", "iiii", "i"),
];

/// Bounds-checked little-endian access to linear memory.
struct Mem<'a>(&'a mut [u8]);

impl Mem<'_> {
    fn range(&self, at: u32, len: u32) -> Result<std::ops::Range<usize>, i32> {
        let start = at as usize;
        let end = start.checked_add(len as usize).ok_or(errno::FAULT)?;
        if end > self.0.len() {
            return Err(errno::FAULT);
        }
        Ok(start..end)
    }
    fn bytes(&self, at: u32, len: u32) -> Result<&[u8], i32> {
        let r = self.range(at, len)?;
        Ok(&self.0[r])
    }
    fn bytes_mut(&mut self, at: u32, len: u32) -> Result<&mut [u8], i32> {
        let r = self.range(at, len)?;
        Ok(&mut self.0[r])
    }
    fn u32(&self, at: u32) -> Result<u32, i32> {
        let b = self.bytes(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, at: u32) -> Result<u64, i32> {
        let b = self.bytes(at, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn put(&mut self, at: u32, v: &[u8]) -> Result<(), i32> {
        self.bytes_mut(at, v.len() as u32)?.copy_from_slice(v);
        Ok(())
    }
    fn put_u32(&mut self, at: u32, v: u32) -> Result<(), i32> {
        self.put(at, &v.to_le_bytes())
    }
    fn put_u64(&mut self, at: u32, v: u64) -> Result<(), i32> {
        self.put(at, &v.to_le_bytes())
    }
    /// The `(buf, len)` pairs of an iovec array.
    fn iovecs(&self, at: u32, count: u32) -> Result<Vec<(u32, u32)>, i32> {
        (0..count)
            .map(|k| {
                let e = at.checked_add(k.checked_mul(8).ok_or(errno::FAULT)?);
                let e = e.ok_or(errno::FAULT)?;
                Ok((self.u32(e)?, self.u32(e + 4)?))
            })
            .collect()
    }
}

impl Wasi {
    /// Performs WASI call `name` with `args` (each widened to i64) on
    /// `memory`. Returns the call's result (its errno), or `None` for a call
    /// without one; [`Stop`] ends the Wasm call.
    pub fn call(
        &mut self,
        name: &str,
        args: &[i64],
        memory: &mut [u8],
    ) -> Result<Option<i32>, Stop> {
        let a = |k: usize| args.get(k).copied().unwrap_or(0) as u32;
        let mut m = Mem(memory);
        let r = match name {
            "args_get" => list_get(&self.args, &mut m, a(0), a(1)),
            "args_sizes_get" => list_sizes(&self.args, &mut m, a(0), a(1)),
            "environ_get" => list_get(&self.env, &mut m, a(0), a(1)),
            "environ_sizes_get" => list_sizes(&self.env, &mut m, a(0), a(1)),
            "fd_write" => self.fd_write(&mut m, a(0), a(1), a(2), a(3)),
            "fd_read" => self.fd_read(&mut m, a(0), a(1), a(2), a(3)),
            "fd_close" => self.fd_close(a(0)),
            "fd_seek" => self.fd_seek(&mut m, a(0), args.get(1).copied().unwrap_or(0), a(2), a(3)),
            "fd_fdstat_get" => self.fd_fdstat_get(&mut m, a(0), a(1)),
            // No directories are preopened yet: the scan libc makes at start
            // ends at the first fd.
            "fd_prestat_get" | "fd_prestat_dir_name" => Err(errno::BADF),
            "clock_time_get" => clock_time_get(&mut m, a(0), a(2)),
            "clock_res_get" => clock_res_get(&mut m, a(0), a(1)),
            "random_get" => random_get(&mut m, a(0), a(1)),
            "proc_exit" => return Err(Stop::Exit(a(0) as i32)),
            "sched_yield" => {
                self.yield_now()?;
                Ok(())
            }
            "poll_oneoff" => self.poll_oneoff(&mut m, a(0), a(1), a(2), a(3))?,
            other => return Err(not_supported(other)),
        };
        Ok(Some(match r {
            Ok(()) => errno::SUCCESS,
            Err(e) => e,
        }))
    }

    /// Lets other strings run: switches fibers where that is allowed
    /// ([`Wasi::may_switch`]), else yields the thread. A string asked to
    /// stop stops here.
    pub fn yield_now(&self) -> Result<(), Stop> {
        check_stop()?;
        if self.may_switch {
            weaves_strings::blocking::yield_now();
        } else {
            std::thread::yield_now();
        }
        check_stop()
    }

    fn sleep(&self, d: Duration) {
        if self.may_switch {
            weaves_strings::blocking::sleep_for(d);
        } else {
            std::thread::sleep(d);
        }
    }

    fn std_fd(&self, fd: u32) -> Result<i32, i32> {
        match fd {
            0..=2 if !self.closed[fd as usize] => Ok(self.fds[fd as usize]),
            _ => Err(errno::BADF),
        }
    }

    fn fd_write(
        &mut self,
        m: &mut Mem,
        fd: u32,
        iovs: u32,
        n: u32,
        written: u32,
    ) -> Result<(), i32> {
        if fd == 0 {
            return Err(errno::BADF);
        }
        let fd = self.std_fd(fd)?;
        let mut total: u32 = 0;
        for (buf, len) in m.iovecs(iovs, n)? {
            let data = m.bytes(buf, len)?;
            let mut done = 0;
            while done < data.len() {
                // SAFETY: writes bytes of a live slice to a process fd.
                let w = unsafe { libc::write(fd, data[done..].as_ptr().cast(), data.len() - done) };
                if w < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(host_errno());
                }
                done += w as usize;
            }
            total = total.wrapping_add(len);
        }
        m.put_u32(written, total)
    }

    fn fd_read(&mut self, m: &mut Mem, fd: u32, iovs: u32, n: u32, read: u32) -> Result<(), i32> {
        if fd != 0 {
            return Err(errno::BADF);
        }
        let fd = self.std_fd(fd)?;
        let mut total: u32 = 0;
        for (buf, len) in m.iovecs(iovs, n)? {
            let dest = m.bytes_mut(buf, len)?;
            // SAFETY: reads into a live, writable slice of `dest.len()` bytes.
            let r = unsafe { libc::read(fd, dest.as_mut_ptr().cast(), dest.len()) };
            if r < 0 {
                return Err(host_errno());
            }
            total = total.wrapping_add(r as u32);
            if (r as u32) < len {
                break;
            }
        }
        m.put_u32(read, total)
    }

    fn fd_close(&mut self, fd: u32) -> Result<(), i32> {
        self.std_fd(fd)?;
        self.closed[fd as usize] = true;
        Ok(())
    }

    fn fd_seek(
        &mut self,
        m: &mut Mem,
        fd: u32,
        offset: i64,
        whence: u32,
        out: u32,
    ) -> Result<(), i32> {
        let fd = self.std_fd(fd)?;
        let whence = match whence {
            0 => libc::SEEK_SET,
            1 => libc::SEEK_CUR,
            2 => libc::SEEK_END,
            _ => return Err(errno::INVAL),
        };
        // SAFETY: lseek on one of the process's standard fds.
        let at = unsafe { libc::lseek(fd, offset, whence) };
        if at < 0 {
            return Err(host_errno());
        }
        m.put_u64(out, at as u64)
    }

    fn fd_fdstat_get(&mut self, m: &mut Mem, fd: u32, out: u32) -> Result<(), i32> {
        let fd = self.std_fd(fd)?;
        // SAFETY: a zeroed stat filled in by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat of a process fd into a live struct.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(host_errno());
        }
        let filetype: u8 = match st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => 2,
            libc::S_IFDIR => 3,
            libc::S_IFREG => 4,
            libc::S_IFSOCK => 6,
            libc::S_IFLNK => 7,
            libc::S_IFBLK => 1,
            _ => 0,
        };
        // wasi-libc's isatty: a character device without seek/tell rights.
        // SAFETY: isatty on a process fd.
        let tty = unsafe { libc::isatty(fd) } == 1;
        const FD_SEEK: u64 = 1 << 2;
        const FD_TELL: u64 = 1 << 5;
        let rights = if tty { !(FD_SEEK | FD_TELL) } else { !0u64 };
        let mut rec = [0u8; 24];
        rec[0] = filetype;
        rec[8..16].copy_from_slice(&rights.to_le_bytes());
        rec[16..24].copy_from_slice(&rights.to_le_bytes());
        m.put(out, &rec)
    }

    /// Clock subscriptions only: sleeps until the earliest and reports it.
    fn poll_oneoff(
        &mut self,
        m: &mut Mem,
        subs: u32,
        events: u32,
        n: u32,
        nevents: u32,
    ) -> Result<Result<(), i32>, Stop> {
        let mut earliest: Option<(u64, Duration)> = None;
        for k in 0..n {
            let s = subs + k * 48;
            let (Ok(userdata), Ok(tag)) = (m.u64(s), m.bytes(s + 8, 1).map(|b| b[0])) else {
                return Ok(Err(errno::FAULT));
            };
            if tag != 0 {
                return Err(Stop::NotSupported(
                    "not supported: WASI call `poll_oneoff` waiting on a file descriptor".into(),
                ));
            }
            let (Ok(id), Ok(timeout), Ok(flags)) = (
                m.u32(s + 16),
                m.u64(s + 24),
                m.bytes(s + 40, 2).map(|b| b[0]),
            ) else {
                return Ok(Err(errno::FAULT));
            };
            let wait = if flags & 1 != 0 {
                let now = match clock_ns(id) {
                    Ok(now) => now,
                    Err(e) => return Ok(Err(e)),
                };
                Duration::from_nanos(timeout.saturating_sub(now))
            } else {
                Duration::from_nanos(timeout)
            };
            if earliest.is_none_or(|(_, w)| wait < w) {
                earliest = Some((userdata, wait));
            }
        }
        let Some((userdata, wait)) = earliest else {
            return Ok(Err(errno::INVAL));
        };
        let until = Instant::now() + wait;
        check_stop()?;
        while Instant::now() < until {
            // In slices, so that a stop is noticed within one.
            let slice = until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            self.sleep(slice);
            check_stop()?;
        }
        let mut ev = [0u8; 32];
        ev[0..8].copy_from_slice(&userdata.to_le_bytes());
        // error 0, type 0 (clock)
        Ok(m.put(events, &ev).and_then(|()| m.put_u32(nevents, 1)))
    }
}

/// [`Stop::Stopped`] if the running string was asked to stop.
pub(crate) fn check_stop() -> Result<(), Stop> {
    match weaves_strings::current() {
        Some(ctx)
            if ctx
                .stop_requested
                .load(std::sync::atomic::Ordering::Acquire) =>
        {
            Err(Stop::Stopped)
        }
        _ => Ok(()),
    }
}

/// The trap message of a call outside the subset.
pub(crate) fn not_supported(name: &str) -> Stop {
    Stop::NotSupported(format!("not supported: WASI call `{name}`"))
}

fn list_sizes(list: &[Vec<u8>], m: &mut Mem, count: u32, size: u32) -> Result<(), i32> {
    let bytes: usize = list.iter().map(|e| e.len() + 1).sum();
    m.put_u32(count, list.len() as u32)?;
    m.put_u32(size, bytes as u32)
}

fn list_get(list: &[Vec<u8>], m: &mut Mem, ptrs: u32, buf: u32) -> Result<(), i32> {
    let mut at = buf;
    for (k, e) in list.iter().enumerate() {
        m.put_u32(ptrs + 4 * k as u32, at)?;
        m.put(at, e)?;
        m.put(at + e.len() as u32, &[0])?;
        at += e.len() as u32 + 1;
    }
    Ok(())
}

fn clock_id(id: u32) -> Result<libc::clockid_t, i32> {
    Ok(match id {
        0 => libc::CLOCK_REALTIME,
        1 => libc::CLOCK_MONOTONIC,
        2 => libc::CLOCK_PROCESS_CPUTIME_ID,
        3 => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(errno::INVAL),
    })
}

fn clock_ns(id: u32) -> Result<u64, i32> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime into a live timespec.
    if unsafe { libc::clock_gettime(clock_id(id)?, &mut ts) } != 0 {
        return Err(host_errno());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn clock_time_get(m: &mut Mem, id: u32, out: u32) -> Result<(), i32> {
    let ns = clock_ns(id)?;
    m.put_u64(out, ns)
}

fn clock_res_get(m: &mut Mem, id: u32, out: u32) -> Result<(), i32> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_getres into a live timespec.
    if unsafe { libc::clock_getres(clock_id(id)?, &mut ts) } != 0 {
        return Err(host_errno());
    }
    m.put_u64(out, ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn random_get(m: &mut Mem, buf: u32, len: u32) -> Result<(), i32> {
    let dest = m.bytes_mut(buf, len)?;
    let mut done = 0;
    while done < dest.len() {
        // SAFETY: fills a live, writable slice.
        let r = unsafe { libc::getrandom(dest[done..].as_mut_ptr().cast(), dest.len() - done, 0) };
        if r < 0 {
            return Err(host_errno());
        }
        done += r as usize;
    }
    Ok(())
}

/// The WASI errno for the host's `errno`.
fn host_errno() -> i32 {
    match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
        libc::EBADF => errno::BADF,
        libc::EINVAL => errno::INVAL,
        libc::ESPIPE => 70,
        libc::EAGAIN => 6,
        libc::EINTR => 27,
        libc::EIO => 29,
        libc::EPIPE => 64,
        libc::ENOSPC => 51,
        _ => 29,
    }
}
