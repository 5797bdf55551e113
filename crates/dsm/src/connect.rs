//! Bootstrap: every node publishes where it listens in the rendezvous
//! directory, connects to the nodes below it and accepts the ones above,
//! and checks that every node has the same address layout. Then each
//! connection gets a reader thread (which hands what arrives to the
//! engine) and every node a heartbeat thread.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::node::Node;
use crate::wire::{frame, read_msg, Msg, Tcp};

/// How long a node waits for the others to appear.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Heartbeat period; a peer silent for [`silence`] has stopped answering.
const HEARTBEAT: Duration = Duration::from_millis(200);

/// How long a silent peer is waited for: one second, or
/// `WEAVES_DSM_SILENCE_MS` (a machine so loaded that a node may not run
/// for a second would otherwise end runs that are only slow).
fn silence() -> Duration {
    std::env::var("WEAVES_DSM_SILENCE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms >= 400)
        .map_or(Duration::from_millis(1000), Duration::from_millis)
}

fn published(dir: &Path, node: u32) -> PathBuf {
    dir.join(format!("node-{node}.addr"))
}

fn wait_for_address(dir: &Path, node: u32) -> Result<String, String> {
    let started = Instant::now();
    loop {
        if let Ok(a) = std::fs::read_to_string(published(dir, node)) {
            if a.ends_with('\n') {
                return Ok(a.trim().to_owned());
            }
        }
        if started.elapsed() > BOOT_TIMEOUT {
            return Err(format!(
                "node {node} did not publish its address in {} within {} s",
                dir.display(),
                BOOT_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn hello(s: &mut TcpStream, me: u32, layout: u64) -> Result<(), String> {
    s.write_all(&frame(&Msg::Hello { node: me, layout }))
        .map_err(|e| format!("cannot greet a peer: {e}"))
}

fn greeted(s: &mut TcpStream, me: u32, layout: u64) -> Result<u32, String> {
    match read_msg(s) {
        Ok(Some((
            Msg::Hello {
                node,
                layout: theirs,
            },
            _,
        ))) => {
            if theirs != layout {
                return Err(format!(
                    "node {node}'s address layout differs from node {me}'s (digest {theirs:#018x} vs {layout:#018x}): \
                     every node must load the C library, the program and the arena at the same addresses \
                     (run them on the same system image, with the same weaves binary)"
                ));
            }
            Ok(node)
        }
        Ok(_) => Err("a peer spoke before greeting".into()),
        Err(e) => Err(format!("cannot read a peer's greeting: {e}")),
    }
}

/// Connects node `n.me` to every other node through the rendezvous
/// directory `dir`, listening on `bind` (host:port; port 0 for any).
pub(crate) fn connect(n: &'static Node, dir: &Path, bind: &str, layout: u64) -> Result<(), String> {
    let me = n.me;
    let listener = TcpListener::bind(bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let tmp = dir.join(format!(".node-{me}.addr.tmp"));
    std::fs::write(&tmp, format!("{addr}\n"))
        .and_then(|_| std::fs::rename(&tmp, published(dir, me)))
        .map_err(|e| {
            format!(
                "cannot publish this node's address in {}: {e}",
                dir.display()
            )
        })?;
    let mut peers: Vec<Option<TcpStream>> = (0..n.nodes).map(|_| None).collect();
    for j in 0..me {
        let a = wait_for_address(dir, j)?;
        let mut s = TcpStream::connect(&a)
            .map_err(|e| format!("cannot connect to node {j} at {a}: {e}"))?;
        let _ = s.set_nodelay(true);
        hello(&mut s, me, layout)?;
        let got = greeted(&mut s, me, layout)?;
        if got != j {
            return Err(format!("{a} is node {got}, not node {j}"));
        }
        peers[j as usize] = Some(s);
    }
    for _ in me + 1..n.nodes {
        let (mut s, _) = listener
            .accept()
            .map_err(|e| format!("cannot accept a peer: {e}"))?;
        let _ = s.set_nodelay(true);
        // Greet first: a peer with another layout learns it too.
        hello(&mut s, me, layout)?;
        let j = greeted(&mut s, me, layout)?;
        if j >= n.nodes || j <= me || peers[j as usize].is_some() {
            return Err(format!("unexpected greeting from node {j}"));
        }
        peers[j as usize] = Some(s);
    }
    let mut writers = Vec::new();
    for (j, p) in peers.iter().enumerate() {
        match p {
            Some(s) => {
                let reader = s
                    .try_clone()
                    .map_err(|e| format!("cannot share the connection to node {j}: {e}"))?;
                let _ = reader.set_read_timeout(Some(silence()));
                std::thread::Builder::new()
                    .name(format!("dsm-from-{j}"))
                    .spawn(move || read_from(n, j as u32, reader))
                    .map_err(|e| format!("cannot start a reader thread: {e}"))?;
                writers.push(Some(s.try_clone().map_err(|e| e.to_string())?));
            }
            None => writers.push(None),
        }
    }
    n.set_transport(Box::new(Tcp::new(writers)));
    std::thread::Builder::new()
        .name("dsm-heartbeat".into())
        .spawn(move || loop {
            std::thread::sleep(HEARTBEAT);
            for j in 0..n.nodes {
                if j != n.me {
                    n.send_uncounted(j, &Msg::Heartbeat);
                }
            }
        })
        .map_err(|e| format!("cannot start the heartbeat thread: {e}"))?;
    Ok(())
}

fn read_from(n: &'static Node, from: u32, s: TcpStream) {
    let fd = s.as_raw_fd();
    let mut s = std::io::BufReader::with_capacity(1 << 16, s);
    let mut last_frame = Instant::now();
    loop {
        if s.buffer().is_empty() {
            crate::poll::before_blocking(fd, from, last_frame);
        }
        match read_msg(&mut s) {
            Ok(Some((msg, _))) => {
                last_frame = Instant::now();
                n.deliver(from, msg)
            }
            Ok(None) => {
                lost(n, from, "closed its connection (it died)");
                return;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let s = silence().as_millis();
                lost(
                    n,
                    from,
                    &format!("stopped answering (no heartbeat for {s} ms)"),
                );
                return;
            }
            Err(e) => {
                lost(n, from, &format!("broke its connection ({e})"));
                return;
            }
        }
    }
}

fn lost(n: &'static Node, from: u32, why: &str) {
    // A node that ends because node 0 said the run is over closes its
    // connections: wait a moment for node 0's word to arrive here too.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        if n.ending.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::failure::report_lost(from, why);
}
