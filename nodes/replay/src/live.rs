//! Live view: a run loop hands what it sees and does to a bounded channel; a
//! background thread logs it to rerun with the same entities as a replay.
//!
//! The sending side never blocks: when the queue is full the event is dropped
//! and counted. Building an event allocates (vectors, image copies), so call
//! [`LiveSender::send`] from a non-real-time thread (the policy loop, a
//! subscriber task), not from the 1 kHz control tick itself.

use crate::error::{ReplayError, Result};
use crate::logger::{Logger, Stamp};
use crate::robot::Robot;
use kotoba_recorder::ImageRgb8;
use rerun::RecordingStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Something to show; `t_ns` is the stamp (ns since the epoch, the run's clock).
#[derive(Debug, Clone)]
pub enum LiveEvent {
    JointState { t_ns: i64, names: Arc<[String]>, positions: Vec<f64> },
    Commands { t_ns: i64, values: Vec<f64> },
    Targets { t_ns: i64, names: Arc<[String]>, positions: Vec<f64> },
    Image { t_ns: i64, topic: String, image: ImageRgb8 },
    /// Normalised `[x0, y0, x1, y1, ...]` on the camera `topic`.
    Attention { t_ns: i64, topic: String, xy: Vec<f64> },
    Instruction { t_ns: i64, text: String },
    Label { t_ns: i64, text: String },
    PredictedLabel { t_ns: i64, text: String },
    /// `level`: 0 OK, 1 WARN, 2 ERROR, 3 STALE.
    Diagnostic { t_ns: i64, level: u8, text: String },
}

/// Counters of a live view.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub sent: AtomicU64,
    /// Events dropped because the queue was full (the viewer side fell behind).
    pub dropped: AtomicU64,
    pub logged: AtomicU64,
    /// Events that could not be logged (e.g. a malformed image).
    pub failed: AtomicU64,
}

/// The cheap, cloneable sending end.
#[derive(Clone)]
pub struct LiveSender {
    tx: SyncSender<LiveEvent>,
    stats: Arc<LiveStats>,
}

impl LiveSender {
    /// Queues an event without blocking; `false` when it was dropped.
    pub fn send(&self, ev: LiveEvent) -> bool {
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// How long closing a live view waits for the viewer to confirm the tail of
/// the run: the node is stopping, so this must not be long.
const LIVE_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A background logger fed through a bounded channel.
pub struct LiveView {
    tx: SyncSender<LiveEvent>,
    stats: Arc<LiveStats>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl LiveView {
    /// Starts the logging thread on `rec`. `start_ns` is the run's time
    /// origin; `cameras` lays out the blueprint; `capacity` bounds the queue.
    pub fn start(rec: RecordingStream, robot: Option<Robot>, start_ns: i64, cameras: &[String], capacity: usize) -> Result<LiveView> {
        rec.send_blueprint_opts(&rerun::blueprint::BlueprintOpts {
            blueprint: crate::blueprint::default_blueprint(cameras),
            activation: rerun::blueprint::BlueprintActivation { make_active: true, make_default: true },
        })?;
        let logger = Logger::new(rec, robot, start_ns, 60.0)?;
        let (tx, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(LiveStats::default());
        let closing = Arc::new(AtomicBool::new(false));
        let (s, c) = (stats.clone(), closing.clone());
        let thread = std::thread::Builder::new()
            .name("kotoba-live-view".into())
            .spawn(move || run(logger, rx, s, c))
            .map_err(|e| ReplayError::Io { path: "kotoba-live-view thread".into(), source: e })?;
        Ok(LiveView { tx, stats, closing, thread: Some(thread) })
    }

    pub fn sender(&self) -> LiveSender {
        LiveSender { tx: self.tx.clone(), stats: self.stats.clone() }
    }

    pub fn stats(&self) -> &LiveStats {
        &self.stats
    }

    /// Logs what is queued, flushes the sink and stops the thread.
    pub fn close(mut self) -> Result<()> {
        self.closing.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ReplayError::Input { path: "kotoba-live-view thread".into(), reason: "panicked".into() }),
            None => Ok(()),
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut lg: Logger, rx: Receiver<LiveEvent>, stats: Arc<LiveStats>, closing: Arc<AtomicBool>) -> Result<()> {
    let mut sample: i64 = 0;
    let mut handle = |lg: &mut Logger, ev: LiveEvent| {
        if matches!(ev, LiveEvent::JointState { .. }) {
            sample += 1;
        }
        let ok = log_event(lg, ev, (sample - 1).max(0));
        let counter = if ok.is_ok() { &stats.logged } else { &stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = ok {
            tracing::debug!("live view: {e}");
        }
    };
    loop {
        if closing.load(Ordering::Acquire) {
            // Log what is already queued, then stop.
            while let Ok(ev) = rx.try_recv() {
                handle(&mut lg, ev);
            }
            break;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(ev) => handle(&mut lg, ev),
            // Idle: let the viewer see the buffered series now.
            Err(RecvTimeoutError::Timeout) => lg.flush()?,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(e) = lg.finish(LIVE_FLUSH_TIMEOUT)? {
        tracing::warn!("live view: the rerun sink did not confirm it has everything: {e}");
    }
    Ok(())
}

fn log_event(lg: &mut Logger, ev: LiveEvent, sample: i64) -> Result<()> {
    let s = |t_ns| Stamp { t_ns, sample };
    match ev {
        LiveEvent::JointState { t_ns, names, positions } => lg.joint_state(s(t_ns), &names, &positions),
        LiveEvent::Commands { t_ns, values } => lg.commands(s(t_ns), &values),
        LiveEvent::Targets { t_ns, names, positions } => lg.targets(s(t_ns), &names, &positions),
        LiveEvent::Image { t_ns, topic, image } => lg.image(s(t_ns), &topic, image),
        LiveEvent::Attention { t_ns, topic, xy } => lg.attention(s(t_ns), &topic, &xy).map(|_| ()),
        LiveEvent::Instruction { t_ns, text } => lg.instruction(s(t_ns), &text),
        LiveEvent::Label { t_ns, text } => lg.label(s(t_ns), &text),
        LiveEvent::PredictedLabel { t_ns, text } => lg.predicted_label(s(t_ns), &text),
        LiveEvent::Diagnostic { t_ns, level, text } => lg.diagnostic(s(t_ns), level, &text),
    }
}
