//! Scripted expert demonstrator. It reads the true cloth state, plans
//! reach → grasp → lift → carry → place → release in Cartesian space, solves IK on the
//! URDF chain, and drives the robot through the same position/gripper commands a
//! person's teleop sends. At each phase change it says what a person would say.
//!
//! Half folds with one parallel gripper: the moving edge is grasped at its midpoint and
//! swung over the fold line (a rigid rotation, so the cloth is never stretched); then
//! each of its corners, now on top, is pulled onto its mate ("straightening the
//! corner"). Folding a corner directly onto its mate with the far corner still down is
//! impossible without stretching the cloth (the two are a side apart, the mates a
//! diagonal apart). The corner-to-corner fold is one swing about the diagonal.

use crate::ik::{self, IkParams};
use crate::sim::Sim;
use crate::task::Task;
use nalgebra::{Isometry3, Translation3, Unit, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::f64::consts::PI;

/// Labels the expert speaks (published on `/labels`).
pub const REACH_EDGE: &str = "reaching for the edge";
pub const REACH_CORNER: &str = "reaching for the corner";
pub const HOLDING: &str = "holding the towel";
pub const FOLDING: &str = "folding";
pub const STRAIGHTENING: &str = "straightening the corner";
pub const RELEASING: &str = "releasing";
pub const DONE: &str = "done";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpertConfig {
    /// Per-episode speed factor range (durations are divided by it).
    pub speed: [f64; 2],
    /// Height above the grasp point to approach from (m).
    pub approach: f64,
    /// Tool centre point height above a grasped vertex's centre (m).
    pub grip_offset: f64,
    /// How often a command is sent (s): 100 Hz like a teleop.
    pub period: f64,
    /// Random offsets: grasp point (m), path height (fraction), tool yaw (rad).
    pub jitter_pos: f64,
    pub jitter_lift: f64,
    pub jitter_yaw: f64,
    /// After a half fold, pull each moved corner onto its mate.
    pub straighten: bool,
    /// Height of the straightening carry (m).
    pub straighten_lift: f64,
    /// The corner fold swings about an axis moved this fraction of the way
    /// from the diagonal towards the grasped corner. The shorter radius leaves
    /// the flap slack, so the diagonal's vertices stay down. About the diagonal
    /// itself (0), a few millimetres of path error in the swing drag them over
    /// with the flap, and the towel folds one row off.
    pub corner_swing_slack: f64,
}

impl Default for ExpertConfig {
    fn default() -> Self {
        Self {
            speed: [0.85, 1.15],
            approach: 0.06,
            grip_offset: 0.006,
            period: 0.01,
            jitter_pos: 0.003,
            jitter_lift: 0.15,
            jitter_yaw: 0.1,
            straighten: true,
            straighten_lift: 0.08,
            corner_swing_slack: 0.4,
        }
    }
}

/// One command tick from the expert.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub positions: Vec<f64>,
    pub gripper: f64,
    /// Spoken label at a phase change.
    pub label: Option<&'static str>,
}

#[derive(Debug, Clone)]
enum Path {
    /// Straight line with an upward bump of `lift` metres in the middle.
    Line {
        to: Vector3<f64>,
        lift: f64,
    },
    /// Rotation of the start point by π about the fold axis through `center`, blended
    /// onto `to` so it ends exactly there.
    Swing {
        center: Vector3<f64>,
        axis: Unit<Vector3<f64>>,
        to: Vector3<f64>,
    },
    Hold,
}

#[derive(Debug, Clone)]
struct Segment {
    path: Path,
    duration: f64,
    gripper: f64,
    label: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
struct Grasp {
    pick: (usize, usize),
    place: (usize, usize),
    swing: bool,
}

pub struct Expert {
    task: Task,
    cfg: ExpertConfig,
    rng: ChaCha8Rng,
    speed: f64,
    grasps: VecDeque<Grasp>,
    segments: VecDeque<Segment>,
    active: Option<(Segment, Vector3<f64>, f64)>,
    q: Vec<f64>,
    yaw: f64,
    gripper: f64,
    done: bool,
    open: f64,
    ik_failures: usize,
    /// Tool orientation at the start: the first reach turns the tool from it
    /// to the grasp orientation gradually. Jumping there in one command would
    /// swing the wrist by up to π in a tick, which a real arm's safety
    /// supervisor rejects and which no policy should learn.
    start_rot: Option<UnitQuaternion<f64>>,
}

fn min_jerk(s: f64) -> f64 {
    let s = s.clamp(0.0, 1.0);
    s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)
}

impl Expert {
    pub fn new(task: Task, cfg: ExpertConfig, sim: &Sim, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6578_7065_7274);
        let speed = rng.random_range(cfg.speed[0]..=cfg.speed[1].max(cfg.speed[0]));
        let n = sim.config().towel.count;
        let (e, mid) = (n - 1, n / 2);
        let g = |pick, place, swing| Grasp { pick, place, swing };
        let mut grasps: VecDeque<Grasp> = match task {
            // The moving edge is grasped one vertex off its midpoint, towards the near-left
            // corner: held at the midpoint, that corner is dragged along the table into a
            // pile (seen in both half folds).
            Task::LeftToRight => [
                g((mid - 1, e), (mid - 1, 0), true),
                g((0, e), (0, 0), false),
                g((e, e), (e, 0), false),
            ]
            .into(),
            Task::BottomToTop => [
                g((0, mid + 1), (e, mid + 1), true),
                g((0, 0), (e, 0), false),
                g((0, e), (e, e), false),
            ]
            .into(),
            Task::CornerToCorner => [g((0, e), (e, 0), true)].into(),
        };
        if !cfg.straighten {
            grasps.truncate(1);
        }
        // A person straightens the corners in either order.
        if grasps.len() == 3 && rng.random_bool(0.5) {
            grasps.swap(1, 2);
        }
        let mut jr = crate::JointReading::default();
        sim.true_joint_state(&mut jr);
        let q = jr.position[..sim.robot().dof()].to_vec();
        let yaw = sim.episode().towel_yaw + rng.random_range(-1.0..=1.0) * cfg.jitter_yaw;
        let open = sim.robot().gripper.upper;
        let start_rot = Some(sim.robot().fk(&q).rotation);
        Self {
            task,
            cfg,
            rng,
            speed,
            grasps,
            segments: VecDeque::new(),
            active: None,
            q,
            yaw,
            gripper: open,
            done: false,
            open,
            ik_failures: 0,
            start_rot,
        }
    }

    pub fn task(&self) -> Task {
        self.task
    }

    /// Ticks where IK did not converge (the last target was kept).
    pub fn ik_failures(&self) -> usize {
        self.ik_failures
    }

    pub fn done(&self) -> bool {
        self.done
    }

    fn dur(&mut self, base: f64) -> f64 {
        base / self.speed * self.rng.random_range(0.95..1.05)
    }

    fn tool(&self, p: Vector3<f64>) -> Isometry3<f64> {
        let r = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), self.yaw)
            * UnitQuaternion::from_axis_angle(&Vector3::x_axis(), PI);
        Isometry3::from_parts(Translation3::from(p), r)
    }

    /// Plans the next grasp from the cloth as it is now.
    fn plan(&mut self, sim: &Sim) {
        let Some(g) = self.grasps.pop_front() else {
            return;
        };
        let n = sim.config().towel.count;
        let r = sim.config().towel.radius;
        let v = sim.towel_vertices();
        let at = |(ix, iy): (usize, usize)| Vector3::from(v[ix * n + iy]);
        let jp = self.cfg.jitter_pos;
        let jitter = Vector3::new(
            self.rng.random_range(-jp..=jp),
            self.rng.random_range(-jp..=jp),
            0.0,
        );
        let pick = at(g.pick) + jitter;
        let mate = at(g.place);
        let up = Vector3::z();
        let grip = pick + up * self.cfg.grip_offset;
        // The grasped vertex ends one layer (2 r) above its mate.
        let place = mate + up * (2.0 * r + self.cfg.grip_offset + 0.002);
        let lift_j = 1.0 + self.rng.random_range(-1.0..=1.0) * self.cfg.jitter_lift;
        let reach_label = if g.swing && self.task != Task::CornerToCorner {
            REACH_EDGE
        } else {
            REACH_CORNER
        };
        let (open, closed) = (self.open, 0.0);
        let seg = |path, duration, gripper, label| Segment {
            path,
            duration,
            gripper,
            label,
        };
        let above = grip + up * self.cfg.approach;
        let mut reach = self.dur(1.2);
        if let Some(r0) = self.start_rot {
            // Slow enough that the wrist turns at most ~1.5 rad/s at the
            // min-jerk profile's peak (1.875 × the mean speed).
            reach = reach.max(1.25 * r0.angle_to(&self.tool(above).rotation));
        }
        let mut s = vec![
            seg(
                Path::Line {
                    to: above,
                    lift: 0.04 * lift_j,
                },
                reach,
                open,
                Some(reach_label),
            ),
            seg(
                Path::Line {
                    to: grip,
                    lift: 0.0,
                },
                self.dur(0.5),
                open,
                None,
            ),
            seg(Path::Hold, self.dur(0.3), closed, None),
        ];
        // Swing about the fold line when the vertex is still far from its mate (a rigid
        // rotation never stretches the cloth); a short low carry when it is close.
        // Still far from its mate (not yet folded over): swing it about the fold line;
        // otherwise lift it and lay it on its mate.
        let far = (pick - mate).norm() > 0.08;
        if g.swing || far {
            let (a, b) = self.fold_axis(sim);
            let mut axis = Unit::new_normalize(b - a);
            let t = (grip - a).dot(&axis);
            let on_axis = a + axis.into_inner() * t;
            let slack = if self.task == Task::CornerToCorner { self.cfg.corner_swing_slack } else { 0.0 };
            let center = on_axis + (grip - on_axis) * slack;
            if axis.cross(&(grip - center)).z < 0.0 {
                axis = -axis;
            }
            // Slowly: a fast swing whips the flap over and drags the crease.
            let t_swing = if g.swing { 4.4 } else { 3.5 };
            s.push(seg(Path::Hold, self.dur(0.2), closed, Some(HOLDING)));
            s.push(seg(
                Path::Swing {
                    center,
                    axis,
                    to: place + up * 0.01,
                },
                self.dur(t_swing),
                closed,
                Some(FOLDING),
            ));
        } else {
            s.push(seg(Path::Hold, self.dur(0.2), closed, Some(HOLDING)));
            // Lift the corner high enough that the folded flap hangs straight from the fold
            // line (wrinkles drop out), then lay it down on its mate.
            s.push(seg(
                Path::Line {
                    to: place + up * 0.01,
                    lift: self.cfg.straighten_lift * lift_j,
                },
                self.dur(1.5),
                closed,
                Some(STRAIGHTENING),
            ));
        }
        s.push(seg(
            Path::Line {
                to: place,
                lift: 0.0,
            },
            self.dur(0.3),
            closed,
            None,
        ));
        s.push(seg(Path::Hold, self.dur(0.3), open, Some(RELEASING)));
        s.push(seg(
            Path::Line {
                to: place + up * self.cfg.approach,
                lift: 0.0,
            },
            self.dur(0.4),
            open,
            None,
        ));
        self.segments.extend(s);
    }

    /// Two points on the fold line (vertices that stay put), at the towel's height.
    fn fold_axis(&self, sim: &Sim) -> (Vector3<f64>, Vector3<f64>) {
        let n = sim.config().towel.count;
        let v = sim.towel_vertices();
        let at = |(ix, iy): (usize, usize)| Vector3::from(v[ix * n + iy]);
        match self.task {
            Task::LeftToRight => (at((0, n / 2)), at((n - 1, n / 2))),
            Task::BottomToTop => (at((n / 2, 0)), at((n / 2, n - 1))),
            Task::CornerToCorner => (at((0, 0)), at((n - 1, n - 1))),
        }
    }

    /// The command for this tick (call every `period` seconds of sim time).
    pub fn tick(&mut self, sim: &Sim) -> Action {
        let mut label = None;
        if self
            .active
            .as_ref()
            .is_none_or(|(s, _, t0)| sim.time() - t0 >= s.duration)
        {
            if self.segments.is_empty() {
                if self.grasps.is_empty() {
                    if !self.done {
                        self.done = true;
                        label = Some(DONE);
                    }
                    return Action {
                        positions: self.q.clone(),
                        gripper: self.gripper,
                        label,
                    };
                }
                self.plan(sim);
            }
            // Start the next segment from where the tool is commanded now.
            let from = self.active.as_ref().map_or_else(
                || sim.robot().fk(&self.q).translation.vector,
                |(s, p0, _)| self.point(s, *p0, 1.0),
            );
            if self.active.is_some() {
                // The first segment is over: the tool has turned to the grasp orientation.
                self.start_rot = None;
            }
            let seg = self.segments.pop_front().expect("planned");
            label = seg.label;
            self.gripper = seg.gripper;
            self.active = Some((seg, from, sim.time()));
        }
        let (seg, p0, t0) = self.active.as_ref().expect("active");
        let s = ((sim.time() - t0) / seg.duration).clamp(0.0, 1.0);
        let p = self.point(seg, *p0, s);
        let mut target = self.tool(p);
        if let Some(r0) = self.start_rot {
            target.rotation = r0.slerp(&target.rotation, min_jerk(s));
        }
        match ik::solve(
            sim.robot(),
            &target,
            &self.q,
            IkParams {
                max_iters: 50,
                ..IkParams::default()
            },
        ) {
            Ok(q) => self.q = q,
            Err(e) => {
                self.ik_failures += 1;
                tracing::debug!(error = %e, "expert IK: keeping the last target");
            }
        }
        Action {
            positions: self.q.clone(),
            gripper: self.gripper,
            label,
        }
    }

    fn point(&self, seg: &Segment, p0: Vector3<f64>, s: f64) -> Vector3<f64> {
        let m = min_jerk(s);
        match &seg.path {
            Path::Hold => p0,
            Path::Line { to, lift } => {
                p0 + (to - p0) * m + Vector3::z() * (lift * 4.0 * m * (1.0 - m))
            }
            Path::Swing { center, axis, to } => {
                let rot = UnitQuaternion::from_axis_angle(axis, PI * m);
                let end = center + UnitQuaternion::from_axis_angle(axis, PI) * (p0 - center);
                center + rot * (p0 - center) + (to - end) * m
            }
        }
    }
}
