//! Reconfiguration scripts (`weaves script ID FILE`): one monitor command
//! per line, optionally grouped in `atomic { … }` blocks.
//!
//! ```text
//! # replace `compute` by a new version, keeping its queued messages
//! atomic {
//!   apply compute_v2.toml            # new module, bead, weave, string
//!   stop compute                     # the old string, at a safe point
//!   bind sensor.out compute2.in      # rebinds: new readings go to v2
//!   move-queue compute.in compute2.in
//!   start compute2
//! }
//! ```
//!
//! Commands: `apply FRAGMENT` (relative to the script), `remove KIND NAME`,
//! `bind FROM TO` (rebinding FROM if bound), `unbind FROM`,
//! `rebind BEAD SYMBOL PROVIDER` (one import of a running bead, see
//! [`crate::rebind`]),
//! `move-queue FROM TO` (in-interfaces), `start STRING`, `stop STRING`
//! (waits until it stopped), `wait STRING` (until it ends),
//! `swap BEAD MODULE [--transfer FORMAT] [--timeout MS]` (see
//! [`crate::swap`]).
//!
//! Every line takes effect in order. Strings an `apply` line adds start
//! right after it; inside an `atomic { … }` block they start when the block
//! has taken effect — after the bindings its later lines make — unless a
//! `start` line in the block starts them earlier.
//!
//! An `atomic` block is checked as a whole before any of it takes effect:
//! every name it uses, every fragment (parsed onto the plan as the block
//! would leave it, then mapped, bound and relocated in a dry run), every
//! removal. A block that fails the check changes nothing. Consecutive
//! `swap` lines of a block are one step: every client of every bead they
//! name changes over at the same moment, or (if one bead cannot be
//! swapped in time) none does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weaves_strings::{Scheduler, Task};

use crate::config::{BindingPlan, Plan};
use crate::extend::Extension;
use crate::live::LiveView;
use crate::remove::Kind;
use crate::tapestry::Tapestry;

/// One command of a script.
#[derive(Clone, Debug)]
enum Cmd {
    Apply(PathBuf),
    Remove(Kind, String),
    Bind(String, String),
    Unbind(String),
    MoveQueue(String, String),
    Start(String),
    Stop(String),
    Wait(String),
    /// `rebind BEAD SYMBOL PROVIDER`: one import of a running bead.
    Rebind(String, String, String),
    /// `swap BEAD MODULE [--transfer F] [--timeout MS]`.
    Swap(crate::swap::SwapRequest),
}

#[derive(Clone, Debug)]
struct Line {
    cmd: Cmd,
    number: usize,
    text: String,
}

enum Item {
    One(Line),
    Atomic(Vec<Line>),
}

/// How long `stop` waits for a string to reach a safe point, and `wait`
/// for one to end.
const STOP_WITHIN: Duration = Duration::from_secs(10);
const WAIT_WITHIN: Duration = Duration::from_secs(60);

/// Parses a script without running it; returns how many top-level items
/// (commands and `atomic` blocks) it has. For fuzzing the parser.
#[doc(hidden)]
pub fn parse_script(path: &Path, text: &str) -> Result<usize, String> {
    parse(path, text).map(|items| items.len())
}

fn parse(path: &Path, text: &str) -> Result<Vec<Item>, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let at = |n: usize, m: String| format!("{}: line {n}: {m}", path.display());
    let mut items = Vec::new();
    let mut block: Option<(usize, Vec<Line>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["atomic", "{"] => {
                if block.is_some() {
                    return Err(at(number, "atomic blocks do not nest".into()));
                }
                block = Some((number, Vec::new()));
                continue;
            }
            ["}"] => match block.take() {
                Some((_, lines)) => {
                    items.push(Item::Atomic(lines));
                    continue;
                }
                None => return Err(at(number, "`}` closes no atomic block".into())),
            },
            _ => {}
        }
        let arity = |n: usize, usage: &str| -> Result<(), String> {
            if words.len() == n + 1 {
                Ok(())
            } else {
                Err(at(number, format!("usage: {usage}")))
            }
        };
        let cmd = match words[0] {
            "apply" => {
                arity(1, "apply FRAGMENT.toml")?;
                Cmd::Apply(dir.join(words[1]))
            }
            "remove" => {
                arity(2, "remove bead|weave|string|binding NAME")?;
                Cmd::Remove(Kind::parse(words[1]).map_err(|e| at(number, e))?, words[2].into())
            }
            "bind" => {
                arity(2, "bind BEAD.OUT BEAD.IN")?;
                Cmd::Bind(words[1].into(), words[2].into())
            }
            "unbind" => {
                arity(1, "unbind BEAD.OUT")?;
                Cmd::Unbind(words[1].into())
            }
            "move-queue" => {
                arity(2, "move-queue BEAD.IN BEAD.IN")?;
                Cmd::MoveQueue(words[1].into(), words[2].into())
            }
            "start" => {
                arity(1, "start STRING")?;
                Cmd::Start(words[1].into())
            }
            "stop" => {
                arity(1, "stop STRING")?;
                Cmd::Stop(words[1].into())
            }
            "wait" => {
                arity(1, "wait STRING")?;
                Cmd::Wait(words[1].into())
            }
            "rebind" => {
                arity(3, "rebind BEAD SYMBOL PROVIDER_BEAD")?;
                Cmd::Rebind(words[1].into(), words[2].into(), words[3].into())
            }
            "swap" => Cmd::Swap(parse_swap(dir, &words).map_err(|e| at(number, e))?),
            other => {
                return Err(at(
                    number,
                    format!(
                        "unknown command `{other}` (apply, remove, bind, unbind, rebind, swap, move-queue, start, stop, wait, atomic {{ … }})"
                    ),
                ))
            }
        };
        let line = Line {
            cmd,
            number,
            text: line.to_owned(),
        };
        match &mut block {
            Some((_, lines)) => lines.push(line),
            None => items.push(Item::One(line)),
        }
    }
    if let Some((opened, _)) = block {
        return Err(at(opened, "this atomic block is never closed".into()));
    }
    Ok(items)
}

/// Splits `bead.iface` and finds the bead (not removed) in `plan`.
/// `swap BEAD MODULE [--transfer FORMAT] [--timeout MS]`.
fn parse_swap(dir: &Path, words: &[&str]) -> Result<crate::swap::SwapRequest, String> {
    let usage = "usage: swap BEAD MODULE [--transfer FORMAT] [--timeout MS]";
    let [_, bead, module, rest @ ..] = words else {
        return Err(usage.into());
    };
    let mut req = crate::swap::SwapRequest {
        bead: (*bead).into(),
        path: dir.join(module),
        transfer: None,
        timeout: Duration::from_millis(1000),
    };
    let mut rest = rest.iter();
    while let Some(&flag) = rest.next() {
        let value = rest.next().ok_or(usage)?;
        match flag {
            "--transfer" => req.transfer = weaves_swap::Format::parse(value)?,
            "--timeout" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("--timeout wants milliseconds, not `{value}`"))?;
                req.timeout = Duration::from_millis(ms);
            }
            _ => return Err(usage.into()),
        }
    }
    Ok(req)
}

fn end_of(plan: &Plan, text: &str) -> Result<(usize, String), String> {
    let (bead, iface) = text
        .rsplit_once('.')
        .filter(|(b, i)| !b.is_empty() && !i.is_empty())
        .ok_or_else(|| format!("`{text}` is not `bead.interface`"))?;
    let b = plan
        .beads
        .iter()
        .enumerate()
        .position(|(i, x)| x.name == bead && !plan.removed.beads.contains(&i))
        .ok_or_else(|| format!("no bead `{bead}`"))?;
    Ok((b, iface.to_owned()))
}

fn string_index(plan: &Plan, name: &str) -> Result<usize, String> {
    plan.strings
        .iter()
        .enumerate()
        .position(|(i, s)| s.name == name && !plan.removed.strings.contains(&i))
        .ok_or_else(|| format!("no string `{name}`"))
}

fn live_binding(plan: &Plan, from: &(usize, String)) -> Option<usize> {
    plan.bindings
        .iter()
        .enumerate()
        .position(|(i, b)| b.from == *from && !plan.removed.bindings.contains(&i))
}

/// What running a script needs from the running tapestry.
pub(crate) struct Runner<'a> {
    pub(crate) sched: &'a Arc<Scheduler>,
    pub(crate) handles: &'a mut Vec<Option<Arc<Task>>>,
    /// The monitor's view, brought up to date before new strings start, so
    /// that no inspection shows a string in a weave it does not list.
    view: &'a LiveView,
    /// Strings added by this script's `apply` lines and not started yet.
    pending: Vec<usize>,
    done: Vec<String>,
}

impl<'a> Runner<'a> {
    pub(crate) fn new(
        sched: &'a Arc<Scheduler>,
        handles: &'a mut Vec<Option<Arc<Task>>>,
        view: &'a LiveView,
    ) -> Runner<'a> {
        Runner {
            sched,
            handles,
            view,
            pending: Vec::new(),
            done: Vec::new(),
        }
    }
}

impl Tapestry {
    /// Runs the script at `path` (its text is `text`).
    pub(crate) fn run_script(
        &mut self,
        path: &Path,
        text: &str,
        runner: &mut Runner<'_>,
    ) -> Result<serde_json::Value, String> {
        let items = parse(path, text)?;
        let result = (|| -> Result<(), String> {
            for item in &items {
                match item {
                    Item::One(line) => self.execute(path, line, runner)?,
                    Item::Atomic(lines) => {
                        self.check_block(path, lines, runner)?;
                        tracing::debug!(
                            "atomic block of {} line(s) passed its check; taking effect",
                            lines.len()
                        );
                        let mut k = 0;
                        while k < lines.len() {
                            let swaps = lines[k..]
                                .iter()
                                .take_while(|l| matches!(l.cmd, Cmd::Swap(_)))
                                .count();
                            let r = if swaps > 1 {
                                self.swap_lines(path, &lines[k..k + swaps], runner)
                            } else {
                                self.execute(path, &lines[k], runner)
                            };
                            r.map_err(|e| {
                                format!("{e} (the atomic block passed its check, but failed while taking effect)")
                            })?;
                            k += swaps.max(1);
                        }
                    }
                }
                // What the line or block added starts before the next one.
                self.start_pending(runner)?;
            }
            Ok(())
        })();
        // Strings added by a line that took effect start even when a later
        // line of its block failed: what took effect stays in effect.
        self.start_pending(runner)?;
        match result {
            Ok(()) => Ok(serde_json::json!({ "done": runner.done })),
            Err(e) if runner.done.is_empty() => Err(e),
            Err(e) => Err(format!(
                "{e}; before it, these took effect: {}",
                runner.done.join("; ")
            )),
        }
    }

    /// Starts the strings added by `apply` lines and not started yet.
    fn start_pending(&mut self, runner: &mut Runner<'_>) -> Result<(), String> {
        let pending = std::mem::take(&mut runner.pending);
        if !pending.is_empty() {
            runner.view.refresh(self);
        }
        for s in pending {
            self.start_string(s, runner)?;
        }
        Ok(())
    }

    pub(crate) fn start_string(&mut self, s: usize, runner: &mut Runner<'_>) -> Result<(), String> {
        let launch = self.launch(s).map_err(|e| e.to_string())?;
        let task = runner
            .sched
            .spawn(launch)
            .map_err(|e| format!("string `{}`: cannot start: {e}", self.plan.strings[s].name))?;
        if runner.handles.len() <= s {
            runner.handles.resize(s + 1, None);
        }
        runner.handles[s] = Some(task);
        Ok(())
    }

    /// One command, for real.
    fn execute(&mut self, path: &Path, line: &Line, runner: &mut Runner<'_>) -> Result<(), String> {
        let at = |e: String| {
            format!(
                "{}: line {}: {}: {e}",
                path.display(),
                line.number,
                line.text
            )
        };
        match &line.cmd {
            Cmd::Apply(fragment) => {
                let text = std::fs::read_to_string(fragment)
                    .map_err(|e| at(format!("cannot read {}: {e}", fragment.display())))?;
                let plan = self
                    .plan
                    .extend_with(fragment, &text)
                    .map_err(|e| at(e.to_string()))?;
                let added = self
                    .extend(plan, Extension::Live)
                    .map_err(|e| at(e.to_string()))?;
                runner
                    .pending
                    .extend(added.first_string..self.plan.strings.len());
            }
            Cmd::Remove(kind, name) => {
                let waiting = waiting_strings_in(&self.plan, *kind, name, &runner.pending);
                refuse_if_waiting(*kind, name, &waiting).map_err(at)?;
                let tasks = runner.sched.tasks();
                self.remove(*kind, name, &tasks, runner.handles)
                    .map_err(at)?;
                runner.pending.retain(|s| !waiting.contains(s));
            }
            Cmd::Bind(from, to) => {
                let from = end_of(&self.plan, from).map_err(at)?;
                let to = end_of(&self.plan, to).map_err(at)?;
                if let Some(old) = live_binding(&self.plan, &from) {
                    weaves_interpose::messages::unbind((self.beads[from.0].owner, &from.1));
                    self.plan.removed.bindings.insert(old);
                }
                let port = weaves_interpose::messages::bind(
                    (self.beads[from.0].owner, &from.1),
                    (self.beads[to.0].owner, &to.1),
                )
                .map_err(at)?;
                self.plan.bindings.push(BindingPlan {
                    from,
                    to,
                    line: line.number,
                });
                self.ports.push(port);
            }
            Cmd::Unbind(from) => {
                self.remove(Kind::Binding, from, &[], runner.handles)
                    .map_err(at)?;
            }
            Cmd::MoveQueue(from, to) => {
                let from = end_of(&self.plan, from).map_err(at)?;
                let to = end_of(&self.plan, to).map_err(at)?;
                let n = weaves_interpose::messages::move_queue(
                    (self.beads[from.0].owner, &from.1),
                    (self.beads[to.0].owner, &to.1),
                )
                .map_err(at)?;
                runner
                    .done
                    .push(format!("line {}: moved {n} message(s)", line.number));
                tracing::debug!("line {}: {}: moved {n} message(s)", line.number, line.text);
                return Ok(());
            }
            Cmd::Start(name) => {
                let s = string_index(&self.plan, name).map_err(at)?;
                let Some(k) = runner.pending.iter().position(|&p| p == s) else {
                    return Err(at(format!(
                        "string `{name}` is not waiting to start (only strings this script added wait)"
                    )));
                };
                runner.pending.remove(k);
                runner.view.refresh(self);
                self.start_string(s, runner).map_err(at)?;
            }
            Cmd::Stop(name) => {
                let s = string_index(&self.plan, name).map_err(at)?;
                let task = runner.handles.get(s).cloned().flatten();
                match task {
                    Some(t) => {
                        t.request_stop();
                        wait_for(&t, STOP_WITHIN).map_err(|()| {
                            at(format!(
                                "string `{name}` did not reach a safe point within {} s",
                                STOP_WITHIN.as_secs()
                            ))
                        })?;
                    }
                    None => {
                        if let Some(k) = runner.pending.iter().position(|&p| p == s) {
                            runner.pending.remove(k);
                        }
                    }
                }
            }
            Cmd::Rebind(bead, symbol, provider) => {
                let r = self.check_rebind(bead, symbol, provider).map_err(at)?;
                let slots = self.rebind(r).map_err(at)?;
                runner.done.push(format!(
                    "line {}: `{symbol}` of `{bead}` now binds to `{provider}` ({slots} slot(s))",
                    line.number
                ));
                tracing::debug!(
                    "line {}: rebind: `{symbol}` of `{bead}` now binds to `{provider}` ({slots} slot(s), one atomic store each)",
                    line.number
                );
                return Ok(());
            }
            Cmd::Swap(_) => return self.swap_lines(path, std::slice::from_ref(line), runner),
            Cmd::Wait(name) => {
                let s = string_index(&self.plan, name).map_err(at)?;
                if let Some(t) = runner.handles.get(s).cloned().flatten() {
                    wait_for(&t, WAIT_WITHIN).map_err(|()| {
                        at(format!(
                            "string `{name}` did not end within {} s",
                            WAIT_WITHIN.as_secs()
                        ))
                    })?;
                }
            }
        }
        runner
            .done
            .push(format!("line {}: {}", line.number, line.text));
        tracing::debug!("line {}: {}: took effect", line.number, line.text);
        Ok(())
    }

    /// `swap` lines, taking effect as one step.
    fn swap_lines(
        &mut self,
        path: &Path,
        lines: &[Line],
        runner: &mut Runner<'_>,
    ) -> Result<(), String> {
        let reqs: Vec<crate::swap::SwapRequest> = lines
            .iter()
            .filter_map(|l| match &l.cmd {
                Cmd::Swap(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        let numbers = lines
            .iter()
            .map(|l| l.number.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let report = self
            .swap(&reqs, runner.sched, runner.handles)
            .map_err(|e| format!("{}: line {numbers}: {e}", path.display()))?;
        let one = [report.clone()];
        let each = report["swaps"].as_array().map_or(&one[..], Vec::as_slice);
        for (line, r) in lines.iter().zip(each) {
            runner.done.push(format!(
                "line {}: {} (transfer {}, blocked {:.0} us)",
                line.number,
                line.text,
                r["transfer"].as_str().unwrap_or("?"),
                r["blocked_us"].as_f64().unwrap_or(0.0)
            ));
        }
        runner.view.refresh(self);
        Ok(())
    }

    /// Checks an atomic block as a whole against the plan as the block
    /// would leave it; nothing takes effect.
    fn check_block(
        &mut self,
        path: &Path,
        lines: &[Line],
        runner: &Runner<'_>,
    ) -> Result<(), String> {
        let mut model = self.plan.clone();
        let mut added_strings: Vec<usize> = Vec::new();
        let mut stopped: Vec<usize> = Vec::new();
        let mut applied = false;
        let live = runner.sched.tasks();
        for line in lines {
            let at = |e: String| {
                format!(
                    "{}: line {}: {}: {e} (nothing in the atomic block took effect)",
                    path.display(),
                    line.number,
                    line.text
                )
            };
            match &line.cmd {
                Cmd::Apply(fragment) => {
                    let text = std::fs::read_to_string(fragment)
                        .map_err(|e| at(format!("cannot read {}: {e}", fragment.display())))?;
                    let before = model.strings.len();
                    model = model
                        .extend_with(fragment, &text)
                        .map_err(|e| at(e.to_string()))?;
                    added_strings.extend(before..model.strings.len());
                    applied = true;
                }
                Cmd::Remove(kind, name) => {
                    let unstarted: Vec<usize> = added_strings
                        .iter()
                        .copied()
                        .filter(|s| !stopped.contains(s))
                        .collect();
                    let waiting = waiting_strings_in(&model, *kind, name, &unstarted);
                    refuse_if_waiting(*kind, name, &waiting).map_err(at)?;
                    added_strings.retain(|s| !waiting.contains(s));
                    let i = crate::remove::check(&model, &self.beads, *kind, name, &live, &stopped)
                        .map_err(at)?;
                    crate::remove::mark_removed(&mut model, *kind, i);
                }
                Cmd::Bind(from, to) => {
                    let from = end_of(&model, from).map_err(at)?;
                    let to = end_of(&model, to).map_err(at)?;
                    if let Some(old) = live_binding(&model, &from) {
                        model.removed.bindings.insert(old);
                    }
                    model.bindings.push(BindingPlan {
                        from,
                        to,
                        line: line.number,
                    });
                }
                Cmd::Unbind(from) => {
                    let from = end_of(&model, from).map_err(at)?;
                    let old = live_binding(&model, &from).ok_or_else(|| {
                        at(format!(
                            "`{}.{}` is not bound",
                            model.beads[from.0].name, from.1
                        ))
                    })?;
                    model.removed.bindings.insert(old);
                }
                Cmd::MoveQueue(from, to) => {
                    end_of(&model, from).map_err(at)?;
                    end_of(&model, to).map_err(at)?;
                }
                Cmd::Start(name) => {
                    let s = string_index(&model, name).map_err(at)?;
                    if !added_strings.contains(&s) {
                        return Err(at(format!(
                            "string `{name}` is not waiting to start (only strings this script added wait)"
                        )));
                    }
                }
                Cmd::Rebind(bead, symbol, provider) => {
                    // Only beads that already run can be rebound; removals
                    // later in the block are checked against the new wiring
                    // when they take effect.
                    self.check_rebind(bead, symbol, provider).map_err(at)?;
                }
                Cmd::Swap(req) => {
                    self.live_bead(&req.bead).map_err(at)?;
                    weaves_loader::Module::load(&req.path).map_err(|e| at(e.to_string()))?;
                }
                Cmd::Stop(name) | Cmd::Wait(name) => {
                    let s = string_index(&model, name).map_err(at)?;
                    if matches!(line.cmd, Cmd::Stop(_)) {
                        stopped.push(s);
                    }
                }
            }
        }
        if applied {
            // The fragments' modules, beads and strings, mapped, bound and
            // relocated together, then unmapped: the block's applies will
            // succeed. Removals and bindings are bookkeeping here; the live
            // plan is not touched.
            let mut model = model;
            model.removed = self.plan.removed.clone();
            self.extend(model, Extension::Check).map_err(|e| {
                format!(
                    "{}: atomic block: {e} (nothing in the atomic block took effect)",
                    path.display()
                )
            })?;
        }
        Ok(())
    }
}

/// The strings among `waiting` (added, not started yet) that removing
/// `kind name` would concern: the string itself, or the strings of a weave.
fn waiting_strings_in(plan: &Plan, kind: Kind, name: &str, waiting: &[usize]) -> Vec<usize> {
    waiting
        .iter()
        .copied()
        .filter(|&s| {
            let string = &plan.strings[s];
            match kind {
                Kind::String => string.name == name,
                Kind::Weave => plan.weaves[string.weave].name == name,
                Kind::Bead | Kind::Binding => false,
            }
        })
        .collect()
}

/// A weave whose strings wait to start cannot go: they would start in a
/// weave that no longer exists. (Removing a waiting string itself is fine:
/// it never starts.)
fn refuse_if_waiting(kind: Kind, name: &str, waiting: &[usize]) -> Result<(), String> {
    if kind == Kind::Weave && !waiting.is_empty() {
        return Err(format!(
            "weave `{name}` has strings this script added that have not started yet: remove them (or let the block end) first"
        ));
    }
    Ok(())
}

/// Waits until `t` has ended; Err after `within`.
fn wait_for(t: &Task, within: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + within;
    while !t.is_done() {
        if Instant::now() >= deadline {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

impl Tapestry {
    /// Starts a string that bead code asked for (`wv_spawn`); returns its
    /// id.
    pub(crate) fn spawn_string(
        &mut self,
        request: weaves_interpose::SpawnRequest,
        runner: &mut Runner<'_>,
    ) -> Result<u32, String> {
        let plan = &self.plan;
        let weave = plan
            .weaves
            .iter()
            .enumerate()
            .position(|(i, w)| w.name == request.weave && !plan.removed.weaves.contains(&i))
            .ok_or_else(|| format!("no weave `{}`", request.weave))?;
        let (entry_bead, entry_symbol) = match request.entry.split_once(':') {
            Some((bead, symbol)) => {
                let b = plan.weaves[weave]
                    .beads
                    .iter()
                    .copied()
                    .find(|&b| plan.beads[b].name == bead)
                    .ok_or_else(|| format!("bead `{bead}` is not in weave `{}`", request.weave))?;
                (Some(b), symbol.to_owned())
            }
            None => (None, request.entry.clone()),
        };
        let mut next = plan.clone();
        let n = next.strings.len();
        let taken = next
            .strings
            .iter()
            .enumerate()
            .filter(|(i, _)| !next.removed.strings.contains(i))
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let name = crate::config::default_string_name(&request.weave, weave, &next.strings, &taken);
        next.strings.push(crate::config::StringPlan {
            name,
            weave,
            entry_bead,
            entry_symbol,
            args: request.args,
            env: Vec::new(),
            stack_size: weaves_strings::DEFAULT_STACK,
            mode: weaves_strings::Mode::Fiber,
            line: 0,
        });
        self.extend(next, Extension::Live).map_err(|e| match e {
            crate::TapestryError::Config { message, .. } => {
                message.trim_start_matches("line 0: ").to_owned()
            }
            other => other.to_string(),
        })?;
        self.start_string(n, runner)?;
        Ok(n as u32 + 1)
    }
}
