//! Plain fixed-size types shared by the controllers, the supervisor and the loop.

use nalgebra::SVector;

/// One value per joint. `N` is the joint count, fixed at compile time so nothing
/// on the control path allocates.
pub type JVec<const N: usize> = SVector<f64, N>;

/// What the encoders say: position and velocity of every joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointState<const N: usize> {
    pub q: JVec<N>,
    pub qd: JVec<N>,
}

impl<const N: usize> JointState<N> {
    pub fn at_rest(q: JVec<N>) -> Self {
        Self {
            q,
            qd: JVec::zeros(),
        }
    }
}

/// Where the joints should be now, and how fast they should be moving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference<const N: usize> {
    pub q: JVec<N>,
    pub qd: JVec<N>,
}

impl<const N: usize> Reference<N> {
    /// Stand still at `q`.
    pub fn hold(q: JVec<N>) -> Self {
        Self {
            q,
            qd: JVec::zeros(),
        }
    }
}

/// True when every entry is finite (no NaN, no ±inf).
pub fn all_finite<const N: usize>(v: &JVec<N>) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Per-joint gains given as either one value for all joints or one per joint
/// (serde: `5.0` or `[5.0, 5.0, ...]`). Turned into a [`JVec`] at start-up.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum PerJoint {
    All(f64),
    Each(Vec<f64>),
}

impl PerJoint {
    /// The gain vector for `N` joints; a list shorter than `N` is an error, a
    /// longer list (e.g. the Panda's 7 gains on a 6-joint arm) uses its first `N`.
    pub fn to_vec<const N: usize>(&self) -> Result<JVec<N>, crate::ConfigError> {
        match self {
            PerJoint::All(x) => Ok(JVec::from_element(*x)),
            PerJoint::Each(v) if v.len() >= N => Ok(JVec::from_iterator(v.iter().copied())),
            PerJoint::Each(v) => Err(crate::ConfigError::TooFewGains {
                got: v.len(),
                need: N,
            }),
        }
    }
}
