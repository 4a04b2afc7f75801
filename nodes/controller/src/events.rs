//! Supervisor events: what happened, when, to which joint, and why.

use kotoba_core::Stamp;

/// Everything the supervisor reports. Each has a fixed reason text, so
/// recording an event never formats or allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Started,
    EncoderStale,
    EncoderRecovered,
    EncoderNonFinite,
    TargetNonFinite,
    TargetJump,
    TargetClamped,
    TargetOutOfLimits,
    TargetTooFast,
    TargetIgnored,
    PolicyStale,
    PolicyResumed,
    PositionLimit,
    VelocityLimit,
    EffortSaturated,
    ControllerNonFinite,
    EStop,
    EStopCleared,
}

/// Severity, as in `diagnostic_msgs/DiagnosticStatus` (OK, WARN, ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Error,
}

impl EventKind {
    pub fn reason(self) -> &'static str {
        use EventKind::*;
        match self {
            Started => "first encoder sample: holding the measured pose",
            EncoderStale => "no fresh encoder sample within the timeout: braking",
            EncoderRecovered => "encoder samples resumed: holding the measured pose",
            EncoderNonFinite => "encoder sample with NaN/inf rejected",
            TargetNonFinite => "target with NaN/inf rejected: holding",
            TargetJump => {
                "target jumps further than the allowed step from the reference: rejected, holding"
            }
            TargetClamped => "target outside the position limits: clamped",
            TargetOutOfLimits => "target outside the position limits: rejected, holding",
            TargetTooFast => {
                "target needs a joint faster than its velocity limit: rejected, holding"
            }
            TargetIgnored => {
                "target arrived while braking, stopped or before the first encoder sample: ignored"
            }
            PolicyStale => "no target for two policy periods: holding the current pose",
            PolicyResumed => "targets resumed: tracking",
            PositionLimit => "measured position outside the limits: holding inside them",
            VelocityLimit => "measured velocity above the limit: holding the current pose",
            EffortSaturated => "effort command above the limit: clamped",
            ControllerNonFinite => "controller produced NaN/inf: reset, zero effort",
            EStop => "emergency stop: zero effort, brakes on",
            EStopCleared => "emergency stop cleared: holding the measured pose",
        }
    }

    pub fn level(self) -> Level {
        use EventKind::*;
        match self {
            Started | EncoderRecovered | PolicyResumed | EStopCleared => Level::Ok,
            TargetClamped | PolicyStale | EffortSaturated | TargetIgnored => Level::Warn,
            _ => Level::Error,
        }
    }
}

/// One supervisor event. `joint` is the first joint concerned (if any) and
/// `value` the offending figure (rad, rad/s, N·m, ticks), NaN when none applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub stamp: Stamp,
    pub kind: EventKind,
    pub joint: Option<u8>,
    pub value: f64,
}

/// A fixed-capacity FIFO of events: pushing onto a full queue drops the
/// oldest and counts it, so a storm of events never allocates or blocks.
#[derive(Debug, Clone)]
pub struct EventQueue<const CAP: usize> {
    buf: [Option<Event>; CAP],
    head: usize,
    len: usize,
    dropped: u64,
}

impl<const CAP: usize> Default for EventQueue<CAP> {
    fn default() -> Self {
        Self {
            buf: [None; CAP],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }
}

impl<const CAP: usize> EventQueue<CAP> {
    pub fn push(&mut self, e: Event) {
        if self.len == CAP {
            self.head = (self.head + 1) % CAP;
            self.len -= 1;
            self.dropped += 1;
        }
        self.buf[(self.head + self.len) % CAP] = Some(e);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.buf[self.head].take();
        self.head = (self.head + 1) % CAP;
        self.len -= 1;
        e
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events lost to a full queue since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
