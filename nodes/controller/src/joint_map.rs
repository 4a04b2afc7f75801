//! From message order to controller order: a `sensor_msgs/JointState` or
//! `trajectory_msgs/JointTrajectory` names its joints, in any order and maybe
//! with extra ones (a gripper); the controller wants its `N` joints in its own
//! order. Built once per message layout, then lookups are index copies.

use crate::reference::{ChunkError, TargetChunk};
use crate::types::JVec;
use kotoba_core::Stamp;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JointMapError {
    #[error("message has no joint named {0:?}")]
    Missing(String),
    #[error("message has {names} names but {values} values")]
    Length { names: usize, values: usize },
    #[error(transparent)]
    Chunk(#[from] ChunkError),
}

/// The controller's joint names and, for the last message layout seen, where
/// each of them sits in the message.
#[derive(Debug, Clone)]
pub struct JointMap<const N: usize> {
    names: [String; N],
    index: [usize; N],
    layout: Vec<String>,
}

impl<const N: usize> JointMap<N> {
    pub fn new(names: [&str; N]) -> Self {
        Self {
            names: names.map(str::to_owned),
            index: std::array::from_fn(|i| i),
            layout: Vec::new(),
        }
    }

    pub fn names(&self) -> &[String; N] {
        &self.names
    }

    /// Re-indexes only when the message's name list differs from the last one.
    fn learn(&mut self, msg_names: &[String]) -> Result<(), JointMapError> {
        if self.layout.as_slice() == msg_names {
            return Ok(());
        }
        for (i, n) in self.names.iter().enumerate() {
            self.index[i] = msg_names
                .iter()
                .position(|m| m == n)
                .ok_or_else(|| JointMapError::Missing(n.clone()))?;
        }
        self.layout = msg_names.to_vec();
        Ok(())
    }

    /// The controller's joints out of a message's `name` + value arrays.
    pub fn gather(
        &mut self,
        msg_names: &[String],
        values: &[f64],
    ) -> Result<JVec<N>, JointMapError> {
        if msg_names.len() != values.len() {
            return Err(JointMapError::Length {
                names: msg_names.len(),
                values: values.len(),
            });
        }
        self.learn(msg_names)?;
        Ok(JVec::from_fn(|i, _| values[self.index[i]]))
    }

    /// A target chunk from a JointTrajectory: `stamp` is its header stamp and
    /// each point gives `time_from_start` and positions in `msg_names` order.
    /// Points beyond [`crate::MAX_POINTS`] are an error, never silently dropped.
    pub fn chunk<'a>(
        &mut self,
        stamp: Stamp,
        msg_names: &[String],
        points: impl IntoIterator<Item = (Duration, &'a [f64])>,
    ) -> Result<TargetChunk<N>, JointMapError> {
        let mut c = TargetChunk::default();
        for (dt, positions) in points {
            let q = self.gather(msg_names, positions)?;
            c.push(stamp.add(dt), q)?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reorders_and_skips_extra_joints() {
        let mut m = JointMap::<2>::new(["a", "b"]);
        let q = m
            .gather(&names(&["grip", "b", "a"]), &[9.0, 2.0, 1.0])
            .unwrap();
        assert_eq!((q[0], q[1]), (1.0, 2.0));
        assert_eq!(
            m.gather(&names(&["a"]), &[1.0]),
            Err(JointMapError::Missing("b".into()))
        );
        assert_eq!(
            m.gather(&names(&["a", "b"]), &[1.0]),
            Err(JointMapError::Length {
                names: 2,
                values: 1
            })
        );
    }

    #[test]
    fn trajectory_to_chunk() {
        let mut m = JointMap::<2>::new(["a", "b"]);
        let n = names(&["b", "a"]);
        let pts = [
            (Duration::from_millis(50), &[0.2, 0.1][..]),
            (Duration::from_millis(100), &[0.4, 0.3][..]),
        ];
        let c = m.chunk(Stamp { sec: 3, nanosec: 0 }, &n, pts).unwrap();
        let got: Vec<(i64, f64)> = c.points().map(|(t, q)| (t, q[0])).collect();
        assert_eq!(got, vec![(3_050_000_000, 0.1), (3_100_000_000, 0.3)]);
        let bad = [
            (Duration::from_millis(50), &[0.2, 0.1][..]),
            (Duration::from_millis(50), &[0.4, 0.3][..]),
        ];
        assert_eq!(
            m.chunk(Stamp::ZERO, &n, bad).err(),
            Some(JointMapError::Chunk(ChunkError::NotIncreasing))
        );
    }
}
