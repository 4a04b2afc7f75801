//! The reader used by training, evaluation and replay: an episode resampled at
//! a fixed rate with a previous-sample policy, images as RGB8 arrays, joint
//! vectors in a chosen name order, the instruction and active label attached,
//! and every gap reported.

use crate::bag_read::{BagMessages, RawMessage, bag_file, bag_messages};
use crate::dataset::{Dataset, EpisodeEntry};
use crate::error::{RecorderError, Result};
use crate::image::{ImageRgb8, decode_image};
use crate::labels::{self, LabelEvent, Segment};
use kotoba_msgs::{sensor_msgs, std_msgs, trajectory_msgs};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to extract from a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// `sensor_msgs/JointState.position`, ordered by `names`.
    JointPosition,
    JointVelocity,
    JointEffort,
    /// `sensor_msgs/Image` as RGB8 HWC.
    Image,
    /// `std_msgs/Float64MultiArray.data`.
    Float64Array,
    /// `trajectory_msgs/JointTrajectory`: the first point's positions, ordered by `names`.
    TrajectoryPositions,
}

/// One stream of a synchronised episode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamSpec {
    pub topic: String,
    pub kind: StreamKind,
    /// Joint order for joint kinds; empty = the order of the first message.
    #[serde(default)]
    pub names: Vec<String>,
}

/// How to synchronise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncSpec {
    pub rate_hz: f64,
    pub streams: Vec<StreamSpec>,
    /// A sample older than this at a tick is a gap. Default: 2 periods.
    #[serde(default)]
    pub max_age_s: Option<f64>,
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Vector(Vec<f64>),
    Image(ImageRgb8),
}

impl Value {
    pub fn as_vector(&self) -> Option<&[f64]> {
        match self {
            Value::Vector(v) => Some(v),
            Value::Image(_) => None,
        }
    }
    pub fn as_image(&self) -> Option<&ImageRgb8> {
        match self {
            Value::Image(i) => Some(i),
            Value::Vector(_) => None,
        }
    }
}

/// One tick.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Absolute tick time (receive clock), ns.
    pub t_ns: i64,
    /// Seconds since the episode start.
    pub t_s: f64,
    /// One per stream, in [`SyncSpec::streams`] order: the latest sample at or
    /// before the tick (`None` before the stream's first sample).
    pub values: Vec<Option<Value>>,
    /// Age of each value at the tick, s.
    pub ages_s: Vec<Option<f64>>,
    /// Per stream: no sample, or one older than `max_age_s` (inside a gap).
    pub stale: Vec<bool>,
    pub instruction: String,
    pub label: Option<String>,
}

/// A span during which a stream had no fresh sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub topic: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// A resampled episode.
#[derive(Debug, Clone)]
pub struct SyncedEpisode {
    pub frames: Vec<Frame>,
    pub gaps: Vec<Gap>,
    /// The joint order used per stream (empty for non-joint streams).
    pub names: Vec<Vec<String>>,
}

/// One episode of a dataset.
pub struct EpisodeReader {
    dir: PathBuf,
    entry: EpisodeEntry,
    instruction_topic: String,
}

impl Dataset {
    /// A reader for an indexed episode.
    pub fn reader(&self, entry: &EpisodeEntry) -> EpisodeReader {
        EpisodeReader {
            dir: self.episode_dir(&entry.name),
            entry: entry.clone(),
            instruction_topic: self.index().instruction_topic.clone(),
        }
    }
}

impl EpisodeReader {
    pub fn entry(&self) -> &EpisodeEntry {
        &self.entry
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Every stored message in file order.
    pub fn messages(&self) -> Result<BagMessages> {
        bag_messages(&bag_file(&self.dir)?, false)
    }

    pub fn labels(&self) -> &[LabelEvent] {
        &self.entry.labels
    }

    pub fn segments(&self) -> Vec<Segment> {
        labels::segments(&self.entry.labels, self.end_ns())
    }

    fn end_ns(&self) -> i64 {
        self.entry.start_ns + (self.entry.duration_s * 1e9).round() as i64
    }

    /// Resamples the episode at `spec.rate_hz`.
    pub fn synced(&self, spec: &SyncSpec) -> Result<SyncedEpisode> {
        if !(spec.rate_hz.is_finite() && spec.rate_hz > 0.0) {
            return Err(RecorderError::Config(format!("sync rate must be > 0 Hz, got {}", spec.rate_hz)));
        }
        let mut per: Vec<Vec<RawMessage>> = vec![Vec::new(); spec.streams.len()];
        let mut instructions: Vec<(i64, String)> = Vec::new();
        for m in self.messages()? {
            let m = m?;
            if m.topic() == self.instruction_topic
                && let Ok(s) = kotoba_msgs::decode::<std_msgs::String>(&m.data)
            {
                instructions.push((m.log_time, s.data.trim().to_string()));
            }
            for (i, s) in spec.streams.iter().enumerate() {
                if m.topic() == s.topic {
                    per[i].push(m.clone());
                }
            }
        }
        for (i, s) in spec.streams.iter().enumerate() {
            if self.entry.message_counts.get(&s.topic).copied().unwrap_or(0) == 0 && per[i].is_empty() {
                return Err(RecorderError::Config(format!(
                    "episode {} has no messages on {} (topics: {:?})",
                    self.entry.name,
                    s.topic,
                    self.entry.message_counts.keys().collect::<Vec<_>>()
                )));
            }
            per[i].sort_by_key(|m| m.log_time);
        }
        instructions.sort_by_key(|(t, _)| *t);
        let period = (1e9 / spec.rate_hz).round() as i64;
        let max_age = spec.max_age_s.map(|s| (s * 1e9) as i64).unwrap_or(2 * period);
        let (start, end) = (self.entry.start_ns, self.end_ns());
        let n_ticks = ((end - start) / period.max(1)) as usize + 1;
        let mut names: Vec<Vec<String>> = spec.streams.iter().map(|s| s.names.clone()).collect();
        let mut cursor = vec![0usize; spec.streams.len()];
        let mut cache: Vec<Option<(usize, Value)>> = vec![None; spec.streams.len()];
        let mut frames = Vec::with_capacity(n_ticks);
        let mut gaps: Vec<Gap> = Vec::new();
        let mut open_gap: Vec<Option<f64>> = vec![None; spec.streams.len()];
        for k in 0..n_ticks {
            let t = start + k as i64 * period;
            let t_s = (t - start) as f64 * 1e-9;
            let mut frame = Frame {
                t_ns: t,
                t_s,
                values: Vec::with_capacity(spec.streams.len()),
                ages_s: Vec::with_capacity(spec.streams.len()),
                stale: Vec::with_capacity(spec.streams.len()),
                instruction: previous(&instructions, t).unwrap_or(self.entry.instruction.as_str()).to_string(),
                label: labels::active_at(&self.entry.labels, t).map(str::to_string),
            };
            for (i, s) in spec.streams.iter().enumerate() {
                let msgs = &per[i];
                while cursor[i] < msgs.len() && msgs[cursor[i]].log_time <= t {
                    cursor[i] += 1;
                }
                let chosen = cursor[i].checked_sub(1);
                let value = match chosen {
                    None => None,
                    Some(j) => {
                        if cache[i].as_ref().is_none_or(|(cj, _)| *cj != j) {
                            let v = decode_value(s, &msgs[j], &mut names[i])?;
                            cache[i] = Some((j, v));
                        }
                        cache[i].as_ref().map(|(_, v)| v.clone())
                    }
                };
                let age = chosen.map(|j| (t - msgs[j].log_time) as f64 * 1e-9);
                let stale = chosen.is_none_or(|j| t - msgs[j].log_time > max_age);
                match (stale, open_gap[i]) {
                    (true, None) => open_gap[i] = Some(t_s),
                    (false, Some(g)) => {
                        gaps.push(Gap { topic: s.topic.clone(), start_s: g, end_s: t_s });
                        open_gap[i] = None;
                    }
                    _ => {}
                }
                frame.values.push(value);
                frame.ages_s.push(age);
                frame.stale.push(stale);
            }
            frames.push(frame);
        }
        let last = frames.last().map(|f| f.t_s).unwrap_or(0.0);
        for (i, g) in open_gap.iter().enumerate() {
            if let Some(g) = g {
                gaps.push(Gap { topic: spec.streams[i].topic.clone(), start_s: *g, end_s: last });
            }
        }
        Ok(SyncedEpisode { frames, gaps, names })
    }
}

fn previous(events: &[(i64, String)], t: i64) -> Option<&str> {
    let i = events.partition_point(|(et, _)| *et <= t);
    // Before the first instruction message, the first one still applies
    // (latched topics arrive once, at or just after the episode start).
    events.get(i.saturating_sub(1)).map(|(_, s)| s.as_str())
}

fn decode_value(s: &StreamSpec, m: &RawMessage, names: &mut Vec<String>) -> Result<Value> {
    let bad = |reason: String| RecorderError::Malformed { topic: s.topic.clone(), ty: m.ros_type().into(), reason };
    match s.kind {
        StreamKind::Image => decode_image(&m.data).map(Value::Image).map_err(|e| bad(e.to_string())),
        StreamKind::Float64Array => {
            let a: std_msgs::Float64MultiArray = kotoba_msgs::decode(&m.data).map_err(|e| bad(e.to_string()))?;
            Ok(Value::Vector(a.data))
        }
        StreamKind::JointPosition | StreamKind::JointVelocity | StreamKind::JointEffort => {
            let js: sensor_msgs::JointState = kotoba_msgs::decode(&m.data).map_err(|e| bad(e.to_string()))?;
            let field = match s.kind {
                StreamKind::JointPosition => &js.position,
                StreamKind::JointVelocity => &js.velocity,
                _ => &js.effort,
            };
            reorder(&js.name, field, names).map(Value::Vector).map_err(bad)
        }
        StreamKind::TrajectoryPositions => {
            let jt: trajectory_msgs::JointTrajectory = kotoba_msgs::decode(&m.data).map_err(|e| bad(e.to_string()))?;
            let p = jt.points.first().map(|p| p.positions.as_slice()).unwrap_or(&[]);
            reorder(&jt.joint_names, p, names).map(Value::Vector).map_err(bad)
        }
    }
}

/// `values` (parallel to `msg_names`) in the order of `names`; fills `names`
/// from the message the first time.
fn reorder(msg_names: &[String], values: &[f64], names: &mut Vec<String>) -> std::result::Result<Vec<f64>, String> {
    if msg_names.len() != values.len() {
        return Err(format!("{} joint names but {} values", msg_names.len(), values.len()));
    }
    if names.is_empty() {
        names.extend(msg_names.iter().cloned());
    }
    names
        .iter()
        .map(|n| {
            msg_names
                .iter()
                .position(|m| m == n)
                .map(|i| values[i])
                .ok_or_else(|| format!("joint {n:?} missing (message has {msg_names:?})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_by_name() {
        let mut names = vec!["b".to_string(), "a".to_string()];
        let v = reorder(&["a".into(), "b".into()], &[1.0, 2.0], &mut names).unwrap();
        assert_eq!(v, vec![2.0, 1.0]);
        assert!(reorder(&["a".into()], &[1.0], &mut names).is_err());
        let mut empty = Vec::new();
        assert_eq!(reorder(&["x".into()], &[3.0], &mut empty).unwrap(), vec![3.0]);
        assert_eq!(empty, vec!["x".to_string()]);
    }
}
