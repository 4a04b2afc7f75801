//! The robot from its URDF: link tree, forward kinematics (urdf-rs + nalgebra),
//! and the link geometry as rerun shapes.
//!
//! Every link is logged flat under `robot/<link>` with its pose in the URDF's
//! root frame, so one transform per link and time is all the viewer needs.

use crate::error::{ReplayError, Result};
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use std::collections::HashMap;

/// The project's arm (`urdf/kotoba_arm.urdf`), embedded.
pub const DEFAULT_URDF: &str = include_str!("../../../urdf/kotoba_arm.urdf");

/// One visual shape of a link, in the link's frame.
#[derive(Debug, Clone)]
pub struct Visual {
    pub origin: Isometry3<f64>,
    pub shape: Shape,
    pub rgba: Option<[f32; 4]>,
}

/// The URDF geometries rerun can draw without mesh files.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Box { size: [f64; 3] },
    Cylinder { radius: f64, length: f64 },
    Capsule { radius: f64, length: f64 },
    Sphere { radius: f64 },
    /// Not drawn (mesh files are not resolved); kept so it can be reported.
    Mesh { filename: String },
}

#[derive(Debug, Clone)]
enum Motion {
    Fixed,
    Revolute(nalgebra::Unit<Vector3<f64>>),
    Prismatic(nalgebra::Unit<Vector3<f64>>),
}

#[derive(Debug, Clone)]
struct Joint {
    name: String,
    /// Position in the URDF document.
    doc: usize,
    parent: usize,
    child: usize,
    origin: Isometry3<f64>,
    motion: Motion,
    /// `(master joint, multiplier, offset)`.
    mimic: Option<(String, f64, f64)>,
}

/// A kinematic tree parsed from a URDF.
#[derive(Debug, Clone)]
pub struct Robot {
    pub name: String,
    links: Vec<String>,
    visuals: Vec<Vec<Visual>>,
    /// Joints in topological order (parents before children).
    joints: Vec<Joint>,
    root: usize,
    /// Per link: does any joint between it and the root move?
    moving: Vec<bool>,
}

fn iso(p: &urdf_rs::Pose) -> Isometry3<f64> {
    let [x, y, z] = p.xyz.0;
    let [r, pi, ya] = p.rpy.0;
    Isometry3::from_parts(Translation3::new(x, y, z), UnitQuaternion::from_euler_angles(r, pi, ya))
}

impl Robot {
    /// The embedded kotoba arm.
    pub fn kotoba_arm() -> Result<Robot> {
        Robot::from_urdf_str(DEFAULT_URDF)
    }

    /// Parses a URDF document. Fails on a malformed document or a tree with
    /// cycles, several roots or unknown links.
    pub fn from_urdf_str(urdf: &str) -> Result<Robot> {
        let r = urdf_rs::read_from_string(urdf).map_err(|e| ReplayError::Urdf(e.to_string()))?;
        let links: Vec<String> = r.links.iter().map(|l| l.name.clone()).collect();
        let index: HashMap<&str, usize> = links.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let link_of = |name: &str| {
            index.get(name).copied().ok_or_else(|| ReplayError::Urdf(format!("joint refers to unknown link {name:?}")))
        };
        let mut joints = Vec::with_capacity(r.joints.len());
        let mut has_parent = vec![false; links.len()];
        for (doc, j) in r.joints.iter().enumerate() {
            let axis = {
                let [x, y, z] = j.axis.xyz.0;
                nalgebra::Unit::try_new(Vector3::new(x, y, z), 1e-12).unwrap_or(Vector3::x_axis())
            };
            let motion = match j.joint_type {
                urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => Motion::Revolute(axis),
                urdf_rs::JointType::Prismatic => Motion::Prismatic(axis),
                // Floating/planar/spherical joints have no single position: drawn fixed.
                _ => Motion::Fixed,
            };
            let child = link_of(&j.child.link)?;
            if std::mem::replace(&mut has_parent[child], true) {
                return Err(ReplayError::Urdf(format!("link {:?} has two parent joints", j.child.link)));
            }
            joints.push(Joint {
                name: j.name.clone(),
                doc,
                parent: link_of(&j.parent.link)?,
                child,
                origin: iso(&j.origin),
                motion,
                mimic: j.mimic.as_ref().map(|m| (m.joint.clone(), m.multiplier.unwrap_or(1.0), m.offset.unwrap_or(0.0))),
            });
        }
        let roots: Vec<usize> = (0..links.len()).filter(|&i| !has_parent[i]).collect();
        let [root] = roots[..] else {
            return Err(ReplayError::Urdf(format!("expected one root link, found {}", roots.len())));
        };
        // Topological order from the root; anything unreachable is a cycle.
        let mut ordered = Vec::with_capacity(joints.len());
        let mut frontier = vec![root];
        let mut moving = vec![false; links.len()];
        while let Some(l) = frontier.pop() {
            for j in joints.iter().filter(|j| j.parent == l) {
                moving[j.child] = moving[l] || !matches!(j.motion, Motion::Fixed);
                frontier.push(j.child);
                ordered.push(j.clone());
            }
        }
        if ordered.len() != joints.len() {
            return Err(ReplayError::Urdf("the joints do not form a tree (cycle)".into()));
        }
        let visuals = r
            .links
            .iter()
            .map(|l| {
                l.visual
                    .iter()
                    .map(|v| Visual {
                        origin: iso(&v.origin),
                        shape: match &v.geometry {
                            urdf_rs::Geometry::Box { size } => Shape::Box { size: size.0 },
                            urdf_rs::Geometry::Cylinder { radius, length } => {
                                Shape::Cylinder { radius: *radius, length: *length }
                            }
                            urdf_rs::Geometry::Capsule { radius, length } => {
                                Shape::Capsule { radius: *radius, length: *length }
                            }
                            urdf_rs::Geometry::Sphere { radius } => Shape::Sphere { radius: *radius },
                            urdf_rs::Geometry::Mesh { filename, .. } => Shape::Mesh { filename: filename.clone() },
                        },
                        rgba: v.material.as_ref().and_then(|m| m.color.as_ref()).map(|c| c.rgba.0.map(|x| x as f32)),
                    })
                    .collect()
            })
            .collect();
        Ok(Robot { name: r.name, links, visuals, joints: ordered, root, moving })
    }

    pub fn links(&self) -> &[String] {
        &self.links
    }

    pub fn visuals(&self, link: usize) -> &[Visual] {
        &self.visuals[link]
    }

    /// True if the link's pose depends on a joint position.
    pub fn is_moving(&self, link: usize) -> bool {
        self.moving[link]
    }

    /// Names of the joints a command vector addresses: movable, not mimic,
    /// in URDF order (the arm's six joints, then the gripper).
    pub fn actuated_joints(&self) -> Vec<String> {
        let mut js: Vec<&Joint> =
            self.joints.iter().filter(|j| !matches!(j.motion, Motion::Fixed) && j.mimic.is_none()).collect();
        // Back to document order (the topological walk may reorder siblings).
        js.sort_by_key(|j| j.doc);
        js.into_iter().map(|j| j.name.clone()).collect()
    }

    /// The pose of every link in the root frame (indexed like [`Self::links`]).
    /// `q` gives joint positions by name; a missing joint is at 0.
    pub fn forward(&self, q: &HashMap<String, f64>) -> Vec<Isometry3<f64>> {
        let mut pose = vec![Isometry3::identity(); self.links.len()];
        pose[self.root] = Isometry3::identity();
        for j in &self.joints {
            let value = match &j.mimic {
                Some((master, mul, off)) => q.get(master).copied().unwrap_or(0.0) * mul + off,
                None => q.get(&j.name).copied().unwrap_or(0.0),
            };
            let value = if value.is_finite() { value } else { 0.0 };
            let m = match &j.motion {
                Motion::Fixed => Isometry3::identity(),
                Motion::Revolute(a) => Isometry3::from_parts(Translation3::identity(), UnitQuaternion::from_axis_angle(a, value)),
                Motion::Prismatic(a) => Isometry3::from_parts(Translation3::from(a.into_inner() * value), UnitQuaternion::identity()),
            };
            pose[j.child] = pose[j.parent] * j.origin * m;
        }
        pose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_parses_and_moves() {
        let r = Robot::kotoba_arm().unwrap();
        assert_eq!(
            r.actuated_joints(),
            [
                "shoulder_pan_joint",
                "shoulder_lift_joint",
                "elbow_joint",
                "wrist_1_joint",
                "wrist_2_joint",
                "wrist_3_joint",
                "gripper_joint"
            ]
        );
        let tcp = r.links().iter().position(|l| l == "tcp").unwrap();
        let base = r.links().iter().position(|l| l == "base_link").unwrap();
        assert!(r.is_moving(tcp) && !r.is_moving(base));
        let zero = r.forward(&HashMap::new());
        let mut q = HashMap::new();
        q.insert("shoulder_pan_joint".to_string(), std::f64::consts::FRAC_PI_2);
        let turned = r.forward(&q);
        // Panning by 90 degrees keeps the TCP's height and its distance to the axis.
        let (a, b) = (zero[tcp].translation.vector, turned[tcp].translation.vector);
        assert!((a.z - b.z).abs() < 1e-9);
        assert!((a.xy().norm() - b.xy().norm()).abs() < 1e-9);
        assert!((a - b).norm() > 0.1);
        // The mimic finger opens the other way.
        q.insert("gripper_joint".into(), 0.04);
        let open = r.forward(&q);
        let (l, rf) = (r.links().iter().position(|l| l == "left_finger").unwrap(), r.links().iter().position(|l| l == "right_finger").unwrap());
        assert!(((open[l].translation.vector - open[rf].translation.vector).norm() - 0.08).abs() < 1e-9);
    }

    #[test]
    fn bad_urdf_is_an_error() {
        assert!(Robot::from_urdf_str("<robot name='x'><link name='a'/><link name='b'/></robot>").is_err());
        assert!(Robot::from_urdf_str("not xml").is_err());
    }
}
