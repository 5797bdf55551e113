//! Message interfaces (POLYLITH): `wv_send`, `wv_recv`, `wv_poll`.
//!
//! A bead's **interfaces** are names it sends on or receives from; the
//! tapestry's `[[binding]]`s connect an out-interface `bead.iface` to an
//! in-interface `bead.iface`. Each in-interface has one queue. Delivery is
//! asynchronous: `wv_send` copies the message into the bound queue and
//! returns; `wv_recv` takes the oldest message, parking the string (not its
//! worker) while the queue is empty. Several out-interfaces may be bound to
//! one in-interface (fan-in); an out-interface is bound to at most one.
//!
//! Which bead is sending or receiving is the bead whose code made the call,
//! found from its return address (as `wv_bead_name` does): a string that
//! runs through several beads of its weave speaks for whichever bead it is
//! in.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use weaves_arena::OwnerId;
use weaves_strings::blocking::{current_task, park, park_until};
use weaves_strings::{RuntimeSection, Task};

/// One in-interface's queue.
#[derive(Default)]
pub struct InPort {
    state: Mutex<PortState>,
}

#[derive(Default)]
struct PortState {
    messages: VecDeque<Box<[u8]>>,
    waiters: VecDeque<Arc<Task>>,
    delivered: u64,
}

impl InPort {
    fn push(&self, message: Box<[u8]>) {
        let waiter = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.messages.push_back(message);
            s.waiters.pop_front()
        };
        if let Some(t) = waiter {
            t.wake();
        }
    }

    /// Messages queued now.
    pub fn depth(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .messages
            .len()
    }

    /// Messages taken by receivers so far.
    pub fn delivered(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .delivered
    }
}

type PortKey = (OwnerId, String);

#[derive(Default)]
struct Ports {
    /// Out-interface -> the in-interface it is bound to.
    bound: HashMap<PortKey, Arc<InPort>>,
    /// Every in-interface that has a queue.
    inbound: HashMap<PortKey, Arc<InPort>>,
}

static PORTS: RwLock<Option<Ports>> = RwLock::new(None);

/// Binds out-interface `from` to in-interface `to` (made if new), and
/// returns the in-interface's queue. Refuses a second binding of `from`.
pub fn bind(from: (OwnerId, &str), to: (OwnerId, &str)) -> Result<Arc<InPort>, String> {
    let _rt = RuntimeSection::enter();
    let mut g = PORTS.write().unwrap_or_else(|e| e.into_inner());
    let ports = g.get_or_insert_with(Ports::default);
    let from = (from.0, from.1.to_owned());
    if ports.bound.contains_key(&from) {
        return Err(format!("interface `{}` is bound already", from.1));
    }
    let port = ports
        .inbound
        .entry((to.0, to.1.to_owned()))
        .or_default()
        .clone();
    ports.bound.insert(from, port.clone());
    Ok(port)
}

/// Removes the binding of out-interface `from`; false if it had none.
/// Messages already queued stay in the in-interface's queue.
pub fn unbind(from: (OwnerId, &str)) -> bool {
    let _rt = RuntimeSection::enter();
    let mut g = PORTS.write().unwrap_or_else(|e| e.into_inner());
    g.as_mut()
        .is_some_and(|p| p.bound.remove(&(from.0, from.1.to_owned())).is_some())
}

fn bound_port(from: &PortKey) -> Option<Arc<InPort>> {
    let g = PORTS.read().unwrap_or_else(|e| e.into_inner());
    g.as_ref()?.bound.get(from).cloned()
}

fn in_port(at: &PortKey) -> Option<Arc<InPort>> {
    let g = PORTS.read().unwrap_or_else(|e| e.into_inner());
    g.as_ref()?.inbound.get(at).cloned()
}

/// The interface name C passed, or `None` (EINVAL) if null or not UTF-8.
///
/// # Safety
/// `iface` is null or a NUL-terminated string.
unsafe fn iface_name(iface: *const libc::c_char) -> Option<String> {
    if iface.is_null() {
        return None;
    }
    // SAFETY: caller contract.
    let name = unsafe { std::ffi::CStr::from_ptr(iface) };
    name.to_str().ok().map(str::to_owned)
}

fn fail(errno: i32) -> isize {
    // SAFETY: errno is thread-local and always writable.
    unsafe { *libc::__errno_location() = errno };
    -1
}

std::arch::global_asm!(
    ".globl weaves_wv_send",
    ".hidden weaves_wv_send",
    "weaves_wv_send:",
    "mov rcx, qword ptr [rsp]",
    "jmp {send}",
    ".globl weaves_wv_recv",
    ".hidden weaves_wv_recv",
    "weaves_wv_recv:",
    "mov rcx, qword ptr [rsp]",
    "jmp {recv}",
    ".globl weaves_wv_poll",
    ".hidden weaves_wv_poll",
    "weaves_wv_poll:",
    "mov rsi, qword ptr [rsp]",
    "jmp {poll}",
    send = sym send_from,
    recv = sym recv_from,
    poll = sym poll_from,
);

extern "C" {
    /// `long wv_send(const char *iface, const void *buf, size_t len)`.
    pub(crate) fn weaves_wv_send();
    /// `long wv_recv(const char *iface, void *buf, size_t cap)`.
    pub(crate) fn weaves_wv_recv();
    /// `long wv_poll(const char *iface)`.
    pub(crate) fn weaves_wv_poll();
}

/// The bead whose code is at `ret`.
fn caller(ret: u64) -> OwnerId {
    weaves_arena::owner_of(ret as usize).unwrap_or(0)
}

/// `wv_recv` reached through a checkpointable stub (the return address is
/// in the boundary record rather than on the stack).
///
/// # Safety
/// As `wv_recv`: `iface` is a C string and `buf` has `cap` writable bytes.
pub(crate) unsafe fn recv_with_return(
    iface: *const libc::c_char,
    buf: *mut u8,
    cap: usize,
    ret: u64,
) -> isize {
    // SAFETY: caller contract.
    unsafe { recv_from(iface, buf, cap, ret) }
}

/// Every in-interface's queued messages and delivery count, for a
/// checkpoint (taken while strings are at rest: none is half-way through a
/// send or receive).
pub fn queued() -> Vec<(OwnerId, String, Vec<Vec<u8>>, u64)> {
    let g = PORTS.read().unwrap_or_else(|e| e.into_inner());
    let Some(ports) = g.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<_> = ports
        .inbound
        .iter()
        .map(|((owner, name), port)| {
            let s = port.state.lock().unwrap_or_else(|e| e.into_inner());
            (
                *owner,
                name.clone(),
                s.messages.iter().map(|m| m.to_vec()).collect(),
                s.delivered,
            )
        })
        .collect();
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out
}

/// Puts checkpointed messages back into in-interface `at`'s queue (made if
/// the rebuilt tapestry had not bound it), behind nothing: the queue must
/// be empty, as a freshly built tapestry's are.
pub fn refill(at: (OwnerId, &str), messages: Vec<Vec<u8>>, delivered: u64) {
    let _rt = RuntimeSection::enter();
    let mut g = PORTS.write().unwrap_or_else(|e| e.into_inner());
    let port = g
        .get_or_insert_with(Ports::default)
        .inbound
        .entry((at.0, at.1.to_owned()))
        .or_default()
        .clone();
    drop(g);
    let mut s = port.state.lock().unwrap_or_else(|e| e.into_inner());
    s.messages = messages.into_iter().map(Vec::into_boxed_slice).collect();
    s.delivered = delivered;
}

/// Returns `len`, or -1 with errno: EINVAL (bad arguments), ENOTCONN (the
/// interface is not bound).
unsafe extern "C" fn send_from(
    iface: *const libc::c_char,
    buf: *const u8,
    len: usize,
    ret: u64,
) -> isize {
    weaves_strings::blocking::preempt_point();
    let _rt = RuntimeSection::enter();
    // SAFETY: C passes a NUL-terminated name (or null, refused).
    let Some(name) = (unsafe { iface_name(iface) }) else {
        return fail(libc::EINVAL);
    };
    if (buf.is_null() && len > 0) || isize::try_from(len).is_err() {
        return fail(libc::EINVAL);
    }
    let Some(port) = bound_port(&(caller(ret), name)) else {
        return fail(libc::ENOTCONN);
    };
    let message: Box<[u8]> = if len == 0 {
        Box::default()
    } else {
        // SAFETY: the caller passes `len` readable bytes at `buf`.
        unsafe { std::slice::from_raw_parts(buf, len) }.into()
    };
    port.push(message);
    len as isize
}

/// Waits for a message on in-interface `iface` of the calling bead and
/// copies it to `buf`. Returns its length, or -1 with errno: EINVAL (bad
/// arguments), ENOTCONN (nothing is bound to the interface), EMSGSIZE (the
/// message is longer than `cap`; it stays queued).
unsafe extern "C" fn recv_from(
    iface: *const libc::c_char,
    buf: *mut u8,
    cap: usize,
    ret: u64,
) -> isize {
    // A reconfiguration point: a string asked to stop stops here, before
    // taking a message (it holds none in flight).
    weaves_strings::stop_point();
    weaves_strings::blocking::preempt_point();
    // SAFETY: C passes a NUL-terminated name (or null, refused).
    let Some(name) = (unsafe { iface_name(iface) }) else {
        return fail(libc::EINVAL);
    };
    if buf.is_null() && cap > 0 {
        return fail(libc::EINVAL);
    }
    let Some(port) = in_port(&(caller(ret), name)) else {
        return fail(libc::ENOTCONN);
    };
    let task = current_task();
    loop {
        {
            let _rt = RuntimeSection::enter();
            let mut s = port.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(first) = s.messages.front() {
                let n = first.len();
                if n > cap {
                    return fail(libc::EMSGSIZE);
                }
                let message = s.messages.pop_front().expect("a first message");
                s.delivered += 1;
                drop(s);
                // SAFETY: the caller passes `cap >= n` writable bytes at `buf`.
                unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), buf, n) };
                return n as isize;
            }
            if let Some(t) = &task {
                s.waiters.push_back(t.clone());
            }
        }
        match &task {
            // Woken by a sender (or spuriously: look again).
            Some(_) => park(),
            // Outside strings (an initialiser): poll.
            None => {
                park_until(std::time::Instant::now() + std::time::Duration::from_millis(1));
            }
        }
        if let Some(t) = &task {
            let _rt = RuntimeSection::enter();
            let mut s = port.state.lock().unwrap_or_else(|e| e.into_inner());
            s.waiters.retain(|w| !Arc::ptr_eq(w, t));
        }
        if task
            .as_ref()
            .is_some_and(|t| t.ctx.stop_requested.load(Ordering::Acquire))
        {
            // Asked to stop while waiting: a safe point, holding nothing.
            drop(port);
            drop(task);
            weaves_strings::stop_point();
            return fail(libc::EINTR);
        }
    }
}

/// Moves every message queued on in-interface `from` to the front of
/// in-interface `to`'s queue, keeping their order (they are older than
/// anything queued at `to`), and wakes `to`'s receivers. Returns how many
/// moved. Both queues are locked together: no message is lost, duplicated
/// or seen by a receiver half-way.
pub fn move_queue(from: (OwnerId, &str), to: (OwnerId, &str)) -> Result<usize, String> {
    let _rt = RuntimeSection::enter();
    let from_key = (from.0, from.1.to_owned());
    let (a, b) = {
        let mut g = PORTS.write().unwrap_or_else(|e| e.into_inner());
        let ports = g.get_or_insert_with(Ports::default);
        let a = ports
            .inbound
            .get(&from_key)
            .cloned()
            .ok_or_else(|| format!("no queue at in-interface `{}`", from.1))?;
        let b = ports
            .inbound
            .entry((to.0, to.1.to_owned()))
            .or_default()
            .clone();
        (a, b)
    };
    if Arc::ptr_eq(&a, &b) {
        return Ok(0);
    }
    // Lock in address order, so two opposite moves cannot deadlock.
    let (first, second) = if Arc::as_ptr(&a) < Arc::as_ptr(&b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let mut g1 = first.state.lock().unwrap_or_else(|e| e.into_inner());
    let mut g2 = second.state.lock().unwrap_or_else(|e| e.into_inner());
    let (src, dst) = if Arc::ptr_eq(first, &a) {
        (&mut *g1, &mut *g2)
    } else {
        (&mut *g2, &mut *g1)
    };
    let n = src.messages.len();
    let mut moved = std::mem::take(&mut src.messages);
    moved.append(&mut dst.messages);
    dst.messages = moved;
    let waiters: Vec<Arc<Task>> = dst.waiters.drain(..).collect();
    drop(g2);
    drop(g1);
    for t in waiters {
        t.wake();
    }
    Ok(n)
}

/// Messages waiting on in-interface `iface` of the calling bead, or -1 with
/// errno: EINVAL, ENOTCONN (nothing is bound to it).
unsafe extern "C" fn poll_from(iface: *const libc::c_char, ret: u64) -> isize {
    weaves_strings::blocking::preempt_point();
    let _rt = RuntimeSection::enter();
    // SAFETY: C passes a NUL-terminated name (or null, refused).
    let Some(name) = (unsafe { iface_name(iface) }) else {
        return fail(libc::EINVAL);
    };
    match in_port(&(caller(ret), name)) {
        Some(port) => port.depth() as isize,
        None => fail(libc::ENOTCONN),
    }
}
