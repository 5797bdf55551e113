//! The manager's counted objects: POSIX semaphores and reader-writer
//! locks, whose holders are a number rather than one thread.
//!
//! A `sem_post` and an rwlock unlock are releases (they carry the poster's
//! write notices), a `sem_wait` and an rwlock grant are acquires (the
//! answer carries the waiter's unseen notices), as for mutexes. Waiters
//! are served first in, first out; a reader is let in while readers hold
//! the lock even if a writer waits, as glibc's default kind does.

use std::collections::VecDeque;

use super::{Replies, Waiter};

/// A semaphore's count and the strings waiting for it.
#[derive(Default)]
pub(super) struct Semaphore {
    value: u32,
    waiting: VecDeque<Waiter>,
}

/// A reader-writer lock's holders and waiters (`true`: to write).
#[derive(Default)]
pub(super) struct RwLock {
    readers: u32,
    writer: bool,
    waiting: VecDeque<(Waiter, bool)>,
}

impl RwLock {
    fn free_for(&self, write: bool) -> bool {
        !self.writer && (!write || self.readers == 0)
    }

    fn take(&mut self, write: bool) {
        if write {
            self.writer = true;
        } else {
            self.readers += 1;
        }
    }
}

impl Replies<'_> {
    pub(super) fn sem_init(&mut self, who: Waiter, addr: u64, value: u32) {
        self.manager.sems.insert(
            addr,
            Semaphore {
                value,
                waiting: VecDeque::new(),
            },
        );
        self.reply(who, 0, 0);
    }

    pub(super) fn sem_wait(&mut self, who: Waiter, addr: u64, try_only: bool) {
        let s = self.manager.sems.entry(addr).or_default();
        if s.value > 0 {
            s.value -= 1;
            self.reply(who, 0, 0);
        } else if try_only {
            self.reply(who, libc::EAGAIN, 0);
        } else {
            s.waiting.push_back(who);
        }
    }

    pub(super) fn sem_post(&mut self, who: Waiter, addr: u64, notices: Vec<u64>) {
        self.manager.log(who.0, notices);
        let s = self.manager.sems.entry(addr).or_default();
        match s.waiting.pop_front() {
            Some(next) => self.reply(next, 0, 0),
            None if s.value == u32::MAX => return self.reply(who, libc::EOVERFLOW, 0),
            None => s.value += 1,
        }
        self.reply(who, 0, 0);
    }

    pub(super) fn sem_value(&mut self, who: Waiter, addr: u64) {
        let value = self.manager.sems.get(&addr).map_or(0, |s| s.value);
        self.reply(who, 0, value as u64);
    }

    pub(super) fn rw_lock(&mut self, who: Waiter, addr: u64, write: bool, try_only: bool) {
        let l = self.manager.rwlocks.entry(addr).or_default();
        if l.free_for(write) {
            l.take(write);
            self.reply(who, 0, 0);
        } else if try_only {
            self.reply(who, libc::EBUSY, 0);
        } else {
            l.waiting.push_back((who, write));
        }
    }

    pub(super) fn rw_unlock(&mut self, addr: u64) {
        let l = self.manager.rwlocks.entry(addr).or_default();
        if l.writer {
            l.writer = false;
        } else {
            l.readers = l.readers.saturating_sub(1);
        }
        let mut granted = Vec::new();
        while let Some(&(w, write)) = l.waiting.front() {
            if !l.free_for(write) {
                break;
            }
            l.waiting.pop_front();
            l.take(write);
            granted.push(w);
        }
        for w in granted {
            self.reply(w, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Manager;
    use crate::node::Outbox;
    use crate::wire::{Msg, Op};

    fn granted(out: &Outbox) -> Vec<(u32, i32)> {
        out.iter()
            .filter_map(|(to, m)| match m {
                Msg::Reply { rc, .. } => Some((*to, *rc)),
                _ => None,
            })
            .collect()
    }

    fn lock(write: bool) -> Op {
        Op::RwLock {
            addr: 8,
            write,
            try_only: false,
        }
    }

    fn unlock() -> Op {
        Op::RwUnlock {
            addr: 8,
            notices: vec![],
            diffs: vec![],
        }
    }

    #[test]
    fn readers_share_and_a_writer_waits_for_all_of_them() {
        let mut m = Manager::default();
        let mut out = Outbox::new();
        m.call(1, 1, lock(false), &mut out);
        m.call(2, 2, lock(false), &mut out);
        m.call(3, 3, lock(true), &mut out);
        assert_eq!(granted(&out), [(1, 0), (2, 0)]);
        out.clear();
        m.call(1, 0, unlock(), &mut out);
        assert!(granted(&out).is_empty(), "one reader still holds it");
        m.call(2, 0, unlock(), &mut out);
        assert_eq!(granted(&out), [(3, 0)]);
        out.clear();
        let try_read = Op::RwLock {
            addr: 8,
            write: false,
            try_only: true,
        };
        m.call(1, 4, try_read, &mut out);
        assert_eq!(granted(&out), [(1, libc::EBUSY)]);
    }

    #[test]
    fn a_post_wakes_the_first_waiter_or_counts() {
        let mut m = Manager::default();
        let mut out = Outbox::new();
        m.call(0, 1, Op::SemInit { addr: 16, value: 0 }, &mut out);
        let wait = |try_only| Op::SemWait { addr: 16, try_only };
        m.call(1, 2, wait(true), &mut out);
        m.call(1, 3, wait(false), &mut out);
        m.call(2, 4, wait(false), &mut out);
        assert_eq!(granted(&out), [(0, 0), (1, libc::EAGAIN)]);
        out.clear();
        let post = || Op::SemPost {
            addr: 16,
            notices: vec![],
        };
        m.call(3, 5, post(), &mut out);
        assert_eq!(granted(&out), [(1, 0), (3, 0)], "the first waiter");
        out.clear();
        m.call(3, 6, post(), &mut out);
        m.call(3, 7, post(), &mut out);
        m.call(0, 8, Op::SemValue { addr: 16 }, &mut out);
        let value = out.iter().rev().find_map(|(_, m)| match m {
            Msg::Reply { value, .. } => Some(*value),
            _ => None,
        });
        assert_eq!(value, Some(1), "one post woke node 2, one counted");
    }
}
