//! The client library: find running tapestries and talk to them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::{Applied, Inspection, Request, Response, Summary};
use crate::MonitorError;

/// How long a tapestry has to answer one request.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long a change may take: a script may wait for strings (`stop` up to
/// 10 s, each `wait` up to 60 s), so this is generous; the tapestry gives
/// up on its side first and says so.
const CHANGE_WITHIN: Duration = Duration::from_secs(600);

/// A connection to one running tapestry's monitor.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    socket: PathBuf,
}

impl Client {
    /// Connects to the tapestry `id_or_name`: a process id as `weaves ps`
    /// lists it, or a tapestry name that only one running tapestry has.
    pub fn connect(id_or_name: &str) -> Result<Client, MonitorError> {
        let dirs = crate::socket_dirs()?;
        if let Ok(pid) = id_or_name.parse::<u32>() {
            for dir in &dirs {
                let path = crate::socket_path(dir, pid);
                if path.exists() {
                    return Client::at(&path);
                }
            }
        }
        let all = list_in(&dirs)?;
        let matching: Vec<&(Summary, PathBuf)> =
            all.iter().filter(|(s, _)| s.name == id_or_name).collect();
        let all: Vec<&Summary> = all.iter().map(|(s, _)| s).collect();
        match matching.as_slice() {
            [(_, socket)] => Client::at(socket),
            [] => Err(MonitorError::NotFound(if all.is_empty() {
                format!("no running tapestry `{id_or_name}`: none is running")
            } else {
                format!(
                    "no running tapestry `{id_or_name}`; running: {}",
                    all.iter()
                        .map(|s| format!("{} ({})", s.id, s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })),
            many => Err(MonitorError::Ambiguous(format!(
                "{} running tapestries are named `{id_or_name}` (ids {}): give an id",
                many.len(),
                many.iter()
                    .map(|(s, _)| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Connects to the socket at `path`.
    pub fn at(path: &Path) -> Result<Client, MonitorError> {
        let stream = UnixStream::connect(path)
            .map_err(|e| MonitorError::Io(format!("cannot reach {}: {e}", path.display())))?;
        let _ = stream.set_read_timeout(Some(ANSWER_WITHIN));
        let _ = stream.set_write_timeout(Some(ANSWER_WITHIN));
        let writer = stream
            .try_clone()
            .map_err(|e| MonitorError::Io(format!("cannot use {}: {e}", path.display())))?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            socket: path.to_owned(),
        })
    }

    /// Sends one request and returns its result.
    pub fn request(&mut self, request: &Request) -> Result<serde_json::Value, MonitorError> {
        let changes = matches!(
            request,
            Request::Apply { .. }
                | Request::Remove { .. }
                | Request::Script { .. }
                | Request::Checkpoint { .. }
                | Request::Rollback { .. }
                | Request::Swap { .. }
                | Request::Migrate { .. }
        );
        let within = if changes {
            CHANGE_WITHIN
        } else {
            ANSWER_WITHIN
        };
        let _ = self.reader.get_ref().set_read_timeout(Some(within));
        let mut text = serde_json::to_string(request)
            .map_err(|e| MonitorError::Io(format!("cannot encode the request: {e}")))?;
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| MonitorError::Io(format!("cannot send the request: {e}")))?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => {
                return Err(MonitorError::Io(
                    "the tapestry closed the connection (it may have ended)".into(),
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(MonitorError::Io(format!("no answer: {e}"))),
        }
        let response: Response = serde_json::from_str(&line)
            .map_err(|e| MonitorError::Io(format!("malformed answer: {e}")))?;
        if response.ok {
            Ok(response.result.unwrap_or(serde_json::Value::Null))
        } else {
            Err(MonitorError::Refused(
                response.error.unwrap_or_else(|| "refused".into()),
            ))
        }
    }

    /// The tapestry in one line.
    pub fn summary(&mut self) -> Result<Summary, MonitorError> {
        let v = self.request(&Request::Summary)?;
        serde_json::from_value(v).map_err(|e| MonitorError::Io(format!("malformed summary: {e}")))
    }

    /// Everything about the tapestry.
    pub fn inspect(&mut self) -> Result<Inspection, MonitorError> {
        let v = self.request(&Request::Inspect)?;
        serde_json::from_value(v)
            .map_err(|e| MonitorError::Io(format!("malformed inspection: {e}")))
    }
}

impl Client {
    /// Adds what the fragment file at `path` describes to the tapestry
    /// (`weaves apply`). A refused fragment changes nothing.
    pub fn apply(&mut self, path: &Path) -> Result<Applied, MonitorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MonitorError::Io(format!("cannot read {}: {e}", path.display())))?;
        let absolute = std::path::absolute(path)
            .map_err(|e| MonitorError::Io(format!("cannot resolve {}: {e}", path.display())))?;
        let v = self.request(&Request::Apply {
            path: absolute.display().to_string(),
            text,
        })?;
        serde_json::from_value(v).map_err(|e| MonitorError::Io(format!("malformed answer: {e}")))
    }
}

impl Client {
    /// Runs the reconfiguration script at `path` in the tapestry
    /// (`weaves script`); returns the lines that took effect.
    pub fn script(&mut self, path: &Path) -> Result<Vec<String>, MonitorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MonitorError::Io(format!("cannot read {}: {e}", path.display())))?;
        let absolute = std::path::absolute(path)
            .map_err(|e| MonitorError::Io(format!("cannot resolve {}: {e}", path.display())))?;
        let v = self.request(&Request::Script {
            path: absolute.display().to_string(),
            text,
        })?;
        Ok(v["done"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Takes a checkpoint image (`weaves checkpoint`); see
    /// [`Request::Checkpoint`].
    pub fn checkpoint(
        &mut self,
        path: Option<&Path>,
        dir: Option<&Path>,
        strict: bool,
        full: bool,
    ) -> Result<serde_json::Value, MonitorError> {
        self.request(&Request::Checkpoint {
            path: path.map(|p| p.display().to_string()),
            dir: dir.map(|p| p.display().to_string()),
            strict,
            full,
        })
    }

    /// Rolls the tapestry back to the image at `path` (an image, or a
    /// checkpoint directory: its newest). Returns once the tapestry answers
    /// again after re-executing itself (within `within`).
    pub fn rollback(&mut self, path: &Path, within: Duration) -> Result<(), MonitorError> {
        let asked = self.request(&Request::Rollback {
            path: path.display().to_string(),
        });
        match asked {
            // The answer, or the connection closing as the process was
            // replaced: either way, wait for it to answer again.
            Ok(_) | Err(MonitorError::Io(_)) => {}
            Err(refused) => return Err(refused),
        }
        let socket = self.socket.clone();
        let deadline = std::time::Instant::now() + within;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(mut again) = Client::at(&socket) {
                if again.summary().is_ok() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(MonitorError::Io(format!(
                    "the tapestry did not answer within {} s after rolling back",
                    within.as_secs()
                )));
            }
        }
    }

    /// Takes a `bead`, `weave`, `string` or `binding` out of the tapestry
    /// (`weaves remove`); refused, with the reason, while it is in use.
    /// Replaces live bead `bead` by a bead of the module at `path`
    /// (`weaves swap`); the answer is the swap's report.
    pub fn swap(
        &mut self,
        bead: &str,
        path: &Path,
        transfer: &str,
        timeout_ms: u64,
    ) -> Result<serde_json::Value, MonitorError> {
        let absolute = std::path::absolute(path)
            .map_err(|e| MonitorError::Io(format!("cannot resolve {}: {e}", path.display())))?;
        self.request(&Request::Swap {
            bead: bead.to_owned(),
            path: absolute.display().to_string(),
            transfer: transfer.to_owned(),
            timeout_ms,
        })
    }

    /// Asks Wasm string `string` to move to `engine` at its next
    /// reconfiguration point (`weaves migrate`).
    pub fn migrate(
        &mut self,
        string: &str,
        engine: &str,
    ) -> Result<serde_json::Value, MonitorError> {
        self.request(&Request::Migrate {
            string: string.to_owned(),
            engine: engine.to_owned(),
        })
    }

    pub fn remove(&mut self, kind: &str, name: &str) -> Result<serde_json::Value, MonitorError> {
        self.request(&Request::Remove {
            kind: kind.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Every running tapestry of this user, by process id. Sockets whose
/// process has gone are removed.
pub fn list() -> Result<Vec<Summary>, MonitorError> {
    let mut all: Vec<Summary> = list_in(&crate::socket_dirs()?)?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    all.sort_by_key(|s| s.pid);
    Ok(all)
}

/// The tapestries serving sockets in `dirs`, with their sockets.
fn list_in(dirs: &[PathBuf]) -> Result<Vec<(Summary, PathBuf)>, MonitorError> {
    let mut sockets: Vec<(u32, PathBuf)> = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| MonitorError::Dir(format!("cannot list {}: {e}", dir.display())))?;
        sockets.extend(entries.filter_map(Result::ok).filter_map(|e| {
            let name = e.file_name();
            let pid = name.to_str()?.strip_suffix(".sock")?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        }));
    }
    sockets.sort();
    let mut out = Vec::new();
    for (pid, path) in sockets {
        if !alive(pid) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        // A tapestry that is ending may close its socket meanwhile: skip it.
        if let Ok(summary) = Client::at(&path).and_then(|mut c| c.summary()) {
            out.push((summary, path));
        }
    }
    Ok(out)
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; it sends
    // nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
