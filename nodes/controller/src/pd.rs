//! PD + gravity compensation: the classical baseline the AIC is compared with.

use crate::controller::JointController;
use crate::gravity::GravityModel;
use crate::types::{JVec, JointState, PerJoint, Reference};
use serde::{Deserialize, Serialize};

/// τ = K_p (q_d − q) + K_d (q̇_d − q̇) + g(q). Defaults match the unbiased AIC's
/// K_p/K_d so the two differ only in the state estimate and integral term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdGains {
    pub kp: PerJoint,
    pub kd: PerJoint,
}

impl PdGains {
    /// Gains for the 6-joint UR5e-class arm of `kotoba-sim`, scaled to each
    /// joint's inertia (the baseline the active-inference controller is
    /// compared with there).
    pub fn arm_tracking() -> Self {
        Self {
            kp: PerJoint::Each(vec![400.0, 400.0, 300.0, 60.0, 60.0, 30.0]),
            kd: PerJoint::Each(vec![40.0, 40.0, 30.0, 6.0, 6.0, 3.0]),
        }
    }
}

impl Default for PdGains {
    fn default() -> Self {
        Self {
            kp: PerJoint::Each(vec![55.0, 35.0, 35.0, 15.0, 15.0, 12.0, 2.0]),
            kd: PerJoint::All(30.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PdGravity<const N: usize, G> {
    kp: JVec<N>,
    kd: JVec<N>,
    gravity: G,
}

impl<const N: usize, G: GravityModel<N>> PdGravity<N, G> {
    pub fn new(g: &PdGains, gravity: G) -> Result<Self, crate::ConfigError> {
        let kp = g.kp.to_vec::<N>()?;
        let kd = g.kd.to_vec::<N>()?;
        if !kp
            .iter()
            .chain(kd.iter())
            .all(|x| x.is_finite() && *x >= 0.0)
        {
            return Err(crate::ConfigError::NotPositive("kp / kd"));
        }
        Ok(Self { kp, kd, gravity })
    }
}

impl<const N: usize, G: GravityModel<N>> JointController<N> for PdGravity<N, G> {
    fn name(&self) -> &'static str {
        "pd"
    }

    fn reset(&mut self, _state: &JointState<N>) {}

    fn step(&mut self, state: &JointState<N>, reference: &Reference<N>, _dt: f64) -> JVec<N> {
        self.kp.component_mul(&(reference.q - state.q))
            + self.kd.component_mul(&(reference.qd - state.qd))
            + self.gravity.torque(&state.q)
    }
}
