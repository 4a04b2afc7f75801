//! kotoba's entities on a rerun [`RecordingStream`]: the same calls serve the
//! replay of a recorded episode and the live view of a run.
//!
//! High-rate series (joint positions, commands, targets, link poses) are
//! buffered and sent as columns; images, text and diagnostics are logged row
//! by row at their stamp.

use crate::error::Result;
use crate::robot::{Robot, Shape};
use kotoba_recorder::ImageRgb8;
use rerun::{EntityPath, EntityPathPart, RecordingStream, TimeColumn};
use std::collections::{BTreeMap, HashMap};

/// Timeline: the message's receive time (the MCAP `log_time`), ns since the epoch.
pub const TL_STAMP: &str = "stamp";
/// Timeline: time since the episode's first message.
pub const TL_EPISODE_TIME: &str = "episode_time";
/// Timeline: the number of joint-state samples received so far (the 1 kHz index).
pub const TL_SAMPLE: &str = "sample";

/// Entity paths (see the README for the full list).
pub mod paths {
    pub const ROBOT: &str = "robot";
    pub const CAMERAS: &str = "cameras";
    pub const JOINTS: &str = "joints";
    pub const INSTRUCTION: &str = "language/instruction";
    pub const LABELS: &str = "language/labels";
    pub const LABEL_STATE: &str = "language/label";
    pub const PREDICTED_LABEL: &str = "language/predicted_label";
    pub const DIAGNOSTICS: &str = "diagnostics";
    pub const ATTENTION: &str = "attention";
}

/// A point on the replay's timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Receive time, ns since the Unix epoch.
    pub t_ns: i64,
    /// Joint-state samples seen so far.
    pub sample: i64,
}

#[derive(Default)]
struct Series {
    t: Vec<i64>,
    sample: Vec<i64>,
    v: Vec<f64>,
}

#[derive(Default)]
struct Poses {
    t: Vec<i64>,
    sample: Vec<i64>,
    translation: Vec<[f32; 3]>,
    rotation: Vec<[f32; 4]>,
}

/// Writes kotoba's entities to one recording.
pub struct Logger {
    rec: RecordingStream,
    start_ns: i64,
    robot: Option<Robot>,
    actuated: Vec<String>,
    q: HashMap<String, f64>,
    pose_period_ns: i64,
    last_pose_ns: Option<i64>,
    poses: Vec<Poses>,
    series: BTreeMap<EntityPath, Series>,
    buffered: usize,
    flush_rows: usize,
    image_sizes: HashMap<String, [u32; 2]>,
    predicted: Option<String>,
    rows: BTreeMap<&'static str, u64>,
}

const LINK_COLORS: [[u8; 4]; 3] = [[170, 170, 180, 255], [90, 120, 200, 255], [230, 140, 40, 255]];

/// `prefix` + the parts of a topic name: `/camera/image_raw` → `cameras/camera/image_raw`.
pub fn topic_path(prefix: &str, topic: &str) -> EntityPath {
    let mut parts = vec![EntityPathPart::new(prefix)];
    parts.extend(topic.split('/').filter(|p| !p.is_empty()).map(EntityPathPart::new));
    EntityPath::new(parts)
}

fn joint_path(joint: &str, what: &str) -> EntityPath {
    EntityPath::new(vec![EntityPathPart::new(paths::JOINTS), EntityPathPart::new(joint), EntityPathPart::new(what)])
}

fn link_path(link: &str) -> EntityPath {
    EntityPath::new(vec![EntityPathPart::new(paths::ROBOT), EntityPathPart::new(link)])
}

impl Logger {
    /// Starts logging to `rec`. Episode time counts from `start_ns`. With a
    /// robot, its geometry is logged (static) and joint states animate it,
    /// at most `robot_hz` poses per second (0 = every joint state).
    pub fn new(rec: RecordingStream, robot: Option<Robot>, start_ns: i64, robot_hz: f64) -> Result<Logger> {
        // Our own timelines only: the exporter's wall clock means nothing here.
        rec.set_log_time_enabled(false);
        rec.set_log_tick_enabled(false);
        let pose_period_ns = if robot_hz > 0.0 && robot_hz.is_finite() { (1e9 / robot_hz) as i64 } else { 0 };
        let mut lg = Logger {
            rec,
            start_ns,
            actuated: robot.as_ref().map(Robot::actuated_joints).unwrap_or_default(),
            poses: robot.as_ref().map(|r| (0..r.links().len()).map(|_| Poses::default()).collect()).unwrap_or_default(),
            robot,
            q: HashMap::new(),
            pose_period_ns,
            last_pose_ns: None,
            series: BTreeMap::new(),
            buffered: 0,
            flush_rows: 8192,
            image_sizes: HashMap::new(),
            predicted: None,
            rows: BTreeMap::new(),
        };
        lg.log_robot_static()?;
        Ok(lg)
    }

    pub fn recording(&self) -> &RecordingStream {
        &self.rec
    }

    /// Rows logged so far, per kind (`images`, `joint_states`, `labels`, ...).
    pub fn rows(&self) -> &BTreeMap<&'static str, u64> {
        &self.rows
    }

    /// The camera topics seen so far, sorted.
    pub fn cameras(&self) -> Vec<String> {
        let mut c: Vec<String> = self.image_sizes.keys().cloned().collect();
        c.sort();
        c
    }

    fn count(&mut self, kind: &'static str) {
        *self.rows.entry(kind).or_default() += 1;
    }

    fn set_time(&self, s: Stamp) {
        self.rec.set_timestamp_nanos_since_epoch(TL_STAMP, s.t_ns);
        self.rec.set_duration_secs(TL_EPISODE_TIME, (s.t_ns - self.start_ns) as f64 * 1e-9);
        self.rec.set_time_sequence(TL_SAMPLE, s.sample);
    }

    fn log_robot_static(&mut self) -> Result<()> {
        let Some(robot) = &self.robot else { return Ok(()) };
        self.rec.log_static(paths::ROBOT, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())?;
        let rest = robot.forward(&HashMap::new());
        for (i, link) in robot.links().iter().enumerate() {
            let color = LINK_COLORS[i % LINK_COLORS.len()];
            if !robot.is_moving(i) {
                self.rec.log_static(link_path(link), &transform(&rest[i]))?;
            }
            for (k, v) in robot.visuals(i).iter().enumerate() {
                let path = link_path(link).join(&EntityPath::from_single_string(format!("visual_{k}")));
                let color = v.rgba.map(|c| c.map(|x| (x.clamp(0.0, 1.0) * 255.0) as u8)).unwrap_or(color);
                let color = rerun::Color::from_unmultiplied_rgba(color[0], color[1], color[2], color[3]);
                self.rec.log_static(path.clone(), &transform(&v.origin))?;
                match &v.shape {
                    Shape::Box { size } => self.rec.log_static(
                        path,
                        &rerun::Boxes3D::from_sizes([size.map(|x| x as f32)])
                            .with_colors([color])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    Shape::Cylinder { radius, length } => self.rec.log_static(
                        path,
                        &rerun::Cylinders3D::from_lengths_and_radii([*length as f32], [*radius as f32])
                            .with_colors([color])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    Shape::Capsule { radius, length } => self.rec.log_static(
                        path,
                        &rerun::Capsules3D::from_lengths_and_radii([*length as f32], [*radius as f32]).with_colors([color]),
                    )?,
                    Shape::Sphere { radius } => self.rec.log_static(
                        path,
                        &rerun::Ellipsoids3D::from_radii([*radius as f32])
                            .with_colors([color])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    Shape::Mesh { filename } => {
                        tracing::debug!("link {link}: mesh {filename} not drawn (meshes are not resolved)");
                    }
                }
            }
        }
        Ok(())
    }

    fn push(&mut self, path: EntityPath, s: Stamp, v: f64) {
        let e = self.series.entry(path).or_default();
        e.t.push(s.t_ns);
        e.sample.push(s.sample);
        e.v.push(v);
        self.buffered += 1;
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.buffered >= self.flush_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn times(&self, t: &[i64], sample: &[i64]) -> [TimeColumn; 3] {
        [
            TimeColumn::new_timestamp_nanos_since_epoch(TL_STAMP, t.iter().copied()),
            TimeColumn::new_duration_secs(TL_EPISODE_TIME, t.iter().map(|t| (t - self.start_ns) as f64 * 1e-9)),
            TimeColumn::new_sequence(TL_SAMPLE, sample.iter().copied()),
        ]
    }

    /// Sends every buffered series row and link pose.
    pub fn flush(&mut self) -> Result<()> {
        let series = std::mem::take(&mut self.series);
        for (path, s) in series {
            if s.v.is_empty() {
                continue;
            }
            let times = self.times(&s.t, &s.sample);
            self.rec.send_columns(path, times, rerun::Scalars::new(s.v).columns_of_unit_batches()?)?;
        }
        if let Some(robot) = &self.robot {
            for (i, p) in self.poses.iter_mut().enumerate() {
                if p.t.is_empty() {
                    continue;
                }
                let p = std::mem::take(p);
                let times = [
                    TimeColumn::new_timestamp_nanos_since_epoch(TL_STAMP, p.t.iter().copied()),
                    TimeColumn::new_duration_secs(TL_EPISODE_TIME, p.t.iter().map(|t| (t - self.start_ns) as f64 * 1e-9)),
                    TimeColumn::new_sequence(TL_SAMPLE, p.sample.iter().copied()),
                ];
                let cols = rerun::Transform3D::update_fields()
                    .with_many_translation(p.translation)
                    .with_many_quaternion(p.rotation.into_iter().map(rerun::Quaternion::from_xyzw))
                    .columns_of_unit_batches()?;
                self.rec.send_columns(link_path(&robot.links()[i]), times, cols)?;
            }
        }
        self.buffered = 0;
        Ok(())
    }

    /// Flushes and waits (at most `timeout`) until the sink has everything.
    /// Returns the sink's complaint when it could not confirm that (e.g. no
    /// viewer at the `--connect` address, or one that accepts and never reads).
    ///
    /// After a complaint the stream is never dropped: rerun's gRPC client
    /// flushes again in its `Drop` with no time limit, which hangs forever on
    /// a peer that accepted the connection but does not answer. Leaking one
    /// stream (and its sender thread) is the price of returning at all.
    pub fn finish(&mut self, timeout: std::time::Duration) -> Result<Option<String>> {
        self.flush()?;
        let err = self.rec.flush_with_timeout(timeout).err().map(|e| e.to_string());
        if err.is_some() {
            std::mem::forget(self.rec.clone());
        }
        Ok(err)
    }

    /// Measured joint positions (`sensor_msgs/JointState`): one series per
    /// joint, and the robot's pose.
    pub fn joint_state(&mut self, s: Stamp, names: &[String], positions: &[f64]) -> Result<()> {
        for (n, &p) in names.iter().zip(positions) {
            self.push(joint_path(n, "position"), s, p);
            self.q.insert(n.clone(), p);
        }
        self.count("joint_states");
        let due = self.last_pose_ns.is_none_or(|l| s.t_ns - l >= self.pose_period_ns);
        if let (Some(robot), true) = (&self.robot, due) {
            self.last_pose_ns = Some(s.t_ns);
            let pose = robot.forward(&self.q);
            for (i, p) in pose.iter().enumerate() {
                if !robot.is_moving(i) {
                    continue;
                }
                let c = &mut self.poses[i];
                c.t.push(s.t_ns);
                c.sample.push(s.sample);
                let t = p.translation.vector;
                c.translation.push([t.x as f32, t.y as f32, t.z as f32]);
                let q = p.rotation.coords;
                c.rotation.push([q.x as f32, q.y as f32, q.z as f32, q.w as f32]);
                self.buffered += 1;
            }
            self.count("robot_poses");
        }
        self.maybe_flush()
    }

    /// Commanded positions (`std_msgs/Float64MultiArray`, the robot's
    /// actuated joints in URDF order: the arm, then the gripper).
    pub fn commands(&mut self, s: Stamp, values: &[f64]) -> Result<()> {
        for (i, &v) in values.iter().enumerate() {
            let name = self.actuated.get(i).cloned().unwrap_or_else(|| format!("command_{i}"));
            self.push(joint_path(&name, "command"), s, v);
        }
        self.count("commands");
        self.maybe_flush()
    }

    /// The policy's predicted next joint targets.
    pub fn targets(&mut self, s: Stamp, names: &[String], positions: &[f64]) -> Result<()> {
        for (i, &p) in positions.iter().enumerate() {
            let name = names.get(i).cloned().unwrap_or_else(|| self.actuated.get(i).cloned().unwrap_or(format!("target_{i}")));
            self.push(joint_path(&name, "target"), s, p);
        }
        self.count("targets");
        self.maybe_flush()
    }

    /// A camera frame, on `cameras/<topic>`.
    pub fn image(&mut self, s: Stamp, topic: &str, img: ImageRgb8) -> Result<()> {
        self.set_time(s);
        let size = [img.width, img.height];
        self.image_sizes.insert(topic.to_string(), size);
        self.rec.log(topic_path(paths::CAMERAS, topic), &rerun::Image::from_rgb24(img.data, size))?;
        self.count("images");
        Ok(())
    }

    /// Attention points `[x0, y0, x1, y1, ...]` in normalised image
    /// coordinates (0..1), drawn on the camera `topic` (needs a frame of it first).
    pub fn attention(&mut self, s: Stamp, topic: &str, xy: &[f64]) -> Result<bool> {
        let Some([w, h]) = self.image_sizes.get(topic).copied() else { return Ok(false) };
        let pts: Vec<[f32; 2]> = xy.chunks_exact(2).map(|p| [(p[0] * w as f64) as f32, (p[1] * h as f64) as f32]).collect();
        self.set_time(s);
        let path = topic_path(paths::CAMERAS, topic).join(&EntityPath::from_single_string(paths::ATTENTION));
        self.rec.log(
            path,
            &rerun::Points2D::new(pts)
                .with_radii([(w.max(h) as f32 / 100.0).max(2.0)])
                .with_colors([rerun::Color::from_rgb(255, 40, 40)]),
        )?;
        self.count("attention");
        Ok(true)
    }

    /// The instruction (as told to the policy).
    pub fn instruction(&mut self, s: Stamp, text: &str) -> Result<()> {
        self.set_time(s);
        self.rec.log(paths::INSTRUCTION, &rerun::TextLog::new(text).with_level(rerun::TextLogLevel::INFO))?;
        self.count("instruction");
        Ok(())
    }

    /// A verbal label (an empty text clears the active label).
    pub fn label(&mut self, s: Stamp, text: &str) -> Result<()> {
        self.set_time(s);
        let shown = if text.is_empty() { "(label cleared)" } else { text };
        self.rec.log(paths::LABELS, &rerun::TextLog::new(shown).with_level(rerun::TextLogLevel::INFO))?;
        self.rec.log(paths::LABEL_STATE, &rerun::StateChange::single(text))?;
        self.count("labels");
        Ok(())
    }

    /// The policy's predicted label; logged when it changes.
    pub fn predicted_label(&mut self, s: Stamp, text: &str) -> Result<()> {
        if self.predicted.as_deref() == Some(text) {
            return Ok(());
        }
        self.predicted = Some(text.to_string());
        self.set_time(s);
        self.rec.log(paths::PREDICTED_LABEL, &rerun::StateChange::single(text))?;
        self.count("predicted_labels");
        Ok(())
    }

    /// One diagnostic status (`diagnostic_msgs/DiagnosticStatus` level: 0 OK,
    /// 1 WARN, 2 ERROR, 3 STALE).
    pub fn diagnostic(&mut self, s: Stamp, level: u8, text: &str) -> Result<()> {
        let level = match level {
            0 => rerun::TextLogLevel::INFO,
            1 => rerun::TextLogLevel::WARN,
            2 => rerun::TextLogLevel::ERROR,
            _ => rerun::TextLogLevel::DEBUG,
        };
        self.set_time(s);
        self.rec.log(paths::DIAGNOSTICS, &rerun::TextLog::new(text).with_level(level))?;
        self.count("diagnostics");
        Ok(())
    }

    /// A free-form note at a time (e.g. "recording truncated here").
    pub fn note(&mut self, s: Stamp, level: &'static str, text: &str) -> Result<()> {
        self.set_time(s);
        self.rec.log(paths::DIAGNOSTICS, &rerun::TextLog::new(text).with_level(level))?;
        Ok(())
    }
}

fn transform(p: &nalgebra::Isometry3<f64>) -> rerun::Transform3D {
    let t = p.translation.vector;
    let q = p.rotation.coords;
    rerun::Transform3D::from_translation_rotation(
        [t.x as f32, t.y as f32, t.z as f32],
        rerun::Quaternion::from_xyzw([q.x as f32, q.y as f32, q.z as f32, q.w as f32]),
    )
}
