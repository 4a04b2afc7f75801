use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A point in time as ROS 2 writes it (`builtin_interfaces/Time`): whole seconds
/// plus nanoseconds, counted from the clock's epoch (UNIX epoch for system time,
/// simulation start for sim time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Stamp {
    pub sec: i32,
    pub nanosec: u32,
}

impl Stamp {
    pub const ZERO: Stamp = Stamp { sec: 0, nanosec: 0 };

    /// From nanoseconds since the epoch. Saturates outside the `i32` seconds range
    /// rather than wrapping, because a wrapped stamp silently reorders messages.
    pub fn from_nanos(ns: i64) -> Self {
        let sec = ns.div_euclid(1_000_000_000);
        let nanosec = ns.rem_euclid(1_000_000_000) as u32;
        match i32::try_from(sec) {
            Ok(sec) => Stamp { sec, nanosec },
            Err(_) if sec < 0 => Stamp { sec: i32::MIN, nanosec: 0 },
            Err(_) => Stamp { sec: i32::MAX, nanosec: 999_999_999 },
        }
    }

    pub fn as_nanos(self) -> i64 {
        self.sec as i64 * 1_000_000_000 + self.nanosec as i64
    }

    pub fn as_secs_f64(self) -> f64 {
        self.sec as f64 + self.nanosec as f64 * 1e-9
    }

    pub fn from_secs_f64(s: f64) -> Self {
        Self::from_nanos((s * 1e9).round() as i64)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Stamp) -> Duration {
        let d = self.as_nanos() - earlier.as_nanos();
        Duration::from_nanos(d.max(0) as u64)
    }

    pub fn add(self, d: Duration) -> Stamp {
        Stamp::from_nanos(self.as_nanos().saturating_add(d.as_nanos().min(i64::MAX as u128) as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip_including_negative() {
        for ns in [0, 1, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, -1, -1_500_000_000] {
            assert_eq!(Stamp::from_nanos(ns).as_nanos(), ns);
        }
        assert_eq!(Stamp::from_nanos(-1), Stamp { sec: -1, nanosec: 999_999_999 });
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        assert_eq!(Stamp::from_nanos(i64::MAX).sec, i32::MAX);
        assert_eq!(Stamp::from_nanos(i64::MIN).sec, i32::MIN);
    }

    #[test]
    fn ordering_and_difference() {
        let a = Stamp { sec: 1, nanosec: 900_000_000 };
        let b = a.add(Duration::from_millis(200));
        assert_eq!(b, Stamp { sec: 2, nanosec: 100_000_000 });
        assert!(b > a);
        assert_eq!(b.saturating_since(a), Duration::from_millis(200));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
    }
}
