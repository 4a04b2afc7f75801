//! `kotoba teleop --leader` against `kotoba sim` through a router: a leader's
//! JointState (published here through kotoba_bus) moves the simulated follower;
//! a distant leader is not followed; a silent leader stops the commands. And the
//! clear refusals: `--keys` without a terminal, a leader missing a joint.
#![cfg(feature = "sim")]

mod common;
use common::{Kill, kotoba, router, sim};
use kotoba_bus::{Bus, BusConfig, Qos};
use kotoba_msgs::sensor_msgs::JointState;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn bus(ep: &str) -> Bus {
    let mut cfg = BusConfig { namespace: "/".into(), ..Default::default() };
    cfg.zenoh.connect = vec![ep.to_string()];
    Bus::open(&cfg, "teleop_test").unwrap()
}

fn leader_state(names: &[String], q: &[f64]) -> JointState {
    JointState { name: names.to_vec(), position: q.to_vec(), ..Default::default() }
}

/// Publishes `q` as the leader at 100 Hz for `secs`, returning the follower's
/// last JointState.
fn drive(bus: &Bus, names: &[String], q: &[f64], secs: f64, follower: &mut kotoba_bus::Latest<JointState>) -> JointState {
    let leader = bus.publisher::<JointState>("/leader/joint_states", Qos::default()).unwrap();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        leader.publish(&leader_state(names, q)).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    follower.read().unwrap().0.clone()
}

fn gap(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn leader_pass_through_moves_the_simulated_follower() {
    let (_router, ep) = router();
    let _sim = sim(&ep, &["--camera-rate", "0", "--duration", "120"]);
    let teleop = kotoba()
        .args(["teleop", "--leader", "/leader/joint_states", "--duration", "90", "--connect", &ep])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bus = bus(&ep);
    let mut follower = bus.latest::<JointState>("/joint_states", Qos::sensor_data()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some((m, _)) = follower.read() {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "no /joint_states from kotoba sim");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(first.name.len(), 7, "{:?}", first.name);
    let names = first.name.clone();
    let q0 = first.position[..6].to_vec();

    // A leader far from the follower (1 rad on the pan joint) is not followed.
    let mut far = q0.clone();
    far[0] += 1.0;
    far.push(0.04);
    let now = drive(&bus, &names, &far, 1.5, &mut follower);
    assert!(gap(&now.position[..6], &q0) < 0.03, "followed a distant leader: {:?} from {q0:?}", now.position);

    // A leader near it: the follower converges on the leader's pose and gripper.
    let deltas = [0.15, -0.1, 0.12, -0.1, 0.1, 0.15];
    let mut target: Vec<f64> = q0.iter().zip(deltas).map(|(q, d)| q + d).collect();
    target.push(0.01);
    let start = gap(&first.position, &target);
    let mut now = drive(&bus, &names, &target, 1.0, &mut follower);
    for _ in 0..8 {
        if gap(&now.position[..6], &target[..6]) < 0.02 {
            break;
        }
        now = drive(&bus, &names, &target, 0.5, &mut follower);
    }
    let end = gap(&now.position[..6], &target[..6]);
    assert!(start >= 0.1 && end < 0.02, "follower {:?} vs leader {target:?}: max gap {start:.3} -> {end:.3} rad", now.position);
    assert!((now.position[6] - 0.01).abs() < 0.005, "gripper at {} m, leader 0.01", now.position[6]);

    // Silence: the follower holds the last target.
    std::thread::sleep(Duration::from_secs(1));
    let held = follower.read().unwrap().0.clone();
    assert!(gap(&held.position[..6], &target[..6]) < 0.02, "{:?}", held.position);

    // SIGINT stops teleop cleanly with its summary.
    unsafe { libc::kill(teleop.id() as i32, libc::SIGINT) };
    let out = teleop.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("apart on shoulder_pan_joint: not commanding"), "{stderr}");
    assert!(stderr.contains("engaged"), "{stderr}");
    assert!(stderr.contains("not commanding; the follower holds its last target"), "{stderr}");
    let summary = stdout.lines().find(|l| l.starts_with("kotoba teleop:")).unwrap_or_else(|| panic!("{stdout}"));
    let published: u64 = summary.split(" commands published").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(published > 50, "{summary}");
}

#[test]
fn a_leader_missing_a_follower_joint_is_a_clear_error() {
    let (_router, ep) = router();
    let mut teleop = Kill(
        kotoba()
            .args(["teleop", "--leader", "/leader2", "--duration", "30", "--connect", &ep])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let bus = bus(&ep);
    let leader = bus.publisher::<JointState>("/leader2", Qos::default()).unwrap();
    let names: Vec<String> = ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint"]
        .map(String::from)
        .to_vec();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        leader.publish(&leader_state(&names, &[0.0; 5])).unwrap();
        if let Some(s) = teleop.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "teleop kept running on a leader without wrist_3_joint");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(teleop.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("follower joint `wrist_3_joint` has no source") && stderr.contains("--map LEADER=wrist_3_joint"), "{stderr}");
}

#[test]
fn keys_refuses_without_a_terminal_and_help_explains_the_modes() {
    let out = kotoba().args(["teleop", "--keys", "--backend", "inproc"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin is not one"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kotoba().args(["teleop", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for s in ["--scripted", "--keys", "--leader <TOPIC>", "--map <LEADER=FOLLOWER>", "w/s +x/-x", "--stale-after"] {
        assert!(help.contains(s), "{s} missing from:\n{help}");
    }
    let out = kotoba().args(["teleop", "--keys", "--map", "a=b"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

/// Writes `keys` to the terminal teleop reads, as a person typing.
fn type_keys(master: &std::os::fd::OwnedFd, keys: &[u8]) {
    use std::os::fd::AsRawFd;
    for k in keys {
        // SAFETY: writes one byte from a live buffer to an open fd.
        assert_eq!(unsafe { libc::write(master.as_raw_fd(), (k as *const u8).cast(), 1) }, 1);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keys_jog_the_simulated_tool_through_a_terminal() {
    use kotoba_msgs::std_msgs;
    use std::os::fd::{FromRawFd, OwnedFd};
    let (_router, ep) = router();
    let _sim = sim(&ep, &["--camera-rate", "0", "--duration", "120"]);
    // A pseudo-terminal stands in for the operator's (SSH) terminal.
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty fills two fds, owned below.
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    let bus = bus(&ep);
    let mut follower = bus.latest::<JointState>("/joint_states", Qos::sensor_data()).unwrap();
    let commands = bus.subscriber::<std_msgs::Float64MultiArray>("/position_controller/commands", Qos::default()).unwrap();
    let labels = bus.subscriber::<std_msgs::String>("/labels", Qos::default()).unwrap();
    let mut teleop = Kill(
        kotoba()
            .args(["teleop", "--keys", "--step", "0.01", "--duration", "90", "--connect", &ep])
            .stdin(Stdio::from(slave))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Commands flow once teleop has the arm's pose and the terminal in raw mode.
    assert!(commands.recv_timeout(Duration::from_secs(30)).is_some(), "teleop published no command");
    let robot = kotoba_sim::RobotModel::default_arm();
    // Teleop has seen the arm, but this test's own subscriber may not have yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    let q0 = loop {
        match follower.read() {
            Some((m, _)) => break m.position[..6].to_vec(),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            None => panic!("no /joint_states from the simulator"),
        }
    };
    let p0 = robot.fk(&q0).translation.vector;
    type_keys(&master, b"rrrrrwwg3");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (moved, grip) = loop {
        let m = follower.read().unwrap().0.clone();
        let moved = robot.fk(&m.position[..6]).translation.vector - p0;
        let done = (moved.z - 0.05).abs() < 0.003 && (moved.x - 0.02).abs() < 0.003 && m.position[6] < 0.003;
        if done || Instant::now() > deadline {
            break (moved, m.position[6]);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!((moved - kotoba_sim::nalgebra::Vector3::new(0.02, 0.0, 0.05)).norm() < 0.004, "tool moved {moved:?}, keys asked (0.02, 0, 0.05)");
    assert!(grip < 0.003, "gripper at {grip} m after g");
    let label = labels.recv_timeout(Duration::from_secs(5)).expect("key 3 published no label");
    assert_eq!(label.data, "holding the towel");
    // Esc quits cleanly (and restores the terminal).
    type_keys(&master, b"\x1b");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = teleop.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "Esc did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
}
