//! Builds a [`ChainGravity`] (masses, centres, joint frames) from a URDF.

use crate::gravity::{ChainGravity, ChainLink};
use crate::limits::LimitsError;
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use std::path::Path;
use urdf_rs::{JointType, Robot};

fn iso(p: &urdf_rs::Pose) -> Isometry3<f64> {
    let [x, y, z] = p.xyz.0;
    let [r, pi, ya] = p.rpy.0;
    // URDF rpy is fixed-axis X, then Y, then Z: R = Rz(y)·Ry(p)·Rx(r), which is
    // what nalgebra's from_euler_angles builds.
    Isometry3::from_parts(
        Translation3::new(x, y, z),
        UnitQuaternion::from_euler_angles(r, pi, ya),
    )
}

fn movable(t: &JointType) -> bool {
    matches!(
        t,
        JointType::Revolute | JointType::Continuous | JointType::Prismatic
    )
}

impl<const N: usize> ChainGravity<N> {
    /// `joints` names the controlled joints; other movable joints (a gripper)
    /// then count as fixed at zero. `None` takes every movable joint of the chain.
    pub fn from_urdf(path: &Path, joints: Option<&[&str]>) -> Result<Self, LimitsError> {
        let robot = urdf_rs::read_file(path).map_err(|source| LimitsError::Urdf {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_robot(&robot, joints)
    }

    pub fn from_urdf_str(xml: &str, joints: Option<&[&str]>) -> Result<Self, LimitsError> {
        let robot = urdf_rs::read_from_string(xml).map_err(|source| LimitsError::Urdf {
            path: "<string>".into(),
            source,
        })?;
        Self::from_robot(&robot, joints)
    }

    /// Walks from the root link along the branch that holds movable joints,
    /// folding fixed joints (and their links' masses) into the joint before them.
    pub fn from_robot(robot: &Robot, joints: Option<&[&str]>) -> Result<Self, LimitsError> {
        if let Some(names) = joints
            && let Some(n) = names
                .iter()
                .find(|n| !robot.joints.iter().any(|j| j.name == **n))
        {
            return Err(LimitsError::MissingJoint(n.to_string()));
        }
        let movable = |j: &urdf_rs::Joint| match joints {
            Some(names) => names.contains(&j.name.as_str()),
            None => movable(&j.joint_type),
        };
        let is_child = |l: &str| robot.joints.iter().any(|j| j.child.link == l);
        let root = robot
            .links
            .iter()
            .find(|l| !is_child(&l.name))
            .map(|l| l.name.clone())
            .unwrap_or_default();
        // Movable joints below a link, to pick the arm's branch at a fork.
        fn below(
            robot: &Robot,
            link: &str,
            depth: usize,
            m: &dyn Fn(&urdf_rs::Joint) -> bool,
        ) -> usize {
            if depth > 64 {
                return 0;
            }
            robot
                .joints
                .iter()
                .filter(|j| j.parent.link == link)
                .map(|j| m(j) as usize + below(robot, &j.child.link, depth + 1, m))
                .max()
                .unwrap_or(0)
        }
        let mut links: Vec<ChainLink> = Vec::new();
        // Transform from the last movable joint's frame (or the root) to `cur`.
        let mut pending = Isometry3::identity();
        let mut cur = root;
        for _ in 0..256 {
            if let Some(link) = robot.links.iter().find(|l| l.name == cur)
                && let Some(last) = links.last_mut()
            {
                let m = link.inertial.mass.value;
                if m > 0.0 {
                    let c = pending * iso(&link.inertial.origin) * Point3::origin();
                    let total = last.mass + m;
                    last.com = Point3::from((last.com.coords * last.mass + c.coords * m) / total);
                    last.mass = total;
                }
            }
            let next = robot
                .joints
                .iter()
                .filter(|j| j.parent.link == cur)
                .max_by_key(|j| movable(j) as usize + below(robot, &j.child.link, 0, &movable));
            let Some(j) = next else { break };
            let origin = pending * iso(&j.origin);
            if movable(j) {
                let a = j.axis.xyz.0;
                let axis = Vector3::new(a[0], a[1], a[2]);
                let norm = axis.norm();
                if norm.is_nan() || norm <= 0.0 {
                    return Err(LimitsError::Invalid {
                        joint: j.name.clone(),
                        what: "zero joint axis",
                    });
                }
                links.push(ChainLink {
                    origin,
                    axis: axis / norm,
                    prismatic: j.joint_type == JointType::Prismatic,
                    mass: 0.0,
                    com: Point3::origin(),
                });
                pending = Isometry3::identity();
            } else {
                pending = origin;
            }
            cur = j.child.link.clone();
        }
        let arr: [ChainLink; N] =
            links
                .clone()
                .try_into()
                .map_err(|_| LimitsError::JointCount {
                    found: links.len(),
                    need: N,
                    names: "movable joints on the main chain".into(),
                })?;
        Ok(Self {
            links: arr,
            base: Isometry3::identity(),
            gravity: Vector3::new(0.0, 0.0, -9.81),
        })
    }
}
