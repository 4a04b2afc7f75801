//! The real-time loop: its own thread, SCHED_FIFO and locked memory when the
//! system allows it, absolute-deadline sleeps, and lock-free ports to the
//! transport threads (triple buffers in, SPSC rings out).
//!
//! The tick itself ([`ControlCore::tick`]) is separate from the timing, so a
//! simulator in lockstep calls it once per physics step with sim time, while a
//! real robot runs it from [`spawn`] at 1 kHz.

use crate::controller::JointController;
use crate::events::Event;
use crate::metrics::LoopMetrics;
use crate::reference::TargetChunk;
use crate::supervisor::{Command, EncoderSample, Supervisor};
use kotoba_core::Clock;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtConfig {
    /// Loop period (ns); 1_000_000 for 1 kHz.
    pub period_ns: u64,
    /// SCHED_FIFO priority (1..=99); 0 keeps the normal scheduler.
    pub priority: i32,
    /// mlockall(MCL_CURRENT | MCL_FUTURE) so page faults cannot stall a tick.
    pub lock_memory: bool,
    /// Pin the loop thread to this CPU.
    pub cpu: Option<usize>,
    /// Wake this long (ns) before each deadline and spin on the clock up to
    /// it. The kernel's wake-up latency (timer, scheduler, a vCPU's wake-up
    /// on a VM) then falls inside the margin instead of delaying the tick, at
    /// the cost of that much busy CPU per period: worth it on a core isolated
    /// for the loop, wasteful on a shared one. 0 = plain absolute sleeps.
    pub spin_ns: u64,
    /// Capacity of the command and event rings (ticks / events).
    pub command_capacity: usize,
    pub event_capacity: usize,
}

impl Default for RtConfig {
    fn default() -> Self {
        // Priority 50 as ros2_control's controller manager uses.
        Self {
            period_ns: 1_000_000,
            priority: 50,
            lock_memory: true,
            cpu: None,
            spin_ns: 0,
            command_capacity: 64,
            event_capacity: 256,
        }
    }
}

/// What the RT set-up achieved; warnings explain what was not permitted.
#[derive(Debug, Clone, Default)]
pub struct RtSetup {
    pub sched_fifo: bool,
    pub memory_locked: bool,
    pub pinned: bool,
    /// /dev/cpu_dma_latency held at 0 while the loop runs.
    pub cpu_dma_latency_zero: bool,
    pub warnings: Vec<String>,
}

/// The transport side of the loop. Fields are public so an adapter can move
/// each one to the thread that needs it.
pub struct LoopPorts<const N: usize> {
    /// Latest encoder sample (a newer write replaces an unread one).
    pub encoder: triple_buffer::Input<Option<EncoderSample<N>>>,
    /// Latest target chunk from the policy.
    pub target: triple_buffer::Input<Option<TargetChunk<N>>>,
    /// E-stop input (level: true = stop).
    pub estop: Arc<AtomicBool>,
    /// Set to leave a latched e-stop (taken once the e-stop input is false).
    pub clear_estop: Arc<AtomicBool>,
    /// Every tick's command, in order; counted in `metrics` when full.
    pub commands: rtrb::Consumer<Command<N>>,
    pub events: rtrb::Consumer<Event>,
    pub metrics: Arc<LoopMetrics>,
}

/// The loop side: one supervised controller and the other ends of the ports.
pub struct ControlCore<const N: usize, C> {
    pub supervisor: Supervisor<N, C>,
    encoder: triple_buffer::Output<Option<EncoderSample<N>>>,
    target: triple_buffer::Output<Option<TargetChunk<N>>>,
    estop: Arc<AtomicBool>,
    clear_estop: Arc<AtomicBool>,
    commands: rtrb::Producer<Command<N>>,
    events: rtrb::Producer<Event>,
    metrics: Arc<LoopMetrics>,
}

/// Builds the two ends around a supervisor (allocates; call at start-up).
pub fn channel<const N: usize, C: JointController<N>>(
    supervisor: Supervisor<N, C>,
    cfg: &RtConfig,
) -> (ControlCore<N, C>, LoopPorts<N>) {
    let (enc_in, enc_out) = triple_buffer::triple_buffer(&None);
    let (tgt_in, tgt_out) = triple_buffer::triple_buffer(&None);
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(cfg.command_capacity.max(1));
    let (ev_tx, ev_rx) = rtrb::RingBuffer::new(cfg.event_capacity.max(1));
    let estop = Arc::new(AtomicBool::new(false));
    let clear = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(LoopMetrics::default());
    let core = ControlCore {
        supervisor,
        encoder: enc_out,
        target: tgt_out,
        estop: estop.clone(),
        clear_estop: clear.clone(),
        commands: cmd_tx,
        events: ev_tx,
        metrics: metrics.clone(),
    };
    let ports = LoopPorts {
        encoder: enc_in,
        target: tgt_in,
        estop,
        clear_estop: clear,
        commands: cmd_rx,
        events: ev_rx,
        metrics,
    };
    (core, ports)
}

impl<const N: usize, C: JointController<N>> ControlCore<N, C> {
    /// One tick: take the newest inputs, run the supervisor, push the command
    /// and any events. No allocation, lock or blocking call.
    pub fn tick(&mut self, now: kotoba_core::Stamp) -> Command<N> {
        let sample = if self.encoder.update() {
            *self.encoder.output_buffer()
        } else {
            None
        };
        let target = if self.target.update() {
            *self.target.output_buffer()
        } else {
            None
        };
        if self.clear_estop.swap(false, Ordering::AcqRel) {
            self.supervisor.clear_estop();
        }
        let estop = self.estop.load(Ordering::Acquire);
        let cmd = self
            .supervisor
            .tick(now, sample.as_ref(), target.as_ref(), estop);
        if self.commands.push(cmd).is_err() {
            self.metrics
                .commands_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        while let Some(e) = self.supervisor.pop_event() {
            if self.events.push(e).is_err() {
                self.metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        cmd
    }

    pub fn metrics(&self) -> &Arc<LoopMetrics> {
        &self.metrics
    }
}

/// A running loop thread.
pub struct RtHandle<T> {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<T>>,
    pub setup: RtSetup,
}

impl<T> RtHandle<T> {
    /// Stops the loop after its current tick and returns what the thread owned.
    pub fn stop(mut self) -> std::thread::Result<T> {
        self.stop.store(true, Ordering::Release);
        self.join.take().expect("joined once").join()
    }

    pub fn is_running(&self) -> bool {
        self.join.as_ref().is_some_and(|j| !j.is_finished())
    }
}

impl<T> Drop for RtHandle<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Runs `core` on its own thread at `cfg.period_ns`, stamping ticks with
/// `clock`. Returns once the thread has applied its RT settings; `stop()`
/// hands the core back.
pub fn spawn<const N: usize, C, K>(
    core: ControlCore<N, C>,
    clock: K,
    cfg: &RtConfig,
) -> std::io::Result<RtHandle<ControlCore<N, C>>>
where
    C: JointController<N> + 'static,
    K: Clock + 'static,
{
    let metrics = core.metrics.clone();
    spawn_loop(cfg, metrics, core, move |core| {
        core.tick(clock.now());
    })
}

/// The timing loop alone: calls `tick(&mut state)` every period on a thread
/// with the RT settings of `cfg`, recording wake-up latency, compute time and
/// deadline misses in `metrics`. `kotoba bench rt` runs it with an empty tick.
pub fn spawn_loop<S, F>(
    cfg: &RtConfig,
    metrics: Arc<LoopMetrics>,
    state: S,
    mut tick: F,
) -> std::io::Result<RtHandle<S>>
where
    S: Send + 'static,
    F: FnMut(&mut S) + Send + 'static,
{
    if cfg.spin_ns >= cfg.period_ns {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("spin margin {} ns must be shorter than the period {} ns", cfg.spin_ns, cfg.period_ns),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let cfg2 = cfg.clone();
    let stop2 = stop.clone();
    let join = std::thread::Builder::new().name("kotoba-rt".into()).spawn(move || {
        let mut state = state;
        let mut setup = crate::rtsys::setup_thread(&cfg2);
        let _pm_qos = crate::rtsys::hold_cpu_dma_latency_zero();
        setup.cpu_dma_latency_zero = _pm_qos.is_some();
        if _pm_qos.is_none() {
            setup.warnings.push("could not hold /dev/cpu_dma_latency at 0: deep C-states may add wake-up latency".into());
        }
        let _ = tx.send(setup);
        crate::rtsys::run_periodic(cfg2.period_ns, cfg2.spin_ns, &metrics, &stop2, || tick(&mut state));
        state
    })?;
    let setup = rx.recv().unwrap_or_default();
    for w in &setup.warnings {
        tracing::warn!("{w}");
    }
    Ok(RtHandle {
        stop,
        join: Some(join),
        setup,
    })
}
