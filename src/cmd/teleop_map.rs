//! Leader-arm pass-through without a transport: a leader's JointState mapped by
//! joint name onto the follower's arm (and gripper), clamped to the follower's
//! URDF limits. `teleop_leader` wires it to topics.

use anyhow::{Result, bail};
use kotoba_msgs::sensor_msgs::JointState;
use kotoba_sim::{JointSpec, RobotModel};

/// Parses one `--map LEADER=FOLLOWER`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((l, f)) if !l.trim().is_empty() && !f.trim().is_empty() => {
            Ok((l.trim().to_string(), f.trim().to_string()))
        }
        _ => Err(format!("expected LEADER=FOLLOWER (two joint names), got {s:?}")),
    }
}

/// Joint targets for the follower taken from one leader message.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// In the follower's arm order, within its limits.
    pub arm: Vec<f64>,
    /// The gripper opening, if the leader has a gripper joint mapped.
    pub gripper: Option<f64>,
    /// Follower joints whose leader value was outside the limits (names).
    pub clamped: Vec<String>,
}

/// Where each follower joint takes its value from.
#[derive(Debug, Clone)]
pub struct JointMap {
    arm: Vec<(JointSpec, String)>,
    gripper: (JointSpec, String),
    /// The gripper was named in `--map`: its absence is an error, not "no gripper".
    gripper_explicit: bool,
}

impl JointMap {
    /// Identity by name, overridden by `pairs` (leader name, follower name).
    pub fn new(robot: &RobotModel, pairs: &[(String, String)]) -> Result<Self> {
        let follower = robot.joint_names();
        let mut seen = std::collections::BTreeSet::new();
        for (l, f) in pairs {
            if !follower.contains(f) {
                bail!("--map {l}={f}: `{f}` is not a joint of the follower (its joints: {})", follower.join(", "));
            }
            if !seen.insert(f) {
                bail!("--map: follower joint `{f}` is mapped more than once");
            }
        }
        let source = |j: &JointSpec| {
            let explicit = pairs.iter().find(|(_, f)| *f == j.name).map(|(l, _)| l.clone());
            (j.clone(), explicit.clone().unwrap_or_else(|| j.name.clone()))
        };
        Ok(JointMap {
            arm: robot.arm.iter().map(source).collect(),
            gripper: source(&robot.gripper),
            gripper_explicit: pairs.iter().any(|(_, f)| *f == robot.gripper.name),
        })
    }

    /// The follower's targets from a leader message; an error names the follower
    /// joint that has no source and what the leader does publish.
    pub fn apply(&self, msg: &JointState) -> Result<Targets> {
        let value = |leader: &str| -> Result<Option<f64>> {
            let Some(i) = msg.name.iter().position(|n| n == leader) else { return Ok(None) };
            match msg.position.get(i) {
                Some(v) if v.is_finite() => Ok(Some(*v)),
                Some(v) => bail!("the leader's `{leader}` position is {v}"),
                None => bail!("the leader's JointState has {} names but {} positions", msg.name.len(), msg.position.len()),
            }
        };
        let mut clamped = Vec::new();
        let mut clamp = |j: &JointSpec, v: f64| {
            if v < j.lower || v > j.upper {
                clamped.push(j.name.clone());
            }
            v.clamp(j.lower, j.upper)
        };
        let mut arm = Vec::with_capacity(self.arm.len());
        for (j, leader) in &self.arm {
            match value(leader)? {
                Some(v) => arm.push(clamp(j, v)),
                None => bail!(
                    "follower joint `{}` has no source: the leader publishes no `{leader}` (it publishes: {}); map one with --map LEADER={}",
                    j.name,
                    msg.name.join(", "),
                    j.name
                ),
            }
        }
        let (gj, gl) = &self.gripper;
        let gripper = match value(gl)? {
            Some(v) => Some(clamp(gj, v)),
            None if self.gripper_explicit => {
                bail!("--map {gl}={}: the leader publishes no `{gl}` (it publishes: {})", gj.name, msg.name.join(", "))
            }
            None => None,
        };
        Ok(Targets { arm, gripper, clamped })
    }
}

/// The follower's measured arm positions (arm order) and gripper from its own
/// JointState, by name; `None` while a joint is missing.
pub fn follower_positions(robot: &RobotModel, msg: &JointState) -> Option<(Vec<f64>, Option<f64>)> {
    let get = |name: &str| msg.name.iter().position(|n| n == name).and_then(|i| msg.position.get(i).copied());
    let arm = robot.arm.iter().map(|j| get(&j.name)).collect::<Option<Vec<f64>>>()?;
    Some((arm, get(&robot.gripper.name)))
}

/// The largest gap between two arm poses: (joint index, |a - b|).
pub fn largest_gap(a: &[f64], b: &[f64]) -> Option<(usize, f64)> {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).enumerate().max_by(|x, y| x.1.total_cmp(&y.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(names: &[&str], pos: &[f64]) -> JointState {
        JointState { name: names.iter().map(|s| s.to_string()).collect(), position: pos.to_vec(), ..Default::default() }
    }

    fn pairs(p: &[&str]) -> Vec<(String, String)> {
        p.iter().map(|s| parse_pair(s).unwrap()).collect()
    }

    const ARM: [&str; 6] =
        ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"];

    #[test]
    fn identity_by_name_in_any_order_with_the_gripper() {
        let r = RobotModel::default_arm();
        let m = JointMap::new(&r, &[]).unwrap();
        let mut names: Vec<&str> = ARM.iter().rev().copied().collect();
        names.push("gripper_joint");
        let t = m.apply(&js(&names, &[0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.02])).unwrap();
        assert_eq!(t.arm, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert_eq!(t.gripper, Some(0.02));
        assert!(t.clamped.is_empty());
        // No gripper on the leader: none, no error.
        assert_eq!(m.apply(&js(&ARM, &[0.0; 6])).unwrap().gripper, None);
    }

    #[test]
    fn mapped_names_replace_the_identity() {
        let r = RobotModel::default_arm();
        let m = JointMap::new(&r, &pairs(&["j1=shoulder_pan_joint", "grip = gripper_joint"])).unwrap();
        let mut names = ARM.to_vec();
        names[0] = "j1";
        names.push("grip");
        let t = m.apply(&js(&names, &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.01])).unwrap();
        assert_eq!(t.arm[..3], [1.0, 2.0, 3.0]);
        assert_eq!(t.gripper, Some(0.01));
        // An explicitly mapped gripper that the leader lacks is an error.
        let e = m.apply(&js(&names[..6], &[0.0; 6])).unwrap_err().to_string();
        assert!(e.contains("publishes no `grip`"), "{e}");
    }

    #[test]
    fn a_follower_joint_without_source_is_a_clear_error() {
        let r = RobotModel::default_arm();
        let m = JointMap::new(&r, &[]).unwrap();
        let e = m.apply(&js(&ARM[..5], &[0.0; 5])).unwrap_err().to_string();
        assert!(e.contains("follower joint `wrist_3_joint` has no source") && e.contains("--map LEADER=wrist_3_joint"), "{e}");
        let e = m.apply(&js(&ARM, &[0.0; 3])).unwrap_err().to_string();
        assert!(e.contains("6 names but 3 positions"), "{e}");
        let e = m.apply(&js(&ARM, &[0.0, f64::NAN, 0.0, 0.0, 0.0, 0.0])).unwrap_err().to_string();
        assert!(e.contains("`shoulder_lift_joint` position is NaN"), "{e}");
    }

    #[test]
    fn bad_map_options_are_refused() {
        let r = RobotModel::default_arm();
        assert!(parse_pair("a").unwrap_err().contains("LEADER=FOLLOWER"));
        assert!(parse_pair("=b").is_err());
        let e = JointMap::new(&r, &pairs(&["a=nope"])).unwrap_err().to_string();
        assert!(e.contains("`nope` is not a joint of the follower") && e.contains("elbow_joint"), "{e}");
        let e = JointMap::new(&r, &pairs(&["a=elbow_joint", "b=elbow_joint"])).unwrap_err().to_string();
        assert!(e.contains("mapped more than once"), "{e}");
    }

    #[test]
    fn values_outside_the_urdf_limits_are_clamped() {
        let r = RobotModel::default_arm();
        let m = JointMap::new(&r, &[]).unwrap();
        let mut names = ARM.to_vec();
        names.push("gripper_joint");
        // elbow limits ±π, gripper [0, 0.04].
        let t = m.apply(&js(&names, &[0.0, 0.0, 4.0, 0.0, 0.0, -9.0, 0.5])).unwrap();
        assert!((t.arm[2] - std::f64::consts::PI).abs() < 1e-5);
        assert!((t.arm[5] + 2.0 * std::f64::consts::PI).abs() < 1e-5);
        assert_eq!(t.gripper, Some(0.04));
        assert_eq!(t.clamped, ["elbow_joint", "wrist_3_joint", "gripper_joint"]);
    }

    #[test]
    fn follower_positions_by_name() {
        let r = RobotModel::default_arm();
        let mut names = ARM.to_vec();
        names.push("gripper_joint");
        let (arm, g) = follower_positions(&r, &js(&names, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.03])).unwrap();
        assert_eq!(arm, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(g, Some(0.03));
        assert!(follower_positions(&r, &js(&ARM[1..], &[0.0; 5])).is_none());
        assert_eq!(largest_gap(&[0.0, 1.0], &[0.5, -1.0]), Some((1, 2.0)));
    }
}
