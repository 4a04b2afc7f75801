//! Joint position, velocity and effort limits: from a URDF or built in code.

use crate::types::JVec;
use std::path::Path;

/// Limits per joint. Continuous joints have infinite position limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointLimits<const N: usize> {
    pub lower: JVec<N>,
    pub upper: JVec<N>,
    /// |q̇| bound (rad/s or m/s).
    pub velocity: JVec<N>,
    /// |τ| bound (N·m or N).
    pub effort: JVec<N>,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("reading URDF {path}: {source}")]
    Urdf {
        path: String,
        source: urdf_rs::UrdfError,
    },
    #[error("URDF has {found} movable joints ({names}), the controller is built for {need}")]
    JointCount {
        found: usize,
        need: usize,
        names: String,
    },
    #[error("URDF has no joint named {0:?}")]
    MissingJoint(String),
    #[error("joint {joint:?}: {what}")]
    Invalid { joint: String, what: &'static str },
}

impl<const N: usize> JointLimits<N> {
    /// Symmetric limits, the same for every joint.
    pub fn uniform(position: f64, velocity: f64, effort: f64) -> Self {
        Self {
            lower: JVec::from_element(-position),
            upper: JVec::from_element(position),
            velocity: JVec::from_element(velocity),
            effort: JVec::from_element(effort),
        }
    }

    /// Reads limits from a URDF file. `names` picks the joints in the
    /// controller's order; `None` takes every revolute, continuous or prismatic
    /// joint in file order (which must then be exactly `N`).
    pub fn from_urdf(path: &Path, names: Option<&[&str]>) -> Result<Self, LimitsError> {
        let robot = urdf_rs::read_file(path).map_err(|source| LimitsError::Urdf {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_robot(&robot, names)
    }

    pub fn from_urdf_str(xml: &str, names: Option<&[&str]>) -> Result<Self, LimitsError> {
        let robot = urdf_rs::read_from_string(xml).map_err(|source| LimitsError::Urdf {
            path: "<string>".into(),
            source,
        })?;
        Self::from_robot(&robot, names)
    }

    fn from_robot(robot: &urdf_rs::Robot, names: Option<&[&str]>) -> Result<Self, LimitsError> {
        use urdf_rs::JointType::*;
        let movable: Vec<&urdf_rs::Joint> = robot
            .joints
            .iter()
            .filter(|j| matches!(j.joint_type, Revolute | Continuous | Prismatic))
            .collect();
        let picked: Vec<&urdf_rs::Joint> = match names {
            Some(names) => names
                .iter()
                .map(|n| {
                    movable
                        .iter()
                        .find(|j| j.name == *n)
                        .copied()
                        .ok_or_else(|| LimitsError::MissingJoint(n.to_string()))
                })
                .collect::<Result<_, _>>()?,
            None => movable,
        };
        if picked.len() != N {
            let names = picked
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(LimitsError::JointCount {
                found: picked.len(),
                need: N,
                names,
            });
        }
        let mut l = Self::uniform(f64::INFINITY, f64::INFINITY, f64::INFINITY);
        for (i, j) in picked.iter().enumerate() {
            let bad = |what| LimitsError::Invalid {
                joint: j.name.clone(),
                what,
            };
            let lim = &j.limit;
            if j.joint_type == Continuous {
                l.lower[i] = f64::NEG_INFINITY;
                l.upper[i] = f64::INFINITY;
            } else {
                if lim.lower.is_nan() || lim.upper.is_nan() || lim.lower > lim.upper {
                    return Err(bad("lower limit above upper limit"));
                }
                l.lower[i] = lim.lower;
                l.upper[i] = lim.upper;
            }
            // URDF requires velocity and effort on revolute/prismatic joints; a
            // zero or missing one would make the arm immovable, so refuse it.
            if lim.velocity.is_nan() || lim.velocity <= 0.0 {
                return Err(bad("velocity limit missing or not positive"));
            }
            if lim.effort.is_nan() || lim.effort <= 0.0 {
                return Err(bad("effort limit missing or not positive"));
            }
            l.velocity[i] = lim.velocity;
            l.effort[i] = lim.effort;
        }
        Ok(l)
    }

    /// Clamps `q` into [lower + margin, upper − margin]; returns the first
    /// joint that needed it.
    pub fn clamp_position(&self, q: &mut JVec<N>, margin: f64) -> Option<usize> {
        let mut first = None;
        for i in 0..N {
            let (lo, hi) = (self.lower[i] + margin, self.upper[i] - margin);
            let c = if lo <= hi {
                q[i].clamp(lo, hi)
            } else {
                0.5 * (self.lower[i] + self.upper[i])
            };
            if c != q[i] {
                first.get_or_insert(i);
                q[i] = c;
            }
        }
        first
    }
}

/// The six arm joints of `urdf/kotoba_arm.urdf`, in controller order.
pub const ARM_JOINTS: [&str; 6] = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
];

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TWO_LINK: &str = r#"<robot name="two">
      <link name="base"/>
      <link name="l1"><inertial><origin xyz="0.5 0 0"/><mass value="2"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial></link>
      <link name="l2"><inertial><origin xyz="0.25 0 0"/><mass value="1"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial></link>
      <link name="tool"><inertial><mass value="0.5"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial></link>
      <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/><axis xyz="0 1 0"/>
        <limit lower="-2" upper="2" velocity="2.1" effort="87"/></joint>
      <joint name="j2" type="continuous"><parent link="l1"/><child link="l2"/><origin xyz="1 0 0"/><axis xyz="0 1 0"/>
        <limit velocity="2.6" effort="12"/></joint>
      <joint name="flange" type="fixed"><parent link="l2"/><child link="tool"/><origin xyz="0.5 0 0"/></joint>
    </robot>"#;

    #[test]
    fn limits_from_urdf_in_file_order_and_by_name() {
        let l = JointLimits::<2>::from_urdf_str(TWO_LINK, None).unwrap();
        assert_eq!(
            (l.lower[0], l.upper[0], l.velocity[0], l.effort[0]),
            (-2.0, 2.0, 2.1, 87.0)
        );
        assert!(l.lower[1].is_infinite() && l.upper[1].is_infinite());
        let r = JointLimits::<2>::from_urdf_str(TWO_LINK, Some(&["j2", "j1"])).unwrap();
        assert_eq!(r.effort[0], 12.0);
        assert!(matches!(
            JointLimits::<3>::from_urdf_str(TWO_LINK, None),
            Err(LimitsError::JointCount { found: 2, .. })
        ));
        assert!(matches!(
            JointLimits::<1>::from_urdf_str(TWO_LINK, Some(&["nope"])),
            Err(LimitsError::MissingJoint(_))
        ));
    }

    use super::ARM_JOINTS;

    #[test]
    fn the_project_arm_urdf_gives_limits_and_gravity() {
        // urdf/kotoba_arm.urdf is the simulation issue's arm (6 joints + gripper).
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../urdf/kotoba_arm.urdf");
        if !path.exists() {
            eprintln!("{} not present yet: skipped", path.display());
            return;
        }
        let l = JointLimits::<6>::from_urdf(&path, Some(&ARM_JOINTS)).unwrap();
        assert!(l.lower.iter().zip(l.upper.iter()).all(|(lo, hi)| lo < hi));
        assert!(
            l.velocity
                .iter()
                .chain(l.effort.iter())
                .all(|x| *x > 0.0 && x.is_finite())
        );
        let g = crate::ChainGravity::<6>::from_urdf(&path, Some(&ARM_JOINTS)).unwrap();
        use crate::gravity::GravityModel;
        let tau = g.torque(&crate::JVec::zeros());
        assert!(tau.iter().all(|x| x.is_finite()));
        // The base pan joint is vertical: gravity never loads it.
        let t2 = g.torque(&crate::JVec::from_element(0.7));
        assert!(tau[0].abs() < 1e-9 && t2[0].abs() < 1e-9, "{tau:?} {t2:?}");
        // Some joint carries the arm's weight.
        assert!(
            tau.abs().max() > 1.0 || t2.abs().max() > 1.0,
            "{tau:?} {t2:?}"
        );
        assert!(
            JointLimits::<6>::from_urdf(&path, None).is_err(),
            "gripper joints make the count wrong without names"
        );
    }

    #[test]
    fn gravity_of_the_two_link_urdf() {
        use crate::gravity::GravityModel;
        let g = crate::ChainGravity::<2>::from_urdf_str(TWO_LINK, None).unwrap();
        // Arm horizontal along x, axes along y: holding torques by hand.
        // Joint 2 carries l2 (1 kg at 0.25 m) + tool (0.5 kg at 0.5 m).
        let t2 = 9.81 * (1.0 * 0.25 + 0.5 * 0.5);
        // Joint 1 carries l1 (2 kg at 0.5 m) and everything beyond joint 2 (1 m further).
        let t1 = 9.81 * (2.0 * 0.5 + 1.0 * 1.25 + 0.5 * 1.5);
        let tau = g.torque(&crate::JVec::zeros());
        // Gravity along −z pulls +x links toward −z: about +y that is +torque; holding needs −.
        assert!(
            (tau[0].abs() - t1).abs() < 1e-9 && (tau[1].abs() - t2).abs() < 1e-9,
            "{tau:?}"
        );
        assert!(tau[0].signum() == tau[1].signum());
        // Pointing straight down (rotate +90° about y), no torque is needed.
        let down = g.torque(&crate::JVec::<2>::new(std::f64::consts::FRAC_PI_2, 0.0));
        assert!(down.abs().max() < 1e-9, "{down:?}");
    }
}
