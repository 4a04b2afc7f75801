//! Per-topic counters of what arrived and what had to be dropped, with
//! rate-limited logging so a flood of bad samples cannot flood the log.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Live counters of one subscription; updated lock-free from transport threads.
#[derive(Debug, Default)]
pub struct TopicCounters {
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    pub malformed: AtomicU64,
    pub wrong_type: AtomicU64,
    pub missing_attachment: AtomicU64,
    /// Samples dropped because the subscriber's queue was full (keep-last).
    pub overflowed: AtomicU64,
    last_log_ns: AtomicI64,
    suppressed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicStats {
    pub received: u64,
    pub delivered: u64,
    pub malformed: u64,
    pub wrong_type: u64,
    pub missing_attachment: u64,
    pub overflowed: u64,
}

impl TopicCounters {
    pub fn snapshot(&self) -> TopicStats {
        TopicStats {
            received: self.received.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            wrong_type: self.wrong_type.load(Ordering::Relaxed),
            missing_attachment: self.missing_attachment.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }

    /// Logs a warning about `topic` at most once per second; the lines skipped in
    /// between are counted and reported with the next one.
    pub fn warn_limited(&self, topic: &str, what: std::fmt::Arguments<'_>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        let last = self.last_log_ns.load(Ordering::Relaxed);
        if now - last < 1_000_000_000
            || self.last_log_ns.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let skipped = self.suppressed.swap(0, Ordering::Relaxed);
        let s = self.snapshot();
        tracing::warn!(
            "{topic}: {what} (dropped so far: {} malformed, {} wrong type, {} without attachment; {skipped} similar lines suppressed)",
            s.malformed,
            s.wrong_type,
            s.missing_attachment
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_suppresses_bursts() {
        let c = TopicCounters::default();
        for _ in 0..100 {
            c.warn_limited("/t", format_args!("bad"));
        }
        assert_eq!(c.suppressed.load(Ordering::Relaxed), 99);
    }
}
