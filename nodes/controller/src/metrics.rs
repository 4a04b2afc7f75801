//! Loop metrics the RT thread records without allocating or locking, and any
//! other thread reads: log-linear histograms of atomics (like HdrHistogram,
//! 1/64 relative resolution), plus exact maxima and counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Covers 0 ns .. 2^40 ns (~18 min) at 1/64 relative resolution.
const BUCKETS: usize = (40 - SUB_BITS as usize + 1) * SUB;

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // e >= SUB_BITS
    let m = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (((e - SUB_BITS + 1) as usize) * SUB + m).min(BUCKETS - 1)
}

/// The smallest value that falls in bucket `i`.
fn bucket_low(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let m = (i % SUB) as u64;
    (1u64 << e) | (m << (e - SUB_BITS))
}

/// A histogram of nanosecond durations; `record` is wait-free.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, ns: u64) {
        self.counts[bucket(ns)].fetch_add(1, Relaxed);
        self.max.fetch_max(ns, Relaxed);
    }

    /// A copy of the counts (allocates: call it from a non-RT thread).
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            max: self.max.load(Relaxed),
        }
    }
}

/// A point-in-time copy; subtract two to get a window (e.g. the last second).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    counts: Vec<u64>,
    /// Largest value since start (not per window).
    pub max: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `p`-quantile (0..=1) in ns: the lower edge of its bucket, so within
    /// 1/64 below the true value; `max` for p = 1.
    pub fn quantile(&self, p: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        if p >= 1.0 {
            return self.max;
        }
        let rank = ((p * n as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= rank {
                return bucket_low(i).min(self.max);
            }
        }
        self.max
    }

    /// Counts in `self` not in `earlier`. `max` stays the all-time maximum.
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            max: self.max,
        }
    }

    /// Largest bucket's lower edge with a count (the window's max, to 1/64).
    pub fn window_max(&self) -> u64 {
        self.counts
            .iter()
            .rposition(|&c| c > 0)
            .map(bucket_low)
            .unwrap_or(0)
            .min(self.max)
    }
}

/// What the RT loop measures every tick.
#[derive(Default)]
pub struct LoopMetrics {
    /// Time spent in the tick (reading inputs, supervisor + controller, writing outputs).
    pub compute: Histogram,
    /// How late the thread woke after its absolute deadline.
    pub wakeup_latency: Histogram,
    pub ticks: AtomicU64,
    /// Periods whose deadline passed before the tick finished (skipped ticks included).
    pub deadline_misses: AtomicU64,
    /// Commands or events dropped because the consumer did not keep up.
    pub commands_dropped: AtomicU64,
    pub events_dropped: AtomicU64,
}

/// A copy of [`LoopMetrics`] for publishing (e.g. at 1 Hz on /diagnostics).
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    pub compute: HistogramSnapshot,
    pub wakeup_latency: HistogramSnapshot,
    pub ticks: u64,
    pub deadline_misses: u64,
    pub commands_dropped: u64,
    pub events_dropped: u64,
}

impl LoopMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            compute: self.compute.snapshot(),
            wakeup_latency: self.wakeup_latency.snapshot(),
            ticks: self.ticks.load(Relaxed),
            deadline_misses: self.deadline_misses.load(Relaxed),
            commands_dropped: self.commands_dropped.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
        }
    }
}

impl MetricsSnapshot {
    /// The window between `earlier` and `self`.
    pub fn since(&self, earlier: &MetricsSnapshot) -> MetricsSnapshot {
        MetricsSnapshot {
            compute: self.compute.since(&earlier.compute),
            wakeup_latency: self.wakeup_latency.since(&earlier.wakeup_latency),
            ticks: self.ticks - earlier.ticks.min(self.ticks),
            deadline_misses: self.deadline_misses
                - earlier.deadline_misses.min(self.deadline_misses),
            commands_dropped: self.commands_dropped
                - earlier.commands_dropped.min(self.commands_dropped),
            events_dropped: self.events_dropped - earlier.events_dropped.min(self.events_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_tight() {
        let mut last = 0;
        for v in (0..2_000_000u64).step_by(7) {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            let lo = bucket_low(b);
            assert!(lo <= v && v - lo <= v / 64 + 1, "v={v} lo={lo}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_ramp() {
        let h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 10_000);
        let p50 = s.quantile(0.5) as f64;
        assert!((p50 - 5_000_000.0).abs() / 5e6 < 0.02, "{p50}");
        assert_eq!(s.quantile(1.0), 10_000_000);
        let w = h.snapshot().since(&s);
        assert_eq!(w.count(), 0);
    }
}
