use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// glibc's `M_MMAP_THRESHOLD` the kotoba binary sets at start-up: allocations
/// below it come from the heap, not fresh mmaps.
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// glibc's `M_TRIM_THRESHOLD` the kotoba binary sets: freed heap memory up to
/// this size is kept for reuse instead of returned to the system.
pub const TRIM_THRESHOLD: usize = 256 << 20;

/// The environment that gives a peer process (a Python reference) the same
/// glibc allocator settings as the kotoba binary, so a benchmark compares the
/// code and not the allocator: without them PyTorch pays a fresh mmap and its
/// page faults for most tensors.
pub fn peer_allocator_env() -> [(&'static str, String); 2] {
    [("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD.to_string()), ("MALLOC_TRIM_THRESHOLD_", TRIM_THRESHOLD.to_string())]
}

/// The result of one `kotoba bench <name>` run: printed as a table on the console
/// or as JSON with `--json`. Every crate that owns a benchmark returns one of these,
/// so the CLI prints them all the same way.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchReport {
    pub name: String,
    /// Free-form facts about the run (machine, sizes, peer versions).
    pub notes: Vec<String>,
    pub rows: Vec<BenchRow>,
}

/// One measured figure, optionally next to the same figure for the named peer
/// (measured in the same run) and a target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRow {
    pub metric: String,
    pub value: f64,
    pub unit: String,
    /// The peer's value for the same metric, same run, same machine.
    pub peer: Option<f64>,
    /// `value / peer` or `peer / value`, oriented so that > 1 means kotoba is better.
    pub ratio: Option<f64>,
    /// The target as text, e.g. "<= 50 us".
    pub target: Option<String>,
    pub meets_target: Option<bool>,
}

/// Which direction is better, to orient ratios and check targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

impl BenchRow {
    pub fn new(metric: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            value,
            unit: unit.into(),
            peer: None,
            ratio: None,
            target: None,
            meets_target: None,
        }
    }

    /// Adds the peer's figure; the ratio is oriented so that > 1 means we are better.
    pub fn peer(mut self, peer: f64, better: Better) -> Self {
        self.peer = Some(peer);
        self.ratio = match better {
            Better::Lower if self.value > 0.0 => Some(peer / self.value),
            Better::Higher if peer > 0.0 => Some(self.value / peer),
            _ => None,
        };
        self
    }

    /// Adds a target bound and records whether the value meets it.
    pub fn target(mut self, bound: f64, better: Better) -> Self {
        let (op, ok) = match better {
            Better::Lower => ("<=", self.value <= bound),
            Better::Higher => (">=", self.value >= bound),
        };
        self.target = Some(format!("{op} {} {}", fmt_num(bound), self.unit));
        self.meets_target = Some(ok);
        self
    }

    /// Adds a target on the ratio to the peer (e.g. ">= 1.5x the peer").
    pub fn ratio_target(mut self, min_ratio: f64) -> Self {
        self.target = Some(format!(">= {}x peer", fmt_num(min_ratio)));
        self.meets_target = self.ratio.map(|r| r >= min_ratio);
        self
    }
}

impl BenchReport {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Default::default() }
    }

    pub fn note(&mut self, n: impl Into<String>) -> &mut Self {
        self.notes.push(n.into());
        self
    }

    pub fn push(&mut self, row: BenchRow) -> &mut Self {
        self.rows.push(row);
        self
    }

    /// A plain-text table for the console.
    pub fn to_table(&self) -> String {
        let header = ["metric", "value", "unit", "peer", "ratio", "target", "ok"];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.metric.clone(),
                    fmt_num(r.value),
                    r.unit.clone(),
                    r.peer.map(fmt_num).unwrap_or_else(|| "-".into()),
                    r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into()),
                    r.target.clone().unwrap_or_else(|| "-".into()),
                    match r.meets_target {
                        Some(true) => "yes".into(),
                        Some(false) => "NO".into(),
                        None => "-".into(),
                    },
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = format!("bench {}\n", self.name);
        for n in &self.notes {
            let _ = writeln!(out, "  {n}");
        }
        let line = |out: &mut String, row: &[String]| {
            for (i, (c, w)) in row.iter().zip(width).enumerate() {
                let pad = w - c.chars().count();
                if i == 0 || i == 2 || i == 5 {
                    let _ = write!(out, "{c}{}  ", " ".repeat(pad));
                } else {
                    let _ = write!(out, "{}{c}  ", " ".repeat(pad));
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        };
        line(&mut out, &header.map(String::from));
        for row in &cells {
            line(&mut out, row);
        }
        out
    }
}

fn fmt_num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        format!("{x}")
    } else if x.abs() >= 1000.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_oriented_so_bigger_is_better() {
        let faster = BenchRow::new("latency", 10.0, "us").peer(30.0, Better::Lower);
        assert_eq!(faster.ratio, Some(3.0));
        let more = BenchRow::new("throughput", 200.0, "seq/s").peer(100.0, Better::Higher);
        assert_eq!(more.ratio, Some(2.0));
    }

    #[test]
    fn targets_are_checked() {
        assert_eq!(BenchRow::new("p50", 40.0, "us").target(50.0, Better::Lower).meets_target, Some(true));
        assert_eq!(BenchRow::new("p50", 60.0, "us").target(50.0, Better::Lower).meets_target, Some(false));
        let r = BenchRow::new("t", 1.0, "s").peer(1.2, Better::Lower).ratio_target(1.5);
        assert_eq!(r.meets_target, Some(false));
    }

    #[test]
    fn table_has_a_line_per_row() {
        let mut rep = BenchReport::new("demo");
        rep.note("2 cores");
        rep.push(BenchRow::new("p50", 12.5, "us").target(50.0, Better::Lower));
        rep.push(BenchRow::new("p99", 80.0, "us"));
        let t = rep.to_table();
        assert_eq!(t.lines().count(), 5, "{t}");
        assert!(t.contains("12.50") && t.contains("<= 50 us") && t.contains("yes"));
    }
}
