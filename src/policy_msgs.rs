//! The messages a running policy and its controller publish (and a rollout
//! records), so `kotoba replay` shows predictions next to what happened.

use kotoba_controller::{ARM_JOINTS, Event, Level};
use kotoba_msgs::{builtin_interfaces, diagnostic_msgs, std_msgs, time_from_nanos, trajectory_msgs};

pub const TARGETS: &str = "/policy/joint_targets";
pub const LABEL: &str = "/policy/label";
pub const ATTENTION: &str = "/policy/attention";
/// Where the policy's subgoal head expects the arm at the end of the current
/// phase (a one-point trajectory), from a policy with one.
pub const SUBGOAL: &str = "/policy/subgoal";
pub const DIAGNOSTICS: &str = "/diagnostics";

/// The next joint target (one trajectory point, `period` ahead), the predicted
/// label, and the attention points as `[x0, y0, x1, y1, ...]` in 0..1 image coordinates.
pub fn prediction(
    names: &[String],
    target: &[f32],
    label: &str,
    attention: &[[f32; 2]],
    t_ns: i64,
    period: f64,
) -> (trajectory_msgs::JointTrajectory, std_msgs::String, std_msgs::Float64MultiArray) {
    let jt = one_point(names, target, t_ns, builtin_interfaces::Duration { sec: 0, nanosec: (period * 1e9) as u32 });
    let att = std_msgs::Float64MultiArray {
        data: attention.iter().flat_map(|p| [f64::from(p[0]), f64::from(p[1])]).collect(),
        ..Default::default()
    };
    (jt, std_msgs::String { data: label.into() }, att)
}

/// The subgoal as a one-point trajectory (raw joint units, no time).
pub fn subgoal(names: &[String], goal: &[f32], t_ns: i64) -> trajectory_msgs::JointTrajectory {
    one_point(names, goal, t_ns, builtin_interfaces::Duration::default())
}

/// A trajectory of one point, `positions` reached `at` after the stamp.
fn one_point(names: &[String], positions: &[f32], t_ns: i64, at: builtin_interfaces::Duration) -> trajectory_msgs::JointTrajectory {
    let point = trajectory_msgs::JointTrajectoryPoint {
        positions: positions.iter().map(|&v| f64::from(v)).collect(),
        time_from_start: at,
        ..Default::default()
    };
    trajectory_msgs::JointTrajectory {
        header: std_msgs::Header { stamp: time_from_nanos(t_ns), frame_id: String::new() },
        joint_names: names.to_vec(),
        points: vec![point],
    }
}

/// A supervisor event as a `DiagnosticArray` with one status.
pub fn event(e: &Event, t_ns: i64) -> diagnostic_msgs::DiagnosticArray {
    use diagnostic_msgs::DiagnosticStatus as S;
    let level = match e.kind.level() {
        Level::Ok => S::OK,
        Level::Warn => S::WARN,
        Level::Error => S::ERROR,
    };
    let kv = |k: &str, v: String| diagnostic_msgs::KeyValue { key: k.into(), value: v };
    let mut values = vec![kv("event", format!("{:?}", e.kind))];
    if let Some(j) = e.joint {
        values.push(kv("joint", ARM_JOINTS.get(j as usize).unwrap_or(&"?").to_string()));
    }
    if e.value.is_finite() {
        values.push(kv("value", e.value.to_string()));
    }
    let status = S { level, name: "kotoba/supervisor".into(), message: e.kind.reason().into(), hardware_id: String::new(), values };
    diagnostic_msgs::DiagnosticArray {
        header: std_msgs::Header { stamp: time_from_nanos(t_ns), frame_id: String::new() },
        status: vec![status],
    }
}
