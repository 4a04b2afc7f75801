//! The safety supervisor: wraps any [`JointController`], validates everything
//! that comes in, watches for stale inputs and bounds everything that goes out.
//! One `tick` per control period; it cannot fail and does not allocate.

use crate::controller::JointController;
use crate::events::{Event, EventKind, EventQueue};
use crate::limits::JointLimits;
use crate::reference::{Interpolation, Interpolator, TargetChunk, VelocityEstimator};
use crate::types::{JVec, JointState, Reference, all_finite};
use kotoba_core::Stamp;
use serde::{Deserialize, Serialize};

/// Capacity of the supervisor's own event queue (drained every tick by the loop).
pub const EVENT_CAPACITY: usize = 64;

/// What the robot takes: joint efforts, or joint positions (robots without a
/// torque interface get the supervised reference position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    #[default]
    Effort,
    Position,
}

/// What to do with a target outside the position limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAction {
    #[default]
    Clamp,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Control period (s); also the Euler step of the controllers.
    pub dt: f64,
    /// Ticks without a fresh encoder sample before braking.
    pub encoder_timeout_ticks: u32,
    /// Expected period of the policy's targets (s).
    pub policy_period: f64,
    /// Targets older than this many policy periods count as stale.
    pub policy_timeout_periods: f64,
    /// Largest allowed distance (rad or m) between the current reference and a
    /// new target's first point.
    pub max_target_jump: f64,
    pub limit_action: LimitAction,
    /// Targets are kept this far (rad or m) inside the position limits.
    pub position_margin: f64,
    /// Measured |q̇| above `velocity_trip × limit` makes the arm hold.
    pub velocity_trip: f64,
    pub interpolation: Interpolation,
    pub output: OutputMode,
    /// Cut-off of the finite-difference velocity filter (Hz), used when
    /// encoder samples carry no velocity.
    pub velocity_cutoff_hz: f64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            dt: 0.001,
            encoder_timeout_ticks: 5,
            policy_period: 0.1,
            policy_timeout_periods: 2.0,
            max_target_jump: 0.3,
            limit_action: LimitAction::Clamp,
            position_margin: 0.0,
            velocity_trip: 1.2,
            interpolation: Interpolation::Cubic,
            output: OutputMode::Effort,
            velocity_cutoff_hz: 50.0,
        }
    }
}

/// A joint encoder reading. `qd` is `None` when the driver sends positions only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSample<const N: usize> {
    pub stamp: Stamp,
    pub q: JVec<N>,
    pub qd: Option<JVec<N>>,
}

/// The supervisor's state, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No encoder sample yet: nothing is commanded.
    Waiting,
    /// Following the policy's targets.
    Tracking,
    /// Holding a pose (policy stale, a target rejected, a limit tripped).
    Holding,
    /// Encoders stale: zero effort, brakes requested, position held at the last reading.
    Braking,
    /// E-stop latched: zero effort, brakes requested, until cleared.
    EStopped,
}

/// What goes to the robot this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command<const N: usize> {
    pub stamp: Stamp,
    pub mode: Mode,
    /// Joint efforts (zero unless tracking or holding).
    pub effort: JVec<N>,
    /// Position command for position-only robots (the supervised reference).
    pub position: JVec<N>,
    /// Reference velocity, for drivers that take a velocity feed-forward.
    pub velocity: JVec<N>,
    /// Engage the brakes (encoders stale or e-stop).
    pub brake: bool,
}

pub struct Supervisor<const N: usize, C> {
    cfg: SupervisorConfig,
    limits: JointLimits<N>,
    controller: C,
    mode: Mode,
    state: JointState<N>,
    reference: Reference<N>,
    interp: Interpolator<N>,
    vel: VelocityEstimator<N>,
    last_sample: Option<Stamp>,
    ticks_since_sample: u32,
    last_target: Stamp,
    /// Latches so a lasting condition is reported once, not every tick.
    saturated: bool,
    over_velocity: bool,
    out_of_limits: bool,
    estop_cleared_request: bool,
    events: EventQueue<EVENT_CAPACITY>,
}

impl<const N: usize, C: JointController<N>> Supervisor<N, C> {
    pub fn new(cfg: SupervisorConfig, limits: JointLimits<N>, controller: C) -> Self {
        let vel = VelocityEstimator::new(cfg.velocity_cutoff_hz);
        let interp = Interpolator::new(cfg.interpolation, JVec::zeros());
        Self {
            cfg,
            limits,
            controller,
            mode: Mode::Waiting,
            state: JointState::at_rest(JVec::zeros()),
            reference: Reference::hold(JVec::zeros()),
            interp,
            vel,
            last_sample: None,
            ticks_since_sample: 0,
            last_target: Stamp::ZERO,
            saturated: false,
            over_velocity: false,
            out_of_limits: false,
            estop_cleared_request: false,
            events: EventQueue::default(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn state(&self) -> &JointState<N> {
        &self.state
    }
    pub fn reference(&self) -> &Reference<N> {
        &self.reference
    }
    pub fn controller(&self) -> &C {
        &self.controller
    }
    pub fn config(&self) -> &SupervisorConfig {
        &self.cfg
    }
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Ask to leave the e-stop on the next tick whose e-stop input is false.
    pub fn clear_estop(&mut self) {
        self.estop_cleared_request = true;
    }

    fn event(&mut self, now: Stamp, kind: EventKind, joint: Option<usize>, value: f64) {
        self.events.push(Event {
            stamp: now,
            kind,
            joint: joint.map(|j| j as u8),
            value,
        });
    }

    /// Hold `q` (clamped into the limits) from now on. The reference is set
    /// at once, so a target arriving in the same tick is checked against the
    /// held pose rather than a stale reference.
    fn hold_here(&mut self, q: JVec<N>) {
        let mut q = q;
        self.limits.clamp_position(&mut q, self.cfg.position_margin);
        self.interp.hold(q);
        self.reference = Reference::hold(q);
        self.mode = Mode::Holding;
    }

    /// One control period. `sample` is the encoder reading if a new one arrived
    /// since the last tick, `target` a new policy chunk if one arrived, `estop`
    /// the e-stop input.
    pub fn tick(
        &mut self,
        now: Stamp,
        sample: Option<&EncoderSample<N>>,
        target: Option<&TargetChunk<N>>,
        estop: bool,
    ) -> Command<N> {
        self.encoder(now, sample);
        self.estop(now, estop);
        if let Some(t) = target {
            self.target(now, t);
        }
        self.watch(now);
        self.output(now)
    }

    fn encoder(&mut self, now: Stamp, sample: Option<&EncoderSample<N>>) {
        let fresh = match sample {
            Some(s) if all_finite(&s.q) && s.qd.as_ref().is_none_or(all_finite) => {
                // A repeated stamp is the same reading again, not a fresh one.
                if self.last_sample.is_some_and(|t| s.stamp <= t) {
                    None
                } else {
                    Some(s)
                }
            }
            Some(s) => {
                let j =
                    s.q.iter()
                        .chain(s.qd.iter().flatten())
                        .position(|x| !x.is_finite())
                        .map(|j| j % N);
                self.event(now, EventKind::EncoderNonFinite, j, f64::NAN);
                None
            }
            None => None,
        };
        let Some(s) = fresh else {
            self.ticks_since_sample = self.ticks_since_sample.saturating_add(1);
            if self.ticks_since_sample > self.cfg.encoder_timeout_ticks
                && matches!(self.mode, Mode::Tracking | Mode::Holding)
            {
                self.event(
                    now,
                    EventKind::EncoderStale,
                    None,
                    self.ticks_since_sample as f64,
                );
                self.mode = Mode::Braking;
            }
            return;
        };
        self.ticks_since_sample = 0;
        self.last_sample = Some(s.stamp);
        let qd = self.vel.update(s.stamp.as_nanos(), &s.q, s.qd.as_ref());
        self.state = JointState { q: s.q, qd };
        match self.mode {
            Mode::Waiting | Mode::Braking => {
                let kind = if self.mode == Mode::Waiting {
                    EventKind::Started
                } else {
                    EventKind::EncoderRecovered
                };
                self.event(now, kind, None, f64::NAN);
                self.controller.reset(&self.state);
                self.hold_here(s.q);
            }
            _ => {}
        }
    }

    fn estop(&mut self, now: Stamp, estop: bool) {
        if estop && self.mode != Mode::EStopped {
            self.event(now, EventKind::EStop, None, f64::NAN);
            self.mode = Mode::EStopped;
            self.estop_cleared_request = false;
        } else if !estop && self.mode == Mode::EStopped && self.estop_cleared_request {
            self.estop_cleared_request = false;
            self.event(now, EventKind::EStopCleared, None, f64::NAN);
            self.controller.reset(&self.state);
            self.hold_here(self.state.q);
        }
    }

    fn target(&mut self, now: Stamp, chunk: &TargetChunk<N>) {
        if !matches!(self.mode, Mode::Tracking | Mode::Holding) || chunk.is_empty() {
            self.event(now, EventKind::TargetIgnored, None, chunk.len() as f64);
            return;
        }
        if !chunk.all_finite() {
            self.event(now, EventKind::TargetNonFinite, None, f64::NAN);
            return self.hold_here(self.reference.q);
        }
        let mut chunk = *chunk;
        let mut clamped = None;
        for q in chunk.points_mut() {
            let mut c = *q;
            if let Some(j) = self.limits.clamp_position(&mut c, self.cfg.position_margin) {
                clamped.get_or_insert((j, q[j]));
                *q = c;
            }
        }
        if let Some((j, v)) = clamped {
            if self.cfg.limit_action == LimitAction::Reject {
                self.event(now, EventKind::TargetOutOfLimits, Some(j), v);
                return self.hold_here(self.reference.q);
            }
            self.event(now, EventKind::TargetClamped, Some(j), v);
        }
        let current = self.reference;
        let lead = (self.cfg.policy_period * 1e9) as i64;
        let mut plan = self.interp.clone();
        plan.set_chunk(now.as_nanos(), &current, &chunk, lead);
        // Jump: the first target point against where the reference is now.
        if let Some((_, p)) = chunk
            .points()
            .find(|(t, _)| *t > now.as_nanos())
            .or(chunk.points().last())
        {
            let d = p - current.q;
            if let Some(j) = (0..N).find(|&j| d[j].abs() > self.cfg.max_target_jump) {
                self.event(now, EventKind::TargetJump, Some(j), d[j]);
                return self.hold_here(current.q);
            }
        }
        if let Some(j) = (0..N).find(|&j| plan.max_segment_speed(j) > self.limits.velocity[j]) {
            self.event(
                now,
                EventKind::TargetTooFast,
                Some(j),
                plan.max_segment_speed(j),
            );
            return self.hold_here(current.q);
        }
        self.interp = plan;
        self.last_target = now;
        if self.mode == Mode::Holding {
            self.event(now, EventKind::PolicyResumed, None, f64::NAN);
        }
        self.mode = Mode::Tracking;
    }

    fn watch(&mut self, now: Stamp) {
        if self.mode == Mode::Tracking {
            let age = now.saturating_since(self.last_target).as_secs_f64();
            if age > self.cfg.policy_timeout_periods * self.cfg.policy_period {
                self.event(now, EventKind::PolicyStale, None, age);
                self.hold_here(self.state.q);
            }
        }
        if !matches!(self.mode, Mode::Tracking | Mode::Holding) {
            return;
        }
        let over = (0..N)
            .find(|&j| self.state.qd[j].abs() > self.cfg.velocity_trip * self.limits.velocity[j]);
        match over {
            Some(j) if !self.over_velocity => {
                self.over_velocity = true;
                self.event(now, EventKind::VelocityLimit, Some(j), self.state.qd[j]);
                self.hold_here(self.state.q);
            }
            None => self.over_velocity = false,
            _ => {}
        }
        let outside = (0..N).find(|&j| {
            self.state.q[j] < self.limits.lower[j] || self.state.q[j] > self.limits.upper[j]
        });
        match outside {
            Some(j) if !self.out_of_limits => {
                self.out_of_limits = true;
                self.event(now, EventKind::PositionLimit, Some(j), self.state.q[j]);
                self.hold_here(self.state.q);
            }
            None => self.out_of_limits = false,
            _ => {}
        }
    }

    fn output(&mut self, now: Stamp) -> Command<N> {
        let active = matches!(self.mode, Mode::Tracking | Mode::Holding);
        if !active {
            return Command {
                stamp: now,
                mode: self.mode,
                effort: JVec::zeros(),
                position: self.state.q,
                velocity: JVec::zeros(),
                brake: matches!(self.mode, Mode::Braking | Mode::EStopped),
            };
        }
        self.reference = self.interp.sample(now.as_nanos());
        let mut effort = JVec::zeros();
        if self.cfg.output == OutputMode::Effort {
            effort = self
                .controller
                .step(&self.state, &self.reference, self.cfg.dt);
            if !all_finite(&effort) {
                self.event(now, EventKind::ControllerNonFinite, None, f64::NAN);
                self.controller.reset(&self.state);
                effort = JVec::zeros();
            }
            let mut sat = None;
            for j in 0..N {
                let lim = self.limits.effort[j];
                if effort[j].abs() > lim {
                    sat.get_or_insert((j, effort[j]));
                    effort[j] = effort[j].clamp(-lim, lim);
                }
            }
            match sat {
                Some((j, v)) if !self.saturated => {
                    self.saturated = true;
                    self.event(now, EventKind::EffortSaturated, Some(j), v);
                }
                None => self.saturated = false,
                _ => {}
            }
        }
        Command {
            stamp: now,
            mode: self.mode,
            effort,
            position: self.reference.q,
            velocity: self.reference.qd,
            brake: false,
        }
    }
}
