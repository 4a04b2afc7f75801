use crate::Stamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a node gets "now" from. Injected everywhere so tests and replays are
/// deterministic: nothing in kotoba calls `SystemTime::now()` directly except
/// [`SystemClock`].
///
/// `now` must be cheap and must not allocate, lock or block: the 1 kHz control
/// loop calls it every tick.
pub trait Clock: Send + Sync {
    fn now(&self) -> Stamp;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Stamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Stamp {
        (**self).now()
    }
}

/// Wall-clock time since the UNIX epoch (what ROS 2 calls system time).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Stamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Stamp::from_nanos(d.as_nanos().min(i64::MAX as u128) as i64)
    }
}

/// A clock that moves only when told to. Cloning shares the same time, so a test
/// can hand one copy to a node and advance another.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ns: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: Stamp) -> Self {
        Self { ns: Arc::new(AtomicI64::new(start.as_nanos())) }
    }

    pub fn set(&self, t: Stamp) {
        self.ns.store(t.as_nanos(), Ordering::Release);
    }

    pub fn advance(&self, d: std::time::Duration) {
        self.ns.fetch_add(d.as_nanos().min(i64::MAX as u128) as i64, Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Stamp {
        Stamp::from_nanos(self.ns.load(Ordering::Acquire))
    }
}

/// Simulated time as published on `/clock` (ROS 2 `use_sim_time`). A subscriber
/// calls [`SimClock::update`] with each `rosgraph_msgs/Clock` it receives; readers
/// see the latest value. Time never runs backwards: an older stamp (a reordered or
/// replayed message) is ignored, which also makes concurrent updates safe.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    ns: Arc<AtomicI64>,
}

impl SimClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns false when `t` was older than the current time and was ignored.
    pub fn update(&self, t: Stamp) -> bool {
        let new = t.as_nanos();
        self.ns.fetch_max(new, Ordering::AcqRel) <= new
    }

    /// True once at least one `/clock` message has arrived.
    pub fn started(&self) -> bool {
        self.ns.load(Ordering::Acquire) > 0
    }
}

impl Clock for SimClock {
    fn now(&self) -> Stamp {
        Stamp::from_nanos(self.ns.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_is_shared_between_clones() {
        let c = ManualClock::new(Stamp { sec: 5, nanosec: 0 });
        let c2 = c.clone();
        c.advance(Duration::from_millis(1));
        assert_eq!(c2.now(), Stamp { sec: 5, nanosec: 1_000_000 });
    }

    #[test]
    fn sim_clock_never_runs_backwards() {
        let c = SimClock::new();
        assert!(!c.started());
        assert!(c.update(Stamp { sec: 2, nanosec: 0 }));
        assert!(!c.update(Stamp { sec: 1, nanosec: 0 }));
        assert_eq!(c.now(), Stamp { sec: 2, nanosec: 0 });
        assert!(c.started());
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().sec > 1_577_836_800);
    }

    #[test]
    fn clock_is_object_safe() {
        let clocks: Vec<Box<dyn Clock>> = vec![Box::new(SystemClock), Box::new(ManualClock::default())];
        assert_eq!(clocks[1].now(), Stamp::ZERO);
    }
}
