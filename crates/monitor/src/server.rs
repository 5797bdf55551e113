//! The control socket's server: one thread accepting connections, one
//! short-lived thread per connection answering its requests in order.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::protocol::{Request, Response};
use crate::MonitorError;

/// Answers requests from the live tapestry.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;
}

/// A serving control socket; dropping it stops serving and removes the
/// socket.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
    refused: Option<String>,
}

/// The longest a request line may be: requests are small; this keeps a
/// confused client from making the runtime buffer without bound.
const MAX_REQUEST: usize = 1 << 20;

impl Server {
    /// Serves `handler` on this process's socket in [`crate::socket_dir`]
    /// (a private fallback if the configured directory is squatted: see
    /// [`Server::refused_dir`]).
    pub fn start(handler: Arc<dyn Handler>) -> Result<Server, MonitorError> {
        let dir = crate::serving_dir()?;
        let path = crate::socket_path(&dir.path, std::process::id());
        // A socket left by an earlier process with our pid is stale: that
        // process is gone.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| {
            MonitorError::Io(format!(
                "cannot serve the control socket {}: {e}",
                path.display()
            ))
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| MonitorError::Io(format!("cannot restrict {}: {e}", path.display())))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::Builder::new()
            .name("weaves monitor".into())
            .stack_size(256 << 10)
            .spawn(move || accept_loop(listener, handler, stop2))
            .map_err(|e| MonitorError::Io(format!("cannot start the monitor thread: {e}")))?;
        Ok(Server {
            path,
            stop,
            accept: Some(accept),
            refused: dir.refused,
        })
    }

    /// Why the configured socket directory was passed over for the private
    /// fallback this server uses, if it was (worth a warning: someone may
    /// be squatting its name).
    pub fn refused_dir(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// The socket's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: UnixListener, handler: Arc<dyn Handler>, stop: Arc<AtomicBool>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let handler = handler.clone();
        let _ = std::thread::Builder::new()
            .name("weaves monitor client".into())
            .stack_size(256 << 10)
            .spawn(move || serve(conn, &*handler));
    }
}

fn serve(conn: UnixStream, handler: &dyn Handler) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let too_long = line.len() > MAX_REQUEST;
        if !too_long && line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let response = if too_long {
            Response::error(format!(
                "bad request: longer than {MAX_REQUEST} bytes; closing the connection"
            ))
        } else {
            match decode_request(&line) {
                Ok(request) => handler.handle(request),
                Err(why) => Response::error(why),
            }
        };
        let Ok(mut text) = serde_json::to_string(&response) else {
            return;
        };
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() || too_long {
            return;
        }
    }
}

/// Decodes one request line as the server does: JSON text of a
/// [`Request`]; anything else is the one-line message the client gets
/// (naming an unknown `op`). Never panics, whatever the bytes.
pub fn decode_request(line: &[u8]) -> Result<Request, String> {
    let text =
        std::str::from_utf8(line).map_err(|e| format!("bad request: not UTF-8 text ({e})"))?;
    serde_json::from_str::<Request>(text).map_err(|e| unknown_request(text, &e))
}

/// The message for a request that does not parse: names an unknown `op`.
fn unknown_request(line: &str, e: &serde_json::Error) -> String {
    let op = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(str::to_owned));
    match op {
        Some(op) => format!("not supported: monitor operation `{op}` ({e})"),
        None => format!("bad request: {e}"),
    }
}
