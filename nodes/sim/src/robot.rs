//! The robot description: URDF → joints, limits and the kinematic chain to the tool.

use crate::error::{Result, SimError};
use nalgebra::{Isometry3, Matrix6xX, Translation3, Unit, UnitQuaternion, Vector3};

/// One actuated joint with the limits the sim, the controller and the viewer share.
#[derive(Debug, Clone, PartialEq)]
pub struct JointSpec {
    pub name: String,
    pub prismatic: bool,
    pub lower: f64,
    pub upper: f64,
    /// rad/s or m/s.
    pub velocity: f64,
    /// N m or N.
    pub effort: f64,
    pub damping: f64,
    pub friction: f64,
}

/// One step of the chain from the world to the tool: a fixed transform, then
/// (for a joint of the arm) a rotation about `axis` by `q[index]`.
#[derive(Debug, Clone)]
struct ChainStep {
    origin: Isometry3<f64>,
    joint: Option<(Unit<Vector3<f64>>, usize)>,
}

/// The robot as parsed from its URDF.
#[derive(Debug, Clone)]
pub struct RobotModel {
    pub urdf: urdf_rs::Robot,
    /// The URDF text, published latched on `/robot_description`.
    pub urdf_text: String,
    /// Arm joints from base to tool (the IK and command order).
    pub arm: Vec<JointSpec>,
    pub gripper: JointSpec,
    /// Joints that mimic the gripper: (name, multiplier, offset).
    pub mimics: Vec<(String, f64, f64)>,
    pub tcp_link: String,
    chain: Vec<ChainStep>,
}

/// The robot shipped in `urdf/kotoba_arm.urdf`.
pub const DEFAULT_URDF: &str = include_str!("../../../urdf/kotoba_arm.urdf");

pub(crate) fn pose_iso(p: &urdf_rs::Pose) -> Isometry3<f64> {
    let [x, y, z] = p.xyz.0;
    let [r, pi, ya] = p.rpy.0;
    Isometry3::from_parts(
        Translation3::new(x, y, z),
        UnitQuaternion::from_euler_angles(r, pi, ya),
    )
}

impl RobotModel {
    /// Parses `urdf_text`; `gripper_joint` names the gripper, `tcp_link` the tool frame.
    pub fn from_urdf_str(urdf_text: &str, gripper_joint: &str, tcp_link: &str) -> Result<Self> {
        let urdf =
            urdf_rs::read_from_string(urdf_text).map_err(|e| SimError::Urdf(e.to_string()))?;
        let spec = |j: &urdf_rs::Joint| -> Result<JointSpec> {
            let prismatic = match j.joint_type {
                urdf_rs::JointType::Revolute => false,
                urdf_rs::JointType::Prismatic => true,
                ref t => {
                    return Err(SimError::Urdf(format!(
                        "joint {} has unsupported type {t:?}",
                        j.name
                    )));
                }
            };
            let (lower, upper) = (j.limit.lower, j.limit.upper);
            if !(lower < upper) || j.limit.velocity <= 0.0 || j.limit.effort <= 0.0 {
                return Err(SimError::Urdf(format!(
                    "joint {} needs lower < upper and positive velocity/effort limits",
                    j.name
                )));
            }
            let d = j.dynamics.as_ref();
            Ok(JointSpec {
                name: j.name.clone(),
                prismatic,
                lower,
                upper,
                velocity: j.limit.velocity,
                effort: j.limit.effort,
                damping: d.map_or(0.0, |d| d.damping),
                friction: d.map_or(0.0, |d| d.friction),
            })
        };
        let gj = urdf.joints.iter().find(|j| j.name == gripper_joint);
        let gripper =
            spec(gj.ok_or_else(|| SimError::Urdf(format!("no gripper joint {gripper_joint}")))?)?;
        let mimics = urdf
            .joints
            .iter()
            .filter_map(|j| {
                let m = j.mimic.as_ref()?;
                (m.joint == gripper_joint).then(|| {
                    (
                        j.name.clone(),
                        m.multiplier.unwrap_or(1.0),
                        m.offset.unwrap_or(0.0),
                    )
                })
            })
            .collect();
        // Walk from the tool up to the root, then reverse.
        let mut path = Vec::new();
        let mut link = tcp_link.to_string();
        if !urdf.links.iter().any(|l| l.name == link) {
            return Err(SimError::Urdf(format!("no tool link {tcp_link}")));
        }
        while let Some(j) = urdf.joints.iter().find(|j| j.child.link == link) {
            if path.len() > urdf.joints.len() {
                return Err(SimError::Urdf("the joint tree has a cycle".into()));
            }
            path.push(j);
            link = j.parent.link.clone();
        }
        path.reverse();
        let mut arm = Vec::new();
        let mut chain = Vec::new();
        for j in path {
            let joint = if matches!(j.joint_type, urdf_rs::JointType::Fixed) {
                None
            } else {
                if j.mimic.is_some() {
                    return Err(SimError::Urdf(format!(
                        "mimic joint {} on the arm chain",
                        j.name
                    )));
                }
                arm.push(spec(j)?);
                let a = Vector3::from(j.axis.xyz.0);
                Some((
                    Unit::try_new(a, 1e-9).ok_or_else(|| {
                        SimError::Urdf(format!("joint {} has a zero axis", j.name))
                    })?,
                    arm.len() - 1,
                ))
            };
            if arm.last().is_some_and(|s| s.prismatic) {
                return Err(SimError::Urdf(
                    "prismatic arm joints are not supported by the IK".into(),
                ));
            }
            chain.push(ChainStep {
                origin: pose_iso(&j.origin),
                joint,
            });
        }
        if arm.is_empty() {
            return Err(SimError::Urdf(
                "no actuated joints between the root and the tool".into(),
            ));
        }
        Ok(Self {
            urdf,
            urdf_text: urdf_text.to_string(),
            arm,
            gripper,
            mimics,
            tcp_link: tcp_link.to_string(),
            chain,
        })
    }

    /// The shipped arm (`urdf/kotoba_arm.urdf`).
    pub fn default_arm() -> Self {
        Self::from_urdf_str(DEFAULT_URDF, "gripper_joint", "tcp")
            .expect("the shipped URDF is valid")
    }

    pub fn dof(&self) -> usize {
        self.arm.len()
    }

    /// Joint names as published on `/joint_states`: the arm, then the gripper.
    pub fn joint_names(&self) -> Vec<String> {
        self.arm
            .iter()
            .chain(std::iter::once(&self.gripper))
            .map(|j| j.name.clone())
            .collect()
    }

    /// Tool pose in the world for arm positions `q`.
    pub fn fk(&self, q: &[f64]) -> Isometry3<f64> {
        let mut t = Isometry3::identity();
        for s in &self.chain {
            t *= s.origin;
            if let Some((axis, i)) = s.joint {
                t *= UnitQuaternion::from_axis_angle(&axis, q[i]);
            }
        }
        t
    }

    /// Tool pose and the 6×n geometric Jacobian (linear rows first, world frame).
    pub fn jacobian(&self, q: &[f64]) -> (Isometry3<f64>, Matrix6xX<f64>) {
        let mut t = Isometry3::identity();
        let mut axes = Vec::with_capacity(self.dof());
        for s in &self.chain {
            t *= s.origin;
            if let Some((axis, i)) = s.joint {
                axes.push((t.translation.vector, t.rotation * axis.into_inner(), i));
                t *= UnitQuaternion::from_axis_angle(&axis, q[i]);
            }
        }
        let p = t.translation.vector;
        let mut jac = Matrix6xX::zeros(self.dof());
        for (o, z, i) in axes {
            let lin = z.cross(&(p - o));
            jac.fixed_view_mut::<3, 1>(0, i).copy_from(&lin);
            jac.fixed_view_mut::<3, 1>(3, i).copy_from(&z);
        }
        (t, jac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_arm_has_six_joints_and_a_gripper() {
        let r = RobotModel::default_arm();
        assert_eq!(r.dof(), 6);
        assert_eq!(r.gripper.name, "gripper_joint");
        assert_eq!(r.mimics.len(), 1);
        assert_eq!(r.arm[3].effort, 28.0);
        assert_eq!(r.joint_names().len(), 7);
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let r = RobotModel::default_arm();
        let q = [0.3, -1.2, 1.4, -1.7, -1.5, 0.2];
        let (t0, j) = r.jacobian(&q);
        for i in 0..6 {
            let mut q2 = q;
            q2[i] += 1e-6;
            let t1 = r.fk(&q2);
            let dp = (t1.translation.vector - t0.translation.vector) / 1e-6;
            for k in 0..3 {
                assert!(
                    (dp[k] - j[(k, i)]).abs() < 1e-4,
                    "joint {i} axis {k}: {} vs {}",
                    dp[k],
                    j[(k, i)]
                );
            }
        }
    }
}
