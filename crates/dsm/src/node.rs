//! One node's protocol engine: every message, from a peer or from this
//! node itself, is handled here under one lock, in arrival order per
//! sender. Handling never waits for another node: what needs an answer is
//! recorded and resumed when the answer arrives, so two nodes' engines can
//! never wait for each other.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use weaves_strings::blocking::{current_task, park};
use weaves_strings::Task;

use crate::pages::Pages;
use crate::stats::{count, Counter};
use crate::sync::Manager;
use crate::wire::{frame, Msg, Op, Transport};
use crate::Coherence;

/// This process's place in the run.
pub struct Node {
    pub me: u32,
    pub nodes: u32,
    pub coherence: Coherence,
    transport: OnceLock<Box<dyn Transport>>,
    engine: Mutex<Engine>,
    /// Waiters for [`Msg::Reply`]s, by slot.
    waiters: Mutex<HashMap<u64, Waiter>>,
    next_slot: AtomicU64,
    /// Set once node 0 said the run is over (a peer closing its connection
    /// then is not a failure).
    pub(crate) ending: AtomicBool,
}

/// What a [`Msg::Reply`] brings: status, value, write notices.
type Answer = (u64, i32, u64, Vec<u64>);

struct Waiter {
    task: Option<Arc<Task>>,
    result: Option<(i32, u64, Vec<u64>)>,
}

/// What the engine keeps: the pages homed here and, on node 0, the
/// synchronisation manager.
pub(crate) struct Engine {
    pub(crate) pages: Pages,
    pub(crate) manager: Manager,
}

static NODE: OnceLock<Node> = OnceLock::new();

/// What fault handlers ask the courier thread to say.
type Courier = (Mutex<VecDeque<(u32, Msg)>>, std::sync::Condvar);
static COURIER: Courier = (Mutex::new(VecDeque::new()), std::sync::Condvar::new());

/// Starts the courier thread (see [`Node::post_from_handler`]).
pub(crate) fn start_courier(n: &'static Node) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("dsm-courier".into())
        .spawn(move || loop {
            let next = {
                let mut q = COURIER.0.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    match q.pop_front() {
                        Some(m) => break m,
                        None => q = COURIER.1.wait(q).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            };
            n.post(next.0, next.1);
        })
        .map(|_| ())
}

/// The node, once [`crate::install`] made it.
pub fn node() -> Option<&'static Node> {
    NODE.get()
}

pub(crate) fn make(me: u32, nodes: u32, coherence: Coherence) -> &'static Node {
    NODE.get_or_init(|| Node {
        me,
        nodes,
        coherence,
        transport: OnceLock::new(),
        engine: Mutex::new(Engine {
            pages: Pages::new(me),
            manager: Manager::default(),
        }),
        waiters: Mutex::new(HashMap::new()),
        next_slot: AtomicU64::new(1),
        ending: AtomicBool::new(false),
    })
}

/// Messages the engine produced while handling one: each goes to its node.
pub(crate) type Outbox = Vec<(u32, Msg)>;

/// A reply without write notices.
pub(crate) fn reply(slot: u64, rc: i32, value: u64) -> Msg {
    Msg::Reply {
        slot,
        rc,
        value,
        notices: Vec::new(),
    }
}

impl Node {
    pub(crate) fn set_transport(&self, t: Box<dyn Transport>) {
        let _ = self.transport.set(t);
    }

    /// Handles `msg` from node `from`, and whatever it makes this node say
    /// to itself, in order; sends the rest.
    pub(crate) fn deliver(&self, from: u32, msg: Msg) {
        let mut replies = Vec::new();
        {
            let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
            let mut queue: VecDeque<(u32, Msg)> = VecDeque::from([(from, msg)]);
            while let Some((from, msg)) = queue.pop_front() {
                let mut out = Outbox::new();
                self.handle(&mut engine, from, msg, &mut out, &mut replies);
                for (to, m) in out {
                    if to == self.me {
                        queue.push_back((self.me, m));
                    } else {
                        // Sent under the engine lock: what one node's
                        // engine says to another arrives in the order it
                        // decided it.
                        self.send(to, &m);
                    }
                }
            }
        }
        for (slot, rc, value, notices) in replies {
            self.complete(slot, (rc, value, notices));
        }
    }

    /// Sends `msg` to node `to` (never this node).
    pub(crate) fn send(&self, to: u32, msg: &Msg) {
        let f = frame(msg);
        count(Counter::Messages, 1);
        count(Counter::Bytes, f.len() as u64);
        if let Some(t) = self.transport.get() {
            if let Err(e) = t.send(to, &f) {
                if !self.ending.load(Ordering::Acquire) {
                    crate::failure::report_lost(to, &format!("cannot send to it: {e}"));
                }
            }
        }
    }

    /// Sends `msg` without counting it (heartbeats are not protocol
    /// messages).
    pub(crate) fn send_uncounted(&self, to: u32, msg: &Msg) {
        if let Some(t) = self.transport.get() {
            let _ = t.send(to, &frame(msg));
        }
    }

    fn handle(
        &self,
        engine: &mut Engine,
        from: u32,
        msg: Msg,
        out: &mut Outbox,
        replies: &mut Vec<Answer>,
    ) {
        match msg {
            Msg::Fetch { page, write, run } => {
                if self.coherence == Coherence::Lrc {
                    let data = crate::lrc::serve(page, run);
                    out.push((
                        from,
                        Msg::Grant {
                            page,
                            write: false,
                            data: Some(data),
                        },
                    ));
                } else {
                    engine.pages.fetch(from, page, write, out)
                }
            }
            Msg::Grant { page, write, data } => {
                if self.coherence == Coherence::Lrc {
                    crate::lrc::install(page, data)
                } else {
                    crate::pages::install(page, write, data)
                }
            }
            Msg::Recall { page, keep_read } => {
                let data = crate::pages::give_back(page, keep_read);
                out.push((from, Msg::Flush { page, data }));
            }
            Msg::Flush { page, data } => engine.pages.flushed(from, page, data, out),
            Msg::Invalidate { page } => {
                crate::pages::drop_copy(page);
                out.push((from, Msg::InvalidateAck { page }));
            }
            Msg::InvalidateAck { page } => engine.pages.acked(page, out),
            Msg::Call { slot, op } => self.call_arrived(engine, from, slot, op, out),
            Msg::Reply {
                slot,
                rc,
                value,
                notices,
            } => replies.push((slot, rc, value, notices)),
            Msg::Shutdown => crate::failure::shutdown(),
            Msg::Hello { .. } | Msg::Heartbeat => {}
            Msg::Counters { node, counts } => crate::stats::record_node(node, counts),
        }
    }

    fn call_arrived(&self, engine: &mut Engine, from: u32, slot: u64, op: Op, out: &mut Outbox) {
        match op {
            Op::Spawn { start, arg } => crate::threads::spawn_for(from, slot, start, arg),
            Op::Join { thread } => crate::threads::join_for(from, slot, thread),
            Op::Free { addr } => crate::heap::free_for(addr),
            Op::Detach { thread } => {
                let rc = weaves_interpose::dsm_hooks::detach_local(thread);
                if slot != 0 {
                    out.push((from, reply(slot, rc, 0)));
                }
            }
            Op::ApplyDiffs { diffs } => {
                crate::lrc::apply(diffs);
                if slot != 0 {
                    out.push((from, reply(slot, 0, 0)));
                }
            }
            op => engine.manager.call(from, slot, op, out),
        }
    }

    /// Asks node `to` to do `op` and waits for its answer (parking the
    /// calling string); the write notices the answer carries are acted on
    /// (an acquire) before this returns.
    pub(crate) fn call(&self, to: u32, op: Op) -> (i32, u64) {
        let r = self.call_only(to, op);
        crate::lrc::acquire_pending();
        r
    }

    /// [`Node::call`] without acting on write notices (what acting on
    /// them calls).
    pub(crate) fn call_only(&self, to: u32, op: Op) -> (i32, u64) {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                slot,
                Waiter {
                    task: current_task(),
                    result: None,
                },
            );
        let _expecting = (to != self.me).then(|| crate::poll::Expecting::from(to));
        self.post(to, Msg::Call { slot, op });
        loop {
            {
                let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((rc, value, _)) = w.get_mut(&slot).and_then(|w| w.result.take()) {
                    w.remove(&slot);
                    return (rc, value);
                }
            }
            if current_task().is_some() {
                park();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }

    /// Says `msg` to node `to` from a fault handler. To another node it is
    /// sent at once: framing and one `write` fit the handler's alternate
    /// signal stack, and the faulting thread is in program code, so it
    /// holds no lock of the runtime's. To this node it is left to the
    /// node's courier thread, for handling it runs the engine, whose
    /// frames the alternate stack has no room for.
    pub(crate) fn post_from_handler(&self, to: u32, msg: Msg) {
        if to != self.me {
            self.send(to, &msg);
            return;
        }
        COURIER
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((to, msg));
        COURIER.1.notify_one();
    }

    /// Says `msg` to node `to` without waiting for an answer (this node:
    /// handled at once).
    pub(crate) fn post(&self, to: u32, msg: Msg) {
        if to == self.me {
            self.deliver(self.me, msg);
        } else {
            self.send(to, &msg);
        }
    }

    fn complete(&self, slot: u64, mut result: (i32, u64, Vec<u64>)) {
        // The notices are this node's, not only the waiter's: recorded
        // before any waiter wakes, so that every string woken after them
        // acts on them first (see `lrc::acquire_pending`).
        crate::lrc::note(std::mem::take(&mut result.2));
        let task = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            match w.get_mut(&slot) {
                Some(waiter) => {
                    waiter.result = Some(result);
                    waiter.task.clone()
                }
                None => None,
            }
        };
        if let Some(t) = task {
            t.wake();
        }
    }
}
