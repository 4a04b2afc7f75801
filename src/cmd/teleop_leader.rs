//! `kotoba teleop --leader TOPIC`: leader-arm pass-through. Each leader
//! JointState is mapped onto the follower ([`JointMap`]) and published as a
//! position target (and a gripper command), at the leader's rate up to
//! `--max-rate`. Commands start only once the leader is near the follower's pose,
//! and stop while the leader is silent (the follower holds its last target).

use crate::cmd::conn::ConnArgs;
use crate::cmd::teleop::FollowerArgs;
use crate::cmd::teleop_map::{JointMap, follower_positions, largest_gap, parse_pair};
use anyhow::{Context, Result, bail};
use clap::Args;
use kotoba_bus::Qos;
use kotoba_msgs::{sensor_msgs, std_msgs};
use kotoba_sim::RobotModel;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct LeaderArgs {
    /// Take follower joint FOLLOWER from leader joint LEADER (repeatable). Joints not
    /// mapped are taken from the leader joint of the same name.
    #[arg(long = "map", value_name = "LEADER=FOLLOWER", value_parser = parse_pair, conflicts_with_all = ["scripted", "keys"])]
    pub map: Vec<(String, String)>,
    /// At most this many commands per second (the newest leader state wins).
    #[arg(long, default_value_t = 100.0, value_name = "HZ", conflicts_with_all = ["scripted", "keys"])]
    pub max_rate: f64,
    /// The leader counts as gone after this long without a message (s).
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS", conflicts_with_all = ["scripted", "keys"])]
    pub stale_after: f64,
    /// Engage only once every arm joint of the leader is within this of the
    /// follower's (rad), so the follower never leaps to a distant leader; again
    /// after the leader was gone. `inf` turns the check off.
    #[arg(long, default_value_t = 0.5, value_name = "RAD", conflicts_with_all = ["scripted", "keys"])]
    pub engage_tolerance: f64,
}

pub fn run(conn: &ConnArgs, f: &FollowerArgs, l: &LeaderArgs, topic: &str) -> Result<()> {
    if !(l.max_rate > 0.0 && l.max_rate <= 1000.0) {
        bail!("--max-rate must be in (0, 1000] Hz");
    }
    if !(l.stale_after > 0.0 && l.stale_after.is_finite()) {
        bail!("--stale-after must be a positive number of seconds");
    }
    if l.engage_tolerance.is_nan() || l.engage_tolerance <= 0.0 {
        bail!("--engage-tolerance must be positive (or `inf`)");
    }
    let robot = RobotModel::default_arm();
    let map = JointMap::new(&robot, &l.map)?;
    let bus = conn.open("kotoba_teleop")?;
    let leader = bus.subscriber::<sensor_msgs::JointState>(topic, Qos::sensor_data().with_depth(100))?;
    let mut follower = bus.latest::<sensor_msgs::JointState>(&f.joint_states, Qos::sensor_data())?;
    let arm_topic = f.arm_topic();
    let arm_pub = bus.publisher::<std_msgs::Float64MultiArray>(&arm_topic, Qos::default())?;
    let grip_pub = bus.publisher::<std_msgs::Float64MultiArray>(&f.gripper_topic(), Qos::default())?;
    kotoba_recorder::install_signal_handlers();
    println!("passing {topic} through to {arm_topic} (Ctrl-C stops)");

    let period = Duration::from_secs_f64(1.0 / l.max_rate);
    let stale_after = Duration::from_secs_f64(l.stale_after);
    let start = Instant::now();
    let (mut received, mut published) = (0u64, 0u64);
    let (mut last_rx, mut last_pub): (Option<Instant>, Option<Instant>) = (None, None);
    let (mut pending, mut engaged, mut stale, mut far_warned) = (None, false, false, false);
    let mut clamp_warned = BTreeSet::new();
    loop {
        if kotoba_recorder::signalled() || f.duration.is_some_and(|d| start.elapsed().as_secs_f64() >= d) {
            break;
        }
        if let Some(mut m) = leader.recv_timeout(Duration::from_millis(2)) {
            received += 1;
            while let Some(newer) = leader.try_recv() {
                m = newer;
                received += 1;
            }
            let t = map.apply(&m).with_context(|| format!("mapping the leader's JointState on {topic}"))?;
            for j in &t.clamped {
                if clamp_warned.insert(j.clone()) {
                    tracing::warn!(joint = %j, "leader value outside the follower's URDF limits: clamped (warned once per joint)");
                }
            }
            last_rx = Some(Instant::now());
            if stale {
                tracing::info!("leader on {topic} is back");
                (stale, engaged, far_warned) = (false, false, false);
            }
            pending = Some(t);
        }
        if last_rx.is_some_and(|t| t.elapsed() > stale_after) && !stale {
            tracing::warn!(
                "no leader JointState on {topic} for {} s: not commanding; the follower holds its last target",
                l.stale_after
            );
            (stale, pending) = (true, None);
        }
        if last_pub.is_some_and(|p| p.elapsed() < period) {
            continue;
        }
        let Some(t) = pending.take() else { continue };
        if !engaged && l.engage_tolerance.is_finite() {
            let now = follower.read().and_then(|(m, _)| follower_positions(&robot, m));
            let gap = now.as_ref().and_then(|(q, _)| largest_gap(&t.arm, q));
            match gap {
                Some((_, g)) if g <= l.engage_tolerance => {}
                Some((i, g)) => {
                    if !far_warned {
                        tracing::warn!(
                            "leader and follower are {g:.2} rad apart on {}: not commanding until the leader is within {} rad (--engage-tolerance)",
                            robot.arm[i].name,
                            l.engage_tolerance
                        );
                        far_warned = true;
                    }
                    continue;
                }
                None => {
                    if !far_warned {
                        tracing::warn!("no usable follower JointState on {} yet: not commanding", f.joint_states);
                        far_warned = true;
                    }
                    continue;
                }
            }
        }
        if !engaged {
            tracing::info!("engaged: the follower follows the leader");
            engaged = true;
        }
        arm_pub.publish(&std_msgs::Float64MultiArray { data: t.arm, ..Default::default() })?;
        if let Some(g) = t.gripper {
            grip_pub.publish(&std_msgs::Float64MultiArray { data: vec![g], ..Default::default() })?;
        }
        published += 1;
        last_pub = Some(Instant::now());
    }
    println!("kotoba teleop: {received} leader messages, {published} commands published on {arm_topic}");
    Ok(())
}
