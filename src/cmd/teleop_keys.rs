//! `kotoba teleop --keys`: keyboard end-effector jogging in a terminal (raw mode
//! through termios, so it works over SSH). The follower's joint states give the
//! start pose and the hold pose; [`Jogger`] turns keys into joint targets, which
//! are published at a fixed rate while the follower's state is fresh.

use crate::cmd::conn::ConnArgs;
use crate::cmd::teleop::FollowerArgs;
use crate::cmd::teleop_jog::{Effect, Jogger, KEY_HELP, decode_keys};
use crate::cmd::teleop_map::follower_positions;
use anyhow::{Context, Result, bail};
use clap::Args;
use kotoba_bus::Qos;
use kotoba_msgs::{sensor_msgs, std_msgs};
use kotoba_sim::RobotModel;
use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct KeysArgs {
    /// Tool translation per key press (m).
    #[arg(long, default_value_t = 0.005, value_name = "M", conflicts_with_all = ["scripted", "leader"])]
    pub step: f64,
    /// Tool yaw per key press (rad).
    #[arg(long, default_value_t = 0.05, value_name = "RAD", conflicts_with_all = ["scripted", "leader"])]
    pub yaw_step: f64,
    /// Command rate (Hz): the current joint target is published this often.
    #[arg(long, default_value_t = 50.0, value_name = "HZ", conflicts_with_all = ["scripted", "leader"])]
    pub rate: f64,
    /// Preset labels for keys 1-9, published on /labels (repeatable; default: the
    /// scripted demonstrator's phrases).
    #[arg(long = "label", value_name = "TEXT", conflicts_with_all = ["scripted", "leader"])]
    pub labels: Vec<String>,
}

/// The follower's state counts as lost after this long without a JointState.
const STALE: Duration = Duration::from_millis(500);

/// The terminal in raw mode (no echo, no line buffering, non-blocking reads;
/// output processing kept so `\n` still returns the carriage); restored on drop.
struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    fn enable() -> std::io::Result<Self> {
        // SAFETY: termios is plain data; tcgetattr fills it for fd 0, checked below.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let saved = t;
        // SAFETY: `t` is a valid termios obtained above.
        unsafe { libc::cfmakeraw(&mut t) };
        t.c_oflag |= libc::OPOST;
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enable`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

fn default_labels() -> Vec<String> {
    use kotoba_sim::expert::*;
    [REACH_EDGE, REACH_CORNER, HOLDING, FOLDING, STRAIGHTENING, RELEASING, DONE].map(String::from).to_vec()
}

pub fn run(conn: &ConnArgs, f: &FollowerArgs, k: &KeysArgs) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("--keys reads key presses from a terminal, but stdin is not one (run it in an interactive shell; over SSH use `ssh -t`)");
    }
    if !(k.step > 0.0 && k.step <= 0.1) || !(k.yaw_step > 0.0 && k.yaw_step <= 0.5) {
        bail!("--step must be in (0, 0.1] m and --yaw-step in (0, 0.5] rad");
    }
    if !(k.rate > 0.0 && k.rate <= 1000.0) {
        bail!("--rate must be in (0, 1000] Hz");
    }
    let labels = if k.labels.is_empty() { default_labels() } else { k.labels.clone() };
    if labels.len() > 9 {
        bail!("at most 9 --label presets (keys 1-9), got {}", labels.len());
    }
    let robot = RobotModel::default_arm();
    let bus = conn.open("kotoba_teleop")?;
    let mut joints = bus.latest::<sensor_msgs::JointState>(&f.joint_states, Qos::sensor_data())?;
    let arm_pub = bus.publisher::<std_msgs::Float64MultiArray>(&f.arm_topic(), Qos::default())?;
    let grip_pub = bus.publisher::<std_msgs::Float64MultiArray>(&f.gripper_topic(), Qos::default())?;
    let label_pub = bus.publisher::<std_msgs::String>("/labels", Qos::default())?;
    kotoba_recorder::install_signal_handlers();

    println!("waiting for the follower's joint states on {} ...", f.joint_states);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (q0, g0) = loop {
        if let Some((m, _)) = joints.read() {
            break follower_positions(&robot, m).with_context(|| {
                format!("{} lacks some of the arm's joints {:?} (it has {:?})", f.joint_states, robot.joint_names(), m.name)
            })?;
        }
        if kotoba_recorder::signalled() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no sensor_msgs/JointState on {} within 10 s: is the robot or `kotoba sim` running and connected?", f.joint_states);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let open = g0.is_none_or(|g| g > 0.5 * (robot.gripper.lower + robot.gripper.upper));
    let mut jog = Jogger::new(robot.clone(), &q0, open, k.step, k.yaw_step);
    let presets: Vec<String> = labels.iter().enumerate().map(|(i, l)| format!("{}={l}", i + 1)).collect();

    let raw = RawTerminal::enable().context("putting the terminal in raw mode")?;
    let mut out = std::io::stdout();
    write!(out, "{KEY_HELP}\nlabels: {}\n", presets.join("  "))?;
    let period = Duration::from_secs_f64(1.0 / k.rate);
    let (start, mut next) = (Instant::now(), Instant::now());
    let (mut last_state, mut q_now, mut was_stale) = (Instant::now(), q0, false);
    let (mut sent, mut note, mut last_grip, mut last_status) = (0u64, String::from("ready"), None, Instant::now());
    let mut shown = String::new();
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 64];
    'run: loop {
        if kotoba_recorder::signalled() || f.duration.is_some_and(|d| start.elapsed().as_secs_f64() >= d) {
            break;
        }
        if let Some((m, true)) = joints.read()
            && let Some((q, _)) = follower_positions(&robot, m)
        {
            q_now = q;
            last_state = Instant::now();
        }
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e).context("reading keys"),
        };
        for key in decode_keys(&buf[..n]) {
            match jog.handle(key, &q_now) {
                Ok(Effect::Quit) => break 'run,
                Ok(Effect::Label(i)) => match labels.get(i) {
                    Some(l) => {
                        label_pub.publish(&std_msgs::String { data: l.clone() })?;
                        note = format!("label: {l}");
                    }
                    None => note = format!("no label preset for key {}", i + 1),
                },
                Ok(Effect::Gripper { open }) => note = format!("gripper {}", if open { "open" } else { "closed" }),
                Ok(Effect::Held) => note = "hold".into(),
                Ok(Effect::Moved | Effect::Ignored) => {}
                Err(refused) => note = refused.to_string(),
            }
        }
        let stale = last_state.elapsed() > STALE;
        if stale {
            was_stale = true;
        } else {
            if was_stale {
                // The arm may have moved meanwhile: resume from where it is.
                jog.hold(&q_now);
                was_stale = false;
                note = "joint states back: holding".into();
            }
            arm_pub.publish(&std_msgs::Float64MultiArray { data: jog.q.clone(), ..Default::default() })?;
            if last_grip != Some(jog.gripper_open) || sent % 10 == 0 {
                grip_pub.publish(&std_msgs::Float64MultiArray { data: vec![jog.gripper()], ..Default::default() })?;
                last_grip = Some(jog.gripper_open);
            }
            sent += 1;
        }
        if last_status.elapsed() > Duration::from_millis(100) {
            last_status = Instant::now();
            let p = jog.target.translation.vector;
            let (_, _, yaw) = jog.target.rotation.euler_angles();
            let state = if stale { "NO JOINT STATES: not commanding" } else { note.as_str() };
            let grip = if jog.gripper_open { "open" } else { "closed" };
            let line = format!(
                "tool target x {:+.3} y {:+.3} z {:+.3} m, yaw {yaw:+.2} rad, gripper {grip} | {state}",
                p.x, p.y, p.z
            );
            if line != shown {
                // Redrawn only when it changes: light over SSH.
                write!(out, "\r\x1b[2K{line}")?;
                out.flush()?;
                shown = line;
            }
        }
        next += period;
        match next.checked_duration_since(Instant::now()) {
            Some(d) => std::thread::sleep(d),
            None => next = Instant::now(),
        }
    }
    drop(raw);
    println!("\nkotoba teleop: {sent} commands published on {}", f.arm_topic());
    Ok(())
}
