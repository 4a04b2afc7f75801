//! Keyboard end-effector jogging, without a terminal or a transport: bytes from a
//! terminal → [`Key`]s → [`Action`]s → a Cartesian target for the tool, solved to
//! joint targets by the sim crate's IK. `teleop_keys` wires it to stdin and topics.

use kotoba_sim::RobotModel;
use kotoba_sim::ik::{self, IkParams};
use kotoba_sim::nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};

/// The key bindings, for the help line.
pub const KEY_HELP: &str = "[w/s] +x/-x  [a/d] +y/-y  [r/f] +z/-z  [q/e] yaw +/-  [g] gripper  \
                            [space] hold  [1-9] label  [Esc/Ctrl-C] quit";

/// One key press as read from a terminal in raw mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Esc,
    CtrlC,
    Up,
    Down,
    Left,
    Right,
}

/// Splits what a raw-mode terminal sent into keys. Arrow keys arrive as
/// `ESC [ A`..`ESC [ D` (or `ESC O A`); other escape sequences are dropped; a
/// lone ESC is the Esc key.
pub fn decode_keys(bytes: &[u8]) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            0x03 => keys.push(Key::CtrlC),
            0x1b if matches!(bytes.get(i), Some(b'[') | Some(b'O')) => {
                // A control sequence: parameters, then one final byte in 0x40..=0x7e.
                i += 1;
                while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b'A') => keys.push(Key::Up),
                    Some(b'B') => keys.push(Key::Down),
                    Some(b'C') => keys.push(Key::Right),
                    Some(b'D') => keys.push(Key::Left),
                    _ => {}
                }
                i += 1;
            }
            0x1b => keys.push(Key::Esc),
            b if b.is_ascii_graphic() || b == b' ' => keys.push(Key::Char(b as char)),
            _ => {}
        }
    }
    keys
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Move the tool target by this much (m, world frame).
    Move(Vector3<f64>),
    /// Turn the tool target about the world z axis (rad).
    Yaw(f64),
    ToggleGripper,
    /// Stop: the target becomes where the arm is now.
    Hold,
    /// Publish preset label `n` (0-based).
    Label(usize),
    Quit,
}

/// The binding of each key (arrows alias w/s/a/d; upper case = lower case).
pub fn key_action(key: Key, step: f64, yaw_step: f64) -> Option<Action> {
    let mv = |x, y, z| Some(Action::Move(Vector3::new(x, y, z) * step));
    match key {
        Key::Esc | Key::CtrlC => Some(Action::Quit),
        Key::Up => mv(1.0, 0.0, 0.0),
        Key::Down => mv(-1.0, 0.0, 0.0),
        Key::Left => mv(0.0, 1.0, 0.0),
        Key::Right => mv(0.0, -1.0, 0.0),
        Key::Char(c) => match c.to_ascii_lowercase() {
            'w' => mv(1.0, 0.0, 0.0),
            's' => mv(-1.0, 0.0, 0.0),
            'a' => mv(0.0, 1.0, 0.0),
            'd' => mv(0.0, -1.0, 0.0),
            'r' => mv(0.0, 0.0, 1.0),
            'f' => mv(0.0, 0.0, -1.0),
            'q' => Some(Action::Yaw(yaw_step)),
            'e' => Some(Action::Yaw(-yaw_step)),
            'g' => Some(Action::ToggleGripper),
            ' ' => Some(Action::Hold),
            '1'..='9' => Some(Action::Label(c as usize - '1' as usize)),
            _ => None,
        },
    }
}

/// What handling a key did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    Moved,
    Gripper { open: bool },
    Held,
    Label(usize),
    Quit,
    /// The key has no binding.
    Ignored,
}

/// Why a step was refused; the target stays where it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// IK found no solution within the joint limits.
    Unreachable(String),
    /// The solution swings a joint by more than the allowed step (a singularity
    /// or another IK branch).
    Jump { joint: String, delta: f64 },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Unreachable(why) => write!(f, "unreachable ({why})"),
            Refused::Jump { joint, delta } => {
                write!(f, "refused: {joint} would jump {delta:.2} rad (near a singularity?)")
            }
        }
    }
}

/// The jogging state: the tool's target pose, its joint solution, the gripper.
pub struct Jogger {
    robot: RobotModel,
    /// Tool target in the world frame.
    pub target: Isometry3<f64>,
    /// Arm joint targets (IK solution of `target`), in the robot's arm order.
    pub q: Vec<f64>,
    pub gripper_open: bool,
    /// Largest joint change one key press may cause (rad).
    pub max_joint_step: f64,
    pub step: f64,
    pub yaw_step: f64,
}

impl Jogger {
    /// Starts holding the arm where it is (`q_now`, arm order).
    pub fn new(robot: RobotModel, q_now: &[f64], gripper_open: bool, step: f64, yaw_step: f64) -> Self {
        let target = robot.fk(q_now);
        Jogger { robot, target, q: q_now.to_vec(), gripper_open, max_joint_step: 0.5, step, yaw_step }
    }

    /// The gripper command (finger opening, m).
    pub fn gripper(&self) -> f64 {
        let g = &self.robot.gripper;
        if self.gripper_open { g.upper } else { g.lower }
    }

    /// Handles one key; `q_measured` is where the arm is now (for hold).
    pub fn handle(&mut self, key: Key, q_measured: &[f64]) -> Result<Effect, Refused> {
        let Some(action) = key_action(key, self.step, self.yaw_step) else { return Ok(Effect::Ignored) };
        match action {
            Action::Move(d) => self.go(Translation3::from(d) * self.target).map(|_| Effect::Moved),
            Action::Yaw(a) => {
                // About the world z axis through the tool point.
                let r = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), a);
                let t = Isometry3::from_parts(self.target.translation, r * self.target.rotation);
                self.go(t).map(|_| Effect::Moved)
            }
            Action::ToggleGripper => {
                self.gripper_open = !self.gripper_open;
                Ok(Effect::Gripper { open: self.gripper_open })
            }
            Action::Hold => {
                self.hold(q_measured);
                Ok(Effect::Held)
            }
            Action::Label(n) => Ok(Effect::Label(n)),
            Action::Quit => Ok(Effect::Quit),
        }
    }

    /// Stops: the targets become the measured arm `q_measured`.
    pub fn hold(&mut self, q_measured: &[f64]) {
        self.q = q_measured.to_vec();
        self.target = self.robot.fk(q_measured);
    }

    /// Solves for `target` from the current joint targets; keeps both on refusal.
    fn go(&mut self, target: Isometry3<f64>) -> Result<(), Refused> {
        let q = ik::solve(&self.robot, &target, &self.q, IkParams::default())
            .map_err(|e| Refused::Unreachable(e.to_string()))?;
        if let Some((i, d)) = q
            .iter()
            .zip(&self.q)
            .map(|(a, b)| (a - b).abs())
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, d)| *d > self.max_joint_step)
        {
            return Err(Refused::Jump { joint: self.robot.arm[i].name.clone(), delta: d });
        }
        self.q = q;
        self.target = target;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kotoba_sim::HOME;

    fn jogger() -> Jogger {
        Jogger::new(RobotModel::default_arm(), &HOME, true, 0.01, 0.05)
    }

    #[test]
    fn bytes_decode_to_keys() {
        assert_eq!(decode_keys(b"wq \x03"), [Key::Char('w'), Key::Char('q'), Key::Char(' '), Key::CtrlC]);
        assert_eq!(decode_keys(b"\x1b[A\x1bOD\x1b[1;5C\x1b"), [Key::Up, Key::Left, Key::Right, Key::Esc]);
        assert_eq!(decode_keys(b"\x1b[3~x\r"), [Key::Char('x')]);
    }

    #[test]
    fn each_move_key_moves_the_fk_tool_pose_by_one_step() {
        let r = RobotModel::default_arm();
        for (key, d) in [('w', [1.0, 0.0, 0.0]), ('s', [-1.0, 0.0, 0.0]), ('a', [0.0, 1.0, 0.0]), ('d', [0.0, -1.0, 0.0]), ('r', [0.0, 0.0, 1.0]), ('f', [0.0, 0.0, -1.0])] {
            let mut j = jogger();
            let before = r.fk(&j.q);
            for _ in 0..3 {
                assert_eq!(j.handle(Key::Char(key), &HOME), Ok(Effect::Moved));
            }
            let after = r.fk(&j.q);
            let want = Vector3::from(d) * 0.03;
            let moved = after.translation.vector - before.translation.vector;
            assert!((moved - want).norm() < 1e-3, "{key}: moved {moved:?}, wanted {want:?}");
            assert!(after.rotation.angle_to(&before.rotation) < 2e-3, "{key}: the tool turned");
        }
    }

    #[test]
    fn yaw_keys_turn_the_tool_about_world_z_in_place() {
        let r = RobotModel::default_arm();
        let mut j = jogger();
        let before = r.fk(&j.q);
        j.handle(Key::Char('q'), &HOME).unwrap();
        j.handle(Key::Char('Q'), &HOME).unwrap();
        let after = r.fk(&j.q);
        assert!((after.translation.vector - before.translation.vector).norm() < 1e-3);
        let turn = after.rotation * before.rotation.inverse();
        assert!((turn.scaled_axis() - Vector3::new(0.0, 0.0, 0.1)).norm() < 2e-3, "{:?}", turn.scaled_axis());
        j.handle(Key::Char('e'), &HOME).unwrap();
        let back = r.fk(&j.q).rotation * before.rotation.inverse();
        assert!((back.scaled_axis().z - 0.05).abs() < 2e-3);
    }

    #[test]
    fn gripper_hold_labels_and_quit() {
        let mut j = jogger();
        assert_eq!(j.gripper(), 0.04);
        assert_eq!(j.handle(Key::Char('g'), &HOME), Ok(Effect::Gripper { open: false }));
        assert_eq!(j.gripper(), 0.0);
        j.handle(Key::Char('w'), &HOME).unwrap();
        assert_ne!(j.q, HOME);
        // Hold: the target snaps back to the measured arm.
        assert_eq!(j.handle(Key::Char(' '), &HOME), Ok(Effect::Held));
        assert_eq!(j.q, HOME);
        assert_eq!(j.handle(Key::Char('3'), &HOME), Ok(Effect::Label(2)));
        assert_eq!(j.handle(Key::Char('z'), &HOME), Ok(Effect::Ignored));
        for k in decode_keys(b"\x1b\x03") {
            assert_eq!(j.handle(k, &HOME), Ok(Effect::Quit));
        }
    }

    #[test]
    fn an_unreachable_target_is_refused_and_the_target_kept() {
        let mut j = jogger();
        j.step = 5.0; // 5 m up: out of reach.
        let (q, t) = (j.q.clone(), j.target);
        let e = j.handle(Key::Char('r'), &HOME).unwrap_err();
        assert!(matches!(e, Refused::Unreachable(_) | Refused::Jump { .. }), "{e}");
        assert_eq!(j.q, q);
        assert_eq!(j.target, t);
    }
}
