//! Damped-least-squares inverse kinematics on the URDF chain (position + orientation).

use crate::error::{Result, SimError};
use crate::robot::RobotModel;
use nalgebra::{DMatrix, DVector, Isometry3, Matrix6, Vector6};

#[derive(Debug, Clone, Copy)]
pub struct IkParams {
    pub damping: f64,
    pub max_iters: usize,
    /// Convergence: position (m) and orientation (rad) error.
    pub tol_pos: f64,
    pub tol_rot: f64,
    /// Largest joint change per iteration (rad).
    pub max_step: f64,
}

impl Default for IkParams {
    fn default() -> Self {
        Self {
            damping: 0.02,
            max_iters: 200,
            tol_pos: 1e-4,
            tol_rot: 1e-3,
            max_step: 0.2,
        }
    }
}

/// Solves for arm positions that put the tool at `target`, starting from `seed`
/// (so consecutive waypoints stay on one branch). Respects the URDF joint limits.
pub fn solve(
    robot: &RobotModel,
    target: &Isometry3<f64>,
    seed: &[f64],
    p: IkParams,
) -> Result<Vec<f64>> {
    let n = robot.dof();
    let mut q = DVector::from_column_slice(seed);
    let mut err = (f64::INFINITY, f64::INFINITY);
    for _ in 0..p.max_iters {
        let (t, j) = robot.jacobian(q.as_slice());
        let ep = target.translation.vector - t.translation.vector;
        let er = (target.rotation * t.rotation.inverse()).scaled_axis();
        err = (ep.norm(), er.norm());
        if err.0 < p.tol_pos && err.1 < p.tol_rot {
            return Ok(q.as_slice().to_vec());
        }
        let e = Vector6::new(ep.x, ep.y, ep.z, er.x, er.y, er.z);
        let jjt: Matrix6<f64> = &j * j.transpose() + Matrix6::identity() * p.damping * p.damping;
        let Some(inv) = jjt.try_inverse() else { break };
        let jd = DMatrix::from_iterator(6, n, j.iter().copied());
        let mut dq = jd.transpose() * DVector::from_column_slice((inv * e).as_slice());
        let m = dq.amax();
        if m > p.max_step {
            dq *= p.max_step / m;
        }
        q += dq;
        for (i, s) in robot.arm.iter().enumerate() {
            q[i] = q[i].clamp(s.lower, s.upper);
        }
    }
    Err(SimError::Ik(format!(
        "position error {:.4} m, orientation error {:.4} rad",
        err.0, err.1
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ik_reaches_a_pose_it_was_given_by_fk() {
        let r = RobotModel::default_arm();
        let q_true = [0.2, -1.7, 1.8, -1.6, -1.5, 0.3];
        let target = r.fk(&q_true);
        let q = solve(&r, &target, &crate::HOME, IkParams::default()).unwrap();
        let t = r.fk(&q);
        assert!((t.translation.vector - target.translation.vector).norm() < 1e-3);
    }
}
