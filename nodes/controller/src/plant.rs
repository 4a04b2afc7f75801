//! **A unit-test plant, not a robot model.** Decoupled rigid joints (inertia,
//! viscous damping, a pendulum's gravity torque each) integrated at 10× the
//! control rate. The closed-loop tests and `kotoba bench controller` use it
//! until the MuJoCo arm (`kotoba-sim`) can be stepped in lockstep; its
//! numbers say how the controllers behave on this toy, not on an arm.

use crate::gravity::GravityModel;
use crate::types::{JVec, JointState};

/// Each joint: I q̈ = τ + τ_ext − b q̇ − mgl·sin(q).
#[derive(Debug, Clone)]
pub struct DecoupledPlant<const N: usize> {
    pub inertia: JVec<N>,
    pub damping: JVec<N>,
    /// Gravity torque amplitude m·g·l (N·m); zero for vertical-axis joints.
    pub mgl: JVec<N>,
    pub state: JointState<N>,
    /// Integration sub-steps per control period.
    pub substeps: u32,
}

const I7: [f64; 7] = [0.7, 0.7, 0.5, 0.5, 0.2, 0.15, 0.05];
const B7: [f64; 7] = [3.0, 3.0, 2.0, 2.0, 1.0, 0.5, 0.2];
const G7: [f64; 7] = [0.0, 25.0, 0.0, 12.0, 0.0, 1.5, 0.0];

impl<const N: usize> DecoupledPlant<N> {
    /// Panda-like magnitudes (inertia 0.05–0.7 kg·m², gravity on joints 2, 4, 6);
    /// N ≤ 7 takes the first N joints.
    pub fn arm_like(q0: JVec<N>) -> Self {
        assert!(N <= 7, "the unit-test plant has at most 7 joints");
        Self {
            inertia: JVec::from_iterator(I7.iter().copied()),
            damping: JVec::from_iterator(B7.iter().copied()),
            mgl: JVec::from_iterator(G7.iter().copied()),
            state: JointState::at_rest(q0),
            substeps: 10,
        }
    }

    /// Adds a payload of `kg` at `lever` metres beyond every joint: more
    /// gravity torque on the joints that feel gravity, more inertia on all.
    pub fn with_payload(mut self, kg: f64, lever: f64) -> Self {
        for i in 0..N {
            if self.mgl[i] != 0.0 {
                self.mgl[i] += kg * 9.81 * lever;
            }
            self.inertia[i] += kg * lever * lever;
        }
        self
    }

    /// The gravity model a controller would get from this plant's nominal parameters.
    pub fn gravity_model(&self) -> PendulumGravity<N> {
        PendulumGravity { mgl: self.mgl }
    }

    /// Advances `dt` seconds with `effort + external` held constant.
    pub fn step(&mut self, effort: &JVec<N>, external: &JVec<N>, dt: f64) {
        let h = dt / self.substeps.max(1) as f64;
        for _ in 0..self.substeps.max(1) {
            let s = &mut self.state;
            let tau = effort + external
                - self.damping.component_mul(&s.qd)
                - self.mgl.component_mul(&s.q.map(f64::sin));
            let qdd = tau.component_div(&self.inertia);
            s.qd += qdd * h;
            s.q += s.qd * h;
        }
    }
}

/// g(q) = mgl·sin(q) per joint: the plant's own gravity law.
#[derive(Debug, Clone, Copy)]
pub struct PendulumGravity<const N: usize> {
    pub mgl: JVec<N>,
}

impl<const N: usize> GravityModel<N> for PendulumGravity<N> {
    fn torque(&self, q: &JVec<N>) -> JVec<N> {
        self.mgl.component_mul(&q.map(f64::sin))
    }
}
