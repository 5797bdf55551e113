//! Running a tapestry: start its strings, make live changes while they
//! run, and finalise the beads when the last string has ended.

use std::ffi::CString;
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Instant;

use weaves_monitor::protocol::Applied;
use weaves_strings::{Entry, ExecCtx, Launch, Outcome, Scheduler, StringInfo, Task};

use weaves_interpose::checkpoint::Ask;

use crate::checkpoint::Destination;
use crate::error::TapestryError;
use crate::extend::Extension;
use crate::live::{Change, Event, LiveView};
use crate::script::Runner;
use crate::tapestry::{host_environment, RunReport, StringReport, Tapestry};

/// Fresh strings are handed to the workers in batches of this many.
const LAUNCH_BATCH: usize = 256;

impl Tapestry {
    /// Runs every string to its end, then finalises the beads.
    pub fn run(&mut self) -> Result<RunReport, TapestryError> {
        self.run_monitored(|_| ())
    }

    /// Like [`Tapestry::run`]; once the workers start, `monitor` receives
    /// the live view (to serve it on a control socket, say). What it
    /// returns is kept until the strings end, then dropped before the
    /// beads are finalised. Changes the view receives are made here,
    /// between waits.
    pub fn run_monitored<G>(
        &mut self,
        monitor: impl FnOnce(Arc<LiveView>) -> G,
    ) -> Result<RunReport, TapestryError> {
        // Every string's context is made (and its arguments checked) before
        // any starts: a bad one refuses the run instead of leaving others
        // running.
        let launches = (0..self.plan.strings.len())
            .map(|i| Ok((i as u32 + 1, self.launch(i)?)))
            .collect::<Result<Vec<_>, TapestryError>>()?;
        self.drive(launches, None, monitor)
    }

    /// Runs `launches` ((string id, launch); ids of declared strings are
    /// their index + 1), serving `monitor`, until every string has ended.
    pub(crate) fn drive<G>(
        &mut self,
        launches: Vec<(u32, Launch)>,
        restored: Option<crate::checkpoint::Resumed>,
        monitor: impl FnOnce(Arc<LiveView>) -> G,
    ) -> Result<RunReport, TapestryError> {
        let sched = Scheduler::start(self.plan.workers)
            .map_err(|e| TapestryError::Run(format!("cannot start worker threads: {e}")))?;
        let preempt = self.plan.preempt_ms.map(std::time::Duration::from_millis);
        if preempt.is_some() {
            weaves_interpose::preempt::install();
        }
        sched
            .watch(preempt, weaves_interpose::preempt::TICK)
            .map_err(|e| TapestryError::Run(format!("cannot start the watchdog thread: {e}")))?;
        let (events, inbox) = channel::<Event>();
        let signals = crate::stop::watch(events.clone());
        {
            let events = events.clone();
            sched.on_idle(Box::new(move || {
                let _ = events.send(Event::Idle);
            }));
        }
        weaves_interpose::set_spawn_hook(Some(spawn_hook(events.clone())));
        weaves_interpose::set_dlopen_hook(Some(dlopen_hook(events.clone())));
        weaves_interpose::set_dlclose_hook(Some(dlclose_hook(events.clone())));
        // Before any string starts: one may ask for a checkpoint at once.
        let checkpointing = self.plan.checkpoint.clone();
        if checkpointing.is_some() || weaves_strings::quiesce::checkpointable() {
            let events = std::sync::Mutex::new(events.clone());
            weaves_interpose::checkpoint::set_checkpoint_hook(Some(Box::new(move |ask| {
                let slot: weaves_interpose::checkpoint::Taken = Default::default();
                let event = match ask {
                    Ask::Checkpoint => Event::CheckpointFor(slot.clone()),
                    Ask::Rollback => Event::RollbackFor(slot.clone()),
                };
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(event)
                    .ok()?;
                Some(slot)
            })));
        }
        // The live view (a description of every bead and weave) is ready
        // before any string is made; the monitor serves it once they all
        // are, so `weaves ps` never counts a tapestry's strings half made.
        // Uptime counts from the run's first start (a rollback goes on).
        let started_at = *self
            .started_at
            .get_or_insert_with(std::time::SystemTime::now);
        let since = std::time::SystemTime::now()
            .duration_since(started_at)
            .unwrap_or_default();
        let first_start = Instant::now()
            .checked_sub(since)
            .unwrap_or_else(Instant::now);
        let view = Arc::new(LiveView::new(self, sched.clone(), first_start, events));
        // What `strings_elapsed` measures: making the strings and running
        // them.
        let started = Instant::now();
        let mut handles: Vec<Option<Arc<Task>>> = vec![None; self.plan.strings.len()];
        // A restored string starts only once restored pthread ids name it
        // again (a string restored inside pthread_join joins at once), so
        // restored ones are all made first. Fresh ones are handed to the
        // workers in batches as they are made: the first run while the
        // rest are made, and the workers take each batch with one lock.
        let fresh = restored.is_none();
        let mut by_id = Vec::with_capacity(launches.len());
        let mut batch = Vec::with_capacity(LAUNCH_BATCH);
        let launch = |batch: &mut Vec<Arc<Task>>| {
            let r = sched.launch_all(batch).map_err(|(i, e)| {
                TapestryError::Run(format!(
                    "string `{}`: cannot start: {e}",
                    batch[i].ctx.info.name
                ))
            });
            batch.clear();
            r
        };
        for (id, launch_plan) in launches {
            let task = sched.prepare(launch_plan);
            if let Some(h) = handles.get_mut((id as usize).wrapping_sub(1)) {
                *h = Some(task.clone());
            }
            if fresh {
                batch.push(task.clone());
                if batch.len() == LAUNCH_BATCH {
                    launch(&mut batch)?;
                }
            }
            by_id.push((id, task));
        }
        launch(&mut batch)?;
        let ended = match restored {
            Some((ended, threads)) => {
                for (tid, sid) in threads {
                    if let Some((_, t)) = by_id.iter().find(|(id, _)| *id == sid) {
                        weaves_interpose::checkpoint::adopt_thread(tid, t.clone());
                    }
                }
                ended
            }
            None => Vec::new(),
        };
        for (_, task) in by_id.iter().filter(|_| !fresh) {
            sched.launch(task).map_err(|e| {
                TapestryError::Run(format!(
                    "string `{}`: cannot start: {e}",
                    task.ctx.info.name
                ))
            })?;
        }
        drop(by_id);
        let guard = monitor(view.clone());
        let interval = checkpointing
            .as_ref()
            .and_then(|c| c.interval_ms)
            .map(std::time::Duration::from_millis);
        let mut next_periodic = interval.map(|i| Instant::now() + i);
        let mut checkpoints = Vec::new();
        let mut checkpoint_failures = Vec::new();
        // The signal that is ending the tapestry, once one came.
        let mut ending: Option<i32> = None;
        // Wait for the strings, making changes as they come. Strings that
        // bead code started (pthread_create) count too.
        while sched.live() > 0 {
            let event = match next_periodic.filter(|_| ending.is_none()) {
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(e) => Some(e),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            match self.checkpoint_to(&sched, Destination::Configured, false, false)
                            {
                                Ok(taken) => checkpoints.push(taken),
                                Err(e) => checkpoint_failures.push(e),
                            }
                            next_periodic = interval.map(|i| Instant::now() + i);
                            None
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                }
                None => inbox.recv().ok(),
            };
            let event = match (event, ending) {
                (Some(Event::Stop(signal)), _) => {
                    let asked = sched.end_all();
                    if ending.is_none() {
                        tracing::info!(
                            "{}: ending the tapestry: {asked} string(s) asked to end at their next safe point; then the beads' finalisers run",
                            crate::stop::signal_name(signal)
                        );
                    }
                    ending.get_or_insert(signal);
                    None
                }
                // Nothing changes while the tapestry ends.
                (Some(Event::Change(_, answer)), Some(signal)) => {
                    let _ = answer.send(Err(format!(
                        "the tapestry is ending ({})",
                        crate::stop::signal_name(signal)
                    )));
                    None
                }
                (Some(Event::CheckpointFor(slot) | Event::RollbackFor(slot)), Some(_)) => {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Err("the tapestry is ending".into()));
                    None
                }
                (event, _) => event,
            };
            match event {
                None | Some(Event::Idle) | Some(Event::Stop(_)) => {}
                Some(Event::CheckpointFor(slot)) => {
                    let result = self
                        .checkpoint_to(&sched, Destination::ConfiguredOrMemory, false, false)
                        .map(|taken| checkpoints.push(taken));
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                }
                Some(Event::RollbackFor(slot)) => {
                    let refused = self
                        .roll_back(&sched, None, || {})
                        .map(|never| match never {});
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused);
                }
                Some(Event::Change(Change::Rollback { path }, answer)) => {
                    let ok = answer.clone();
                    let refused = self.roll_back(&sched, Some(path), move || {
                        let _ = ok.send(Ok(serde_json::json!({ "rolling_back": true })));
                    });
                    let Err(e) = refused;
                    let _ = answer.send(Err(e));
                }
                Some(Event::Change(change, answer)) => {
                    let result = self.change(change, &sched, &mut handles, &view);
                    view.refresh(self);
                    let _ = answer.send(result);
                }
            }
        }
        drop(signals);
        weaves_interpose::checkpoint::set_checkpoint_hook(None);
        let strings_elapsed = started.elapsed();
        weaves_interpose::set_spawn_hook(None);
        weaves_interpose::set_dlopen_hook(None);
        weaves_interpose::set_dlclose_hook(None);
        view.close();
        drop(guard);
        // Changes that came too late are refused (their senders hear that
        // the tapestry ended).
        drop(inbox);
        let reports = handles
            .iter()
            .zip(&self.plan.strings)
            .enumerate()
            .filter_map(|(i, (h, s))| match h {
                Some(h) => {
                    let outcome = h.wait();
                    // The program's `on_exit` handlers are given it.
                    let home = match s.entry_bead {
                        Some(b) => self.beads[b].owner,
                        None => weaves_arena::owner_of(self.entries[i] as usize).unwrap_or(0),
                    };
                    if home != 0 {
                        weaves_interpose::set_exit_status(home, outcome.status());
                    }
                    Some(StringReport {
                        name: s.name.clone(),
                        weave: self.plan.weaves[s.weave].name.clone(),
                        status: outcome.status(),
                        exited: matches!(outcome, Outcome::Exited(_)),
                        stopped: matches!(outcome, Outcome::Stopped),
                    })
                }
                None => ended
                    .iter()
                    .find(|e| e.id as usize == i + 1)
                    .map(|e| StringReport {
                        name: e.name.clone(),
                        weave: e.weave.clone(),
                        status: e.status,
                        exited: e.exited,
                        stopped: false,
                    }),
            })
            .collect();
        // Declared strings stayed listed (as done) until here.
        drop(handles);
        let teardown = Instant::now();
        sched.shutdown();
        let finalisers = self.finalise()?;
        Ok(RunReport {
            strings: reports,
            strings_elapsed,
            teardown_elapsed: teardown.elapsed(),
            checkpoints,
            checkpoint_failures,
            finalisers,
            ended_by: ending,
        })
    }

    /// Makes a live change; the answer is JSON for the monitor.
    fn change(
        &mut self,
        change: Change,
        sched: &Arc<Scheduler>,
        handles: &mut Vec<Option<Arc<Task>>>,
        view: &LiveView,
    ) -> Result<serde_json::Value, String> {
        if matches!(
            change,
            Change::Remove { .. } | Change::Apply { .. } | Change::Script { .. } | Change::Swap(_)
        ) {
            self.changed_live = true;
        }
        let span = tracing::debug_span!("change", what = %change.what());
        let _span = span.enter();
        let result = self.make_change(change, sched, handles, view);
        match &result {
            Ok(v) => tracing::debug!("done: {v}"),
            Err(e) => tracing::debug!("refused: {e}"),
        }
        result
    }

    fn make_change(
        &mut self,
        change: Change,
        sched: &Arc<Scheduler>,
        handles: &mut Vec<Option<Arc<Task>>>,
        view: &LiveView,
    ) -> Result<serde_json::Value, String> {
        match change {
            Change::Checkpoint {
                path,
                dir,
                strict,
                full,
            } => {
                let to = match (path, dir) {
                    (Some(p), _) => Destination::File(p),
                    (None, Some(d)) => Destination::Dir(d),
                    (None, None) => Destination::Configured,
                };
                let taken = self.checkpoint_to(sched, to, strict, full)?;
                serde_json::to_value(taken).map_err(|e| e.to_string())
            }
            Change::Remove { kind, name } => self.remove(kind, &name, &sched.tasks(), handles),
            Change::Rollback { .. } => Err("a rollback is made by the run loop".into()),
            Change::Apply { path, text } => {
                let plan = self
                    .plan
                    .extend_with(&path, &text)
                    .map_err(|e| e.to_string())?;
                let before = Counts::of(self);
                let added = self
                    .extend(plan, Extension::Live)
                    .map_err(|e| e.to_string())?;
                tracing::debug!(
                    "apply {}: added, starting {} string(s)",
                    path.display(),
                    self.plan.strings.len() - added.first_string
                );
                let mut runner = Runner::new(sched, handles, view);
                // The new weaves are in the view before their strings run.
                view.refresh(self);
                for i in added.first_string..self.plan.strings.len() {
                    self.start_string(i, &mut runner)?;
                }
                serde_json::to_value(before.added(self)).map_err(|e| e.to_string())
            }
            Change::Script { path, text } => {
                let mut runner = Runner::new(sched, handles, view);
                self.run_script(&path, &text, &mut runner)
            }
            Change::Spawn(request) => {
                let id = self.spawn_string(request, &mut Runner::new(sched, handles, view))?;
                Ok(serde_json::json!({ "id": id }))
            }
            Change::Swap(request) => self.swap(&[request], sched, handles),
            Change::Migrate { string, engine } => self
                .migrate_string(&string, engine)
                .map(|message| serde_json::json!({ "message": message })),
            Change::Dlopen(request) => {
                let beads = self.open_library(request)?;
                Ok(serde_json::json!({ "beads": beads }))
            }
            Change::Dlclose(beads) => {
                let unloaded = self.close_library(&beads, &sched.tasks(), handles)?;
                Ok(serde_json::json!({ "unloaded": unloaded }))
            }
        }
    }

    /// The launch of string `i`: its context, arguments and environment.
    pub(crate) fn launch(&self, i: usize) -> Result<Launch, TapestryError> {
        if let Some(launch) = self.wasm_launch(i)? {
            return Ok(launch);
        }
        let s = &self.plan.strings[i];
        let weave = &self.plan.weaves[s.weave];
        let home = match s.entry_bead {
            Some(b) => self.beads[b].owner,
            None => weaves_arena::owner_of(self.entries[i] as usize).unwrap_or(0),
        };
        // Strings without an `env` table read the process's environment
        // until they change it (copy on write).
        let env = if s.env.is_empty() {
            None
        } else {
            let mut env = host_environment();
            for (k, v) in &s.env {
                let prefix = format!("{k}=");
                env.retain(|e| !e.as_bytes().starts_with(prefix.as_bytes()));
                env.push(CString::new(format!("{k}={v}")).map_err(|_| {
                    TapestryError::Run(format!("string `{}`: NUL in environment", s.name))
                })?);
            }
            Some(env)
        };
        let argv = s
            .args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TapestryError::Run(format!("string `{}`: NUL in an argument", s.name)))?;
        let info = StringInfo {
            id: i as u32 + 1,
            name: s.name.clone(),
            weave: weave.name.clone(),
            home,
        };
        if let Some(argv0) = argv.first() {
            weaves_interpose::set_program_name(home, argv0);
        }
        let weave_beads = weave.beads.iter().map(|&b| self.beads[b].owner).collect();
        Ok(Launch {
            ctx: Arc::new(
                ExecCtx::new(info, env)
                    .with_args(argv)
                    .with_weave_beads(weave_beads),
            ),
            entry: Entry::Main(self.entry_override.unwrap_or(self.entries[i])),
            stack_size: s.stack_size,
            stack_at: None,
            mode: s.mode,
        })
    }
}

/// How many of each element a tapestry had before a change.
struct Counts {
    modules: usize,
    beads: usize,
    weaves: usize,
    strings: usize,
    bindings: usize,
}

impl Counts {
    fn of(t: &Tapestry) -> Counts {
        Counts {
            modules: t.plan.modules.len(),
            beads: t.plan.beads.len(),
            weaves: t.plan.weaves.len(),
            strings: t.plan.strings.len(),
            bindings: t.plan.bindings.len(),
        }
    }

    /// The names of what `t` has beyond these counts.
    fn added(&self, t: &Tapestry) -> Applied {
        let p = &t.plan;
        Applied {
            modules: p.modules[self.modules..]
                .iter()
                .map(|m| m.name.clone())
                .collect(),
            beads: p.beads[self.beads..]
                .iter()
                .map(|b| b.name.clone())
                .collect(),
            weaves: p.weaves[self.weaves..]
                .iter()
                .map(|w| w.name.clone())
                .collect(),
            strings: p.strings[self.strings..]
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            bindings: p.bindings[self.bindings..]
                .iter()
                .map(|b| {
                    format!(
                        "{}.{} -> {}.{}",
                        p.beads[b.from.0].name, b.from.1, p.beads[b.to.0].name, b.to.1
                    )
                })
                .collect(),
        }
    }
}

/// What `wv_spawn` calls while this tapestry runs: hands the request to
/// the running thread and waits for its answer, parking the calling string
/// (polling every 100 µs) rather than blocking its worker.
fn spawn_hook(
    events: std::sync::mpsc::Sender<Event>,
) -> Arc<dyn Fn(weaves_interpose::SpawnRequest) -> Result<u32, String> + Send + Sync> {
    let events = std::sync::Mutex::new(events);
    Arc::new(move |request| {
        let (tx, rx) = channel();
        events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Event::Change(Change::Spawn(request), tx))
            .map_err(|_| "the tapestry is ending".to_owned())?;
        loop {
            match rx.try_recv() {
                Ok(answer) => {
                    return answer.and_then(|v| {
                        v["id"]
                            .as_u64()
                            .and_then(|id| u32::try_from(id).ok())
                            .ok_or_else(|| "no string id in the answer".to_owned())
                    })
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    weaves_strings::blocking::park_until(
                        Instant::now() + std::time::Duration::from_micros(100),
                    );
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err("the tapestry ended before starting the string".into())
                }
            }
        }
    })
}

/// What `dlopen` of a private library calls while this tapestry runs: hands
/// the request to the running thread and waits for the new beads, parking
/// the calling string as [`spawn_hook`] does.
fn dlopen_hook(
    events: std::sync::mpsc::Sender<Event>,
) -> Arc<
    dyn Fn(weaves_interpose::OpenRequest) -> Result<Vec<weaves_arena::OwnerId>, String>
        + Send
        + Sync,
> {
    let events = std::sync::Mutex::new(events);
    Arc::new(move |request| {
        let answer = ask_parked(&events, Change::Dlopen(request), "loading the library")?;
        serde_json::from_value(answer["beads"].clone())
            .map_err(|_| "no beads in the answer".to_owned())
    })
}

/// What `dlclose` of a private library's last handle calls while this
/// tapestry runs: whether the running thread unloaded its beads.
fn dlclose_hook(
    events: std::sync::mpsc::Sender<Event>,
) -> Arc<dyn Fn(Vec<weaves_arena::OwnerId>) -> Result<bool, String> + Send + Sync> {
    let events = std::sync::Mutex::new(events);
    Arc::new(move |beads| {
        let answer = ask_parked(&events, Change::Dlclose(beads), "unloading the library")?;
        Ok(answer["unloaded"].as_bool().unwrap_or(false))
    })
}

/// Hands `change` to the running thread and parks the calling string until
/// it answers.
fn ask_parked(
    events: &std::sync::Mutex<std::sync::mpsc::Sender<Event>>,
    change: Change,
    doing: &str,
) -> Result<serde_json::Value, String> {
    let (tx, rx) = channel();
    events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(Event::Change(change, tx))
        .map_err(|_| "the tapestry is ending".to_owned())?;
    loop {
        match rx.try_recv() {
            Ok(answer) => return answer,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                weaves_strings::blocking::park_until(
                    Instant::now() + std::time::Duration::from_micros(100),
                );
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(format!("the tapestry ended before {doing}"))
            }
        }
    }
}
