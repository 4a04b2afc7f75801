//! Verbal labels: each message on the labels topic is an event; a label stays
//! active until the next one (an empty text clears it), which makes segments.

use serde::{Deserialize, Serialize};

/// One label as spoken/typed, stamped with its receive time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEvent {
    /// Receive time, ns since the Unix epoch (the MCAP log time).
    pub t_ns: i64,
    /// Seconds since the episode's first message.
    pub offset_s: f64,
    pub text: String,
}

/// A span during which one label was active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_ns: i64,
    pub end_ns: i64,
    pub text: String,
}

/// Builds events from `(receive ns, text)` pairs, in time order.
pub fn events(episode_start_ns: i64, mut raw: Vec<(i64, String)>) -> Vec<LabelEvent> {
    raw.sort_by_key(|(t, _)| *t);
    raw.into_iter()
        .map(|(t_ns, text)| LabelEvent { t_ns, offset_s: (t_ns - episode_start_ns) as f64 * 1e-9, text: text.trim().to_string() })
        .collect()
}

/// The label active at `t_ns` (the last event at or before it), if any.
pub fn active_at(events: &[LabelEvent], t_ns: i64) -> Option<&str> {
    let i = events.partition_point(|e| e.t_ns <= t_ns);
    if i == 0 {
        return None;
    }
    let text = events[i - 1].text.as_str();
    (!text.is_empty()).then_some(text)
}

/// Segments of the episode ending at `end_ns`.
pub fn segments(events: &[LabelEvent], end_ns: i64) -> Vec<Segment> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.text.is_empty())
        .map(|(i, e)| Segment {
            start_ns: e.t_ns,
            end_ns: events.get(i + 1).map(|n| n.t_ns).unwrap_or(end_ns).max(e.t_ns),
            text: e.text.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_stays_active_until_next() {
        let ev = events(0, vec![(20, "folding now".into()), (10, "grasping the corner".into()), (30, "".into())]);
        assert_eq!(active_at(&ev, 5), None);
        assert_eq!(active_at(&ev, 10), Some("grasping the corner"));
        assert_eq!(active_at(&ev, 19), Some("grasping the corner"));
        assert_eq!(active_at(&ev, 25), Some("folding now"));
        assert_eq!(active_at(&ev, 35), None);
        let seg = segments(&ev, 40);
        assert_eq!(seg.len(), 2);
        assert_eq!((seg[0].start_ns, seg[0].end_ns), (10, 20));
        assert_eq!((seg[1].start_ns, seg[1].end_ns), (20, 30));
    }
}
