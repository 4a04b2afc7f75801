//! A live recording session on the bus: subscriptions → bounded queue → one
//! writer thread (this one), driven by [`Control`]s from keys, a topic, or a
//! schedule (`--episodes N --episode-duration S`).

use crate::config::{RecordConfig, TopicConfig};
use crate::control::{Control, signalled};
use crate::dataset::{Dataset, EpisodeEntry};
use crate::episode::{Episode, EpisodeMeta};
use crate::error::{RecorderError, Result};
use kotoba_bus::{AttachmentInfo, Bus, RawSample, SubscriptionGuard, TopicSpec};
use kotoba_core::Clock;
use kotoba_msgs::{Durability, Qos, std_msgs};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the session is driven.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Start the first episode at once (and each next one after the reset).
    pub auto_start: bool,
    /// End the session after this many saved episodes.
    pub episodes: Option<usize>,
    /// Save each episode after this long.
    pub episode_duration: Option<Duration>,
}

/// Per-topic live counters (shared with the transport callbacks).
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub received: AtomicU64,
    /// Dropped because the write queue was full (the disk could not keep up).
    pub queue_full: AtomicU64,
    pub wrong_type: AtomicU64,
    pub no_attachment: AtomicU64,
    pub malformed: AtomicU64,
}

/// What the screen shows, about once a second.
#[derive(Debug, Clone)]
pub struct Status {
    pub phase: Phase,
    /// 1-based number of the episode being recorded / next to record.
    pub episode: usize,
    pub saved: usize,
    pub elapsed_s: f64,
    pub topics: Vec<TopicStatus>,
    pub bytes_written: u64,
}

#[derive(Debug, Clone)]
pub struct TopicStatus {
    pub topic: String,
    pub rate_hz: f64,
    pub recorded: u64,
    /// queue full + wrong type + malformed, since the session started.
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Waiting,
    Recording,
    Reset { left_s: f64 },
}

/// What the session tells its front end.
#[derive(Debug, Clone)]
pub enum Report {
    Status(Status),
    Saved(EpisodeEntry),
    Discarded(String),
    Warning(String),
    Info(String),
}

enum Event {
    Msg { topic: usize, data: Vec<u8>, recv_ns: i64, send_ns: i64 },
    Control(Control),
}

/// Sends controls into a running session from any thread.
#[derive(Clone)]
pub struct ControlHandle(SyncSender<Event>);

impl ControlHandle {
    /// False once the session is gone.
    pub fn send(&self, c: Control) -> bool {
        self.0.send(Event::Control(c)).is_ok()
    }
}

/// A recording session.
pub struct Session {
    cfg: RecordConfig,
    dataset: Dataset,
    clock: Arc<dyn Clock>,
    rx: Receiver<Event>,
    tx: SyncSender<Event>,
    topics: Vec<TopicConfig>,
    counters: Vec<Arc<LiveCounters>>,
    queued: Arc<AtomicUsize>,
    recording: Arc<AtomicBool>,
    /// Last payload of each transient-local topic, replayed into each episode.
    latched: BTreeMap<usize, (Vec<u8>, i64)>,
    meta: EpisodeMeta,
    _subs: Vec<Box<dyn SubscriptionGuard>>,
}

impl Session {
    /// Subscribes to every configured topic and the command topic.
    pub fn new(bus: &Bus, cfg: RecordConfig, dataset: Dataset, clock: Arc<dyn Clock>) -> Result<Session> {
        cfg.validate()?;
        let (tx, rx) = sync_channel(1 << 16);
        let queued = Arc::new(AtomicUsize::new(0));
        let recording = Arc::new(AtomicBool::new(false));
        let topics: Vec<TopicConfig> = cfg
            .topics
            .iter()
            .map(|t| -> Result<TopicConfig> {
                let mut t = t.clone();
                t.topic = kotoba_bus::qualify(&t.topic).map_err(|_| RecorderError::BadTopic(t.topic.clone()))?;
                t.ros_type = kotoba_msgs::lookup(&t.ros_type).map(|e| e.ros_name.to_string()).unwrap_or(t.ros_type);
                Ok(t)
            })
            .collect::<Result<_>>()?;
        let mut subs = Vec::new();
        let mut counters = Vec::new();
        for (i, t) in topics.iter().enumerate() {
            let entry = kotoba_msgs::lookup(&t.ros_type).ok_or_else(|| RecorderError::UnknownType {
                topic: t.topic.clone(),
                ty: t.ros_type.clone(),
                supported: crate::validate::supported_types(),
            })?;
            let spec = TopicSpec::dynamic(&t.topic, entry, t.qos)?;
            let c = Arc::new(LiveCounters::default());
            counters.push(c.clone());
            let (tx, queued, recording, clock) = (tx.clone(), queued.clone(), recording.clone(), clock.clone());
            let latched = t.qos.durability == Durability::TransientLocal;
            let limit = cfg.queue_bytes;
            subs.push(bus.raw_subscriber(
                &spec,
                Box::new(move |s: RawSample<'_>| {
                    // Runs on a transport thread: copy, count, hand over, return.
                    let recv_ns = clock.now().as_nanos();
                    c.received.fetch_add(1, Ordering::Relaxed);
                    if !s.type_matches {
                        c.wrong_type.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    if !latched && !recording.load(Ordering::Relaxed) {
                        return;
                    }
                    let send_ns = match s.attachment {
                        AttachmentInfo::Valid { source_ns, .. } => source_ns,
                        _ => {
                            c.no_attachment.fetch_add(1, Ordering::Relaxed);
                            recv_ns
                        }
                    };
                    let n = s.payload.len();
                    if queued.fetch_add(n, Ordering::AcqRel) + n > limit {
                        queued.fetch_sub(n, Ordering::AcqRel);
                        c.queue_full.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let ev = Event::Msg { topic: i, data: s.payload.to_vec(), recv_ns, send_ns };
                    if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(ev) {
                        queued.fetch_sub(n, Ordering::AcqRel);
                        c.queue_full.fetch_add(1, Ordering::Relaxed);
                    }
                }),
            )?);
        }
        let cmd_spec = TopicSpec::of::<std_msgs::String>(&cfg.command_topic, Qos::default())?;
        let ctx = tx.clone();
        subs.push(bus.raw_subscriber(
            &cmd_spec,
            Box::new(move |s: RawSample<'_>| {
                match kotoba_msgs::decode::<std_msgs::String>(s.payload).map_err(|e| e.to_string()).and_then(|m| m.data.parse::<Control>()) {
                    Ok(c) => {
                        let _ = ctx.try_send(Event::Control(c));
                    }
                    Err(e) => tracing::warn!("recorder command ignored: {e}"),
                }
            }),
        )?);
        let meta = EpisodeMeta {
            instruction: cfg.instruction.clone(),
            operator: cfg.operator.clone(),
            robot_description_hash: cfg.robot_description_hash()?,
        };
        Ok(Session { cfg, dataset, clock, rx, tx, topics, counters, queued, recording, latched: BTreeMap::new(), meta, _subs: subs })
    }

    pub fn control_handle(&self) -> ControlHandle {
        ControlHandle(self.tx.clone())
    }

    pub fn counters(&self) -> Vec<(String, Arc<LiveCounters>)> {
        self.topics.iter().map(|t| t.topic.clone()).zip(self.counters.iter().cloned()).collect()
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Runs until quit, the schedule ends, or SIGINT/SIGTERM. Returns the
    /// entries saved in this session. A write error (disk full) stops the
    /// session: the episode in progress stays on disk, truncated and
    /// recoverable, and the index keeps every earlier episode.
    pub fn run(&mut self, schedule: &Schedule, report: &mut dyn FnMut(Report)) -> Result<Vec<EpisodeEntry>> {
        let mut saved: Vec<EpisodeEntry> = Vec::new();
        let mut episode: Option<(Episode, Instant)> = None;
        let mut reset_until: Option<Instant> = None;
        let mut pending_start = schedule.auto_start;
        let mut last_status = Instant::now();
        let mut last_counts: Vec<u64> = vec![0; self.topics.len()];
        let mut quit = false;
        while !quit {
            let ev = match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut control = None;
            match ev {
                Some(Event::Msg { topic, data, recv_ns, send_ns }) => {
                    self.queued.fetch_sub(data.len(), Ordering::AcqRel);
                    let t = &self.topics[topic];
                    if t.qos.durability == Durability::TransientLocal {
                        self.latched.insert(topic, (data.clone(), send_ns));
                    }
                    if let Some((ep, _)) = episode.as_mut() {
                        match ep.write(&t.topic, &t.ros_type, &t.qos, &data, recv_ns, send_ns) {
                            Ok(()) => {}
                            Err(RecorderError::Malformed { .. }) => {
                                self.counters[topic].malformed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => return Err(self.fail(episode.take().map(|(ep, _)| ep), e)),
                        }
                    }
                }
                Some(Event::Control(c)) => control = Some(c),
                None => {}
            }
            if signalled() {
                control = Some(Control::Quit);
            }
            // Schedule.
            if control.is_none() {
                if let (Some((_, since)), Some(d)) = (&episode, schedule.episode_duration)
                    && since.elapsed() >= d
                {
                    control = Some(Control::Stop { success: true });
                }
                if let Some(until) = reset_until
                    && Instant::now() >= until
                {
                    reset_until = None;
                    report(Report::Info("reset over".into()));
                    if schedule.auto_start {
                        pending_start = true;
                    }
                }
                if pending_start && episode.is_none() && reset_until.is_none() {
                    pending_start = false;
                    control = Some(Control::Start);
                }
            }
            if let Some(c) = control {
                match (c, episode.is_some()) {
                    (Control::Start, false) => {
                        reset_until = None;
                        let ep = self.start_episode().map_err(|e| self.fail(None, e))?;
                        report(Report::Info(format!("recording {} — {}", ep.name(), crate::control::KEY_HELP)));
                        episode = Some((ep, Instant::now()));
                    }
                    (Control::Start, true) => {}
                    (Control::Stop { .. } | Control::Quit, true) => {
                        let success = matches!(c, Control::Stop { success: true });
                        let (ep, _) = episode.take().expect("checked above");
                        let entry = self.save(ep, success, report)?;
                        saved.push(entry);
                        if c == Control::Quit || schedule.episodes.is_some_and(|n| saved.len() >= n) {
                            quit = true;
                        } else {
                            reset_until = Some(Instant::now() + Duration::from_secs_f64(self.cfg.reset_s));
                        }
                    }
                    (Control::Discard, true) => {
                        let (ep, _) = episode.take().expect("checked above");
                        self.recording.store(false, Ordering::Relaxed);
                        let name = ep.name().to_string();
                        ep.discard()?;
                        report(Report::Discarded(name));
                        reset_until = Some(Instant::now() + Duration::from_secs_f64(self.cfg.reset_s));
                    }
                    (Control::Quit, false) => quit = true,
                    (Control::Stop { .. } | Control::Discard, false) => {
                        report(Report::Warning("not recording".into()))
                    }
                }
            }
            if let Some((ep, _)) = episode.as_mut()
                && let Err(e) = ep.tick()
            {
                return Err(self.fail(episode.take().map(|(ep, _)| ep), e));
            }
            if last_status.elapsed() >= Duration::from_secs(1) {
                let dt = last_status.elapsed().as_secs_f64();
                last_status = Instant::now();
                report(Report::Status(self.status(&episode, reset_until, saved.len(), &mut last_counts, dt)));
            }
        }
        Ok(saved)
    }

    fn start_episode(&mut self) -> Result<Episode> {
        let mut ep = self.dataset.begin_episode(self.meta.clone(), &self.cfg.writer)?;
        let now = self.clock.now().as_nanos();
        for t in &self.topics {
            ep.declare(&t.topic, &t.ros_type, &t.qos)?;
        }
        // Latched topics arrived once, maybe long ago: each episode gets
        // their latest value, stamped at its start.
        for (&i, (data, send_ns)) in &self.latched {
            let t = &self.topics[i];
            if let Err(e) = ep.write(&t.topic, &t.ros_type, &t.qos, data, now, *send_ns) {
                tracing::warn!("latched {} not written: {e}", t.topic);
            }
        }
        self.recording.store(true, Ordering::Relaxed);
        Ok(ep)
    }

    fn save(&mut self, ep: Episode, success: bool, report: &mut dyn FnMut(Report)) -> Result<EpisodeEntry> {
        self.recording.store(false, Ordering::Relaxed);
        // Messages already queued belong to this episode.
        let mut ep = ep;
        while let Ok(ev) = self.rx.try_recv() {
            if let Event::Msg { topic, data, recv_ns, send_ns } = ev {
                self.queued.fetch_sub(data.len(), Ordering::AcqRel);
                let t = &self.topics[topic];
                match ep.write(&t.topic, &t.ros_type, &t.qos, &data, recv_ns, send_ns) {
                    Ok(()) => {}
                    Err(RecorderError::Malformed { .. }) => {
                        self.counters[topic].malformed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(self.fail(Some(ep), e)),
                }
            } else if let Event::Control(c) = ev {
                // A control racing the stop: keep it for later.
                let _ = self.tx.try_send(Event::Control(c));
                break;
            }
        }
        for (t, c) in self.topics.iter().zip(&self.counters) {
            for (reason, n) in [
                ("queue_full", c.queue_full.swap(0, Ordering::Relaxed)),
                ("wrong_type", c.wrong_type.swap(0, Ordering::Relaxed)),
            ] {
                ep.count_skipped_n(&t.topic, reason, n);
            }
        }
        let entry = self.dataset.save_episode(ep, success).map_err(|e| self.fail(None, e))?;
        for t in &self.topics {
            if entry.message_counts.get(&t.topic).copied().unwrap_or(0) == 0 {
                report(Report::Warning(format!(
                    "{}: no messages on {} ({}) — is it published, with this type?",
                    entry.name, t.topic, t.ros_type
                )));
            }
        }
        report(Report::Saved(entry.clone()));
        Ok(entry)
    }

    fn fail(&mut self, ep: Option<Episode>, e: RecorderError) -> RecorderError {
        self.recording.store(false, Ordering::Relaxed);
        if let Some(ep) = ep {
            ep.abandon();
        }
        e
    }

    fn status(
        &self,
        episode: &Option<(Episode, Instant)>,
        reset_until: Option<Instant>,
        saved: usize,
        last: &mut [u64],
        dt: f64,
    ) -> Status {
        let counts = episode.as_ref().map(|(ep, _)| ep.counts()).unwrap_or_default();
        let topics = self
            .topics
            .iter()
            .zip(&self.counters)
            .enumerate()
            .map(|(i, (t, c))| {
                let rx = c.received.load(Ordering::Relaxed);
                let rate = (rx - last[i].min(rx)) as f64 / dt;
                last[i] = rx;
                TopicStatus {
                    topic: t.topic.clone(),
                    rate_hz: rate,
                    recorded: counts.get(&t.topic).copied().unwrap_or(0),
                    dropped: c.queue_full.load(Ordering::Relaxed)
                        + c.wrong_type.load(Ordering::Relaxed)
                        + c.malformed.load(Ordering::Relaxed),
                }
            })
            .collect();
        let phase = match (episode, reset_until) {
            (Some(_), _) => Phase::Recording,
            (None, Some(u)) => Phase::Reset { left_s: u.saturating_duration_since(Instant::now()).as_secs_f64() },
            (None, None) => Phase::Waiting,
        };
        Status {
            phase,
            episode: self.dataset.episodes().len() + 1,
            saved,
            elapsed_s: episode.as_ref().map(|(_, s)| s.elapsed().as_secs_f64()).unwrap_or(0.0),
            topics,
            bytes_written: episode.as_ref().map(|(ep, _)| ep.bytes_written()).unwrap_or(0),
        }
    }
}
