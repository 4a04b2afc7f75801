//! Lockstep tests against the real MuJoCo model (short physics time: these run in CI).

use kotoba_sim::{Camera, JointReading, RobotModel, Sim, SimConfig, SimError, StepEvent};

fn sim(seed: u64) -> Sim {
    Sim::new(SimConfig::default(), RobotModel::default_arm(), seed).expect("scene builds")
}

fn joints(s: &Sim) -> JointReading {
    let mut r = JointReading::default();
    s.true_joint_state(&mut r);
    r
}

#[test]
fn position_command_moves_the_joint() {
    let mut s = sim(1);
    let mut q = s.position_target().to_vec();
    let before = joints(&s).position[0];
    q[0] += 0.3;
    s.command_positions(&q).unwrap();
    s.step_n(600);
    let after = joints(&s).position[0];
    assert!(
        (after - q[0]).abs() < 0.01,
        "pan {before} -> {after}, target {}",
        q[0]
    );
    // The other joints held.
    for i in 1..6 {
        assert!(
            (joints(&s).position[i] - q[i]).abs() < 0.01,
            "joint {i} drifted"
        );
    }
}

#[test]
fn effort_command_accelerates_the_joint_the_right_way() {
    for sign in [1.0, -1.0] {
        let mut s = sim(2);
        let mut tau = vec![0.0; 6];
        tau[0] = 40.0 * sign; // pan: vertical axis, no gravity torque
        s.command_efforts(&tau).unwrap();
        s.step_n(100);
        let v = joints(&s).velocity[0];
        assert!(v * sign > 0.05, "torque {} gave velocity {v}", tau[0]);
    }
}

#[test]
fn encoders_report_every_step_with_monotonic_stamps() {
    let mut cfg = SimConfig::default();
    cfg.encoder.position_noise = 1e-4;
    cfg.encoder.position_step = 1e-5;
    let mut s = Sim::new(cfg, RobotModel::default_arm(), 3).unwrap();
    let mut r = JointReading::default();
    let mut last = -1.0;
    for k in 0..200 {
        s.step();
        s.read_joints(&mut r);
        assert_eq!(r.position.len(), 7);
        assert!(r.time > last, "stamp went backwards at {k}");
        assert!(
            (r.time - (k + 1) as f64 * 1e-3).abs() < 1e-9,
            "1 kHz: reading {k} at {}",
            r.time
        );
        let q = r.position[1] / 1e-5;
        assert!((q - q.round()).abs() < 1e-6, "quantised");
        last = r.time;
    }
}

#[test]
fn same_seed_gives_the_same_trajectory() {
    let run = |seed| {
        let mut cfg = SimConfig::default();
        cfg.encoder.velocity_noise = 1e-3;
        let mut s = Sim::new(cfg, RobotModel::default_arm(), seed).unwrap();
        let mut q = s.position_target().to_vec();
        q[1] += 0.2;
        q[4] -= 0.3;
        s.command_positions(&q).unwrap();
        s.command_gripper(0.0).unwrap();
        let mut out = Vec::new();
        let mut r = JointReading::default();
        for _ in 0..300 {
            s.step();
            s.read_joints(&mut r);
            out.push(r.clone());
        }
        (out, s.towel_vertices().to_vec())
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0);
}

#[test]
fn bad_commands_are_rejected_and_the_arm_holds() {
    let mut s = sim(4);
    s.step_n(50);
    let hold = s.position_target().to_vec();
    let q0 = joints(&s).position;
    let e = s.command_positions(&[0.0; 5]).unwrap_err();
    assert!(matches!(e, SimError::WrongLength { got: 5, .. }), "{e}");
    let mut nan = hold.clone();
    nan[2] = f64::NAN;
    assert!(matches!(
        s.command_positions(&nan),
        Err(SimError::NotFinite { index: 2, .. })
    ));
    let mut far = hold.clone();
    far[2] = 4.0; // elbow limit is ±π
    let e = s.command_positions(&far).unwrap_err();
    assert!(e.to_string().contains("elbow_joint"), "{e}");
    assert!(matches!(
        s.command_efforts(&[0.0, 0.0, 0.0, 100.0, 0.0, 0.0]),
        Err(SimError::OutOfLimits { index: 3, .. })
    ));
    assert!(s.command_efforts(&[1.0; 7]).is_err());
    assert!(s.command_gripper(0.5).is_err());
    assert_eq!(s.position_target(), hold.as_slice());
    s.step_n(300);
    let q1 = joints(&s).position;
    for i in 0..6 {
        assert!(
            (q1[i] - q0[i]).abs() < 2e-3,
            "joint {i} moved {} -> {}",
            q0[i],
            q1[i]
        );
    }
}

#[test]
fn unstable_state_is_detected_reported_and_reset() {
    let mut s = sim(5);
    s.step_n(20);
    let t = s.time();
    s.inject_instability();
    assert!(matches!(s.step(), StepEvent::Unstable { .. }));
    assert_eq!(s.unstable_resets(), 1);
    // Still running, time still moving forward, state finite.
    assert_eq!(s.step_n(100), 0);
    assert!(s.time() > t);
    assert!(joints(&s).position.iter().all(|x| x.is_finite()));
}

#[test]
fn grasp_assist_holds_cloth_only_while_closed() {
    let mut s = sim(6);
    // Put the tool just above the towel's nearest-left corner, pointing down.
    let n = s.config().towel.count;
    let corner = s.towel_vertices()[n - 1];
    let yaw = s.episode().towel_yaw;
    let r = nalgebra::UnitQuaternion::from_axis_angle(&nalgebra::Vector3::z_axis(), yaw)
        * nalgebra::UnitQuaternion::from_axis_angle(
            &nalgebra::Vector3::x_axis(),
            std::f64::consts::PI,
        );
    let target = nalgebra::Isometry3::from_parts(
        nalgebra::Translation3::new(corner[0], corner[1], corner[2] + 0.006),
        r,
    );
    let q =
        kotoba_sim::ik::solve(s.robot(), &target, s.position_target(), Default::default()).unwrap();
    s.command_positions(&q).unwrap();
    s.step_n(800);
    s.command_gripper(0.0).unwrap();
    s.step_n(200);
    assert_eq!(s.grasped(), &[n - 1], "the corner vertex is held");
    let mut up = q.clone();
    up[1] -= 0.15; // lift the shoulder: the corner comes up with the tool
    s.command_positions(&up).unwrap();
    s.step_n(500);
    assert!(
        s.towel_vertices()[n - 1][2] > 0.05,
        "corner lifted to {}",
        s.towel_vertices()[n - 1][2]
    );
    s.command_gripper(0.04).unwrap();
    s.step_n(600);
    assert!(s.grasped().is_empty());
    assert!(s.towel_vertices()[n - 1][2] < 0.02, "corner fell back");
}

#[test]
fn camera_frame_has_the_right_size_and_changes_when_the_arm_moves() {
    let mut s = sim(7);
    let mut cam = Camera::new(&s, 128, 128).expect("EGL renderer (run scripts/setup_mujoco.sh)");
    let a = cam.capture(&s).unwrap();
    assert_eq!((a.width, a.height, a.rgb.len()), (128, 128, 128 * 128 * 3));
    let mut q = s.position_target().to_vec();
    q[0] += 0.5;
    q[1] += 0.3;
    s.command_positions(&q).unwrap();
    s.step_n(500);
    let b = cam.capture(&s).unwrap();
    let changed = a
        .rgb
        .chunks(3)
        .zip(b.rgb.chunks(3))
        .filter(|(x, y)| x != y)
        .count();
    assert!(changed > 200, "only {changed} pixels changed");
    assert!(b.time > a.time);
    let big = Camera::new(&s, 640, 480).unwrap().capture(&s).unwrap();
    assert_eq!(big.rgb.len(), 640 * 480 * 3);
}
