//! `kotoba run`: the trained policy and the supervised active-inference
//! controller against any robot that speaks the topics (the MuJoCo sim of
//! `kotoba sim`, or a real arm through ros2_control-style command topics).
//!
//! Three threads, no locks between them: the 1 kHz real-time loop (its own
//! thread, SCHED_FIFO when permitted) owns the supervisor; an I/O thread feeds
//! it the newest encoder sample through a triple buffer and publishes every
//! command and event it pushes into its rings; the policy runs on the main
//! thread at its training rate and hands each target over through another
//! triple buffer.

use crate::controllers::{self, ControllerKind};
use crate::cmd::conn::ConnArgs;
use crate::policy_msgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use kotoba_bus::{Bus, Qos};
use kotoba_controller::rt::{self, RtConfig};
use kotoba_controller::{
    ARM_JOINTS, EncoderSample, JVec, JointController, JointLimits, Mode, Supervisor, SupervisorConfig, TargetChunk,
};
use kotoba_core::{Clock, SystemClock};
use kotoba_dpl::Observation;
use kotoba_msgs::{sensor_msgs, std_msgs};
use kotoba_replay::LiveEvent;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct RunArgs {
    /// Policy folder from `kotoba train --dataset` or `kotoba demo` (best/, kotoba.json, embeddings.json).
    pub policy: PathBuf,
    /// Instruction to start with (a taught one); later ones arrive on /instruction.
    #[arg(long)]
    pub instruction: Option<String>,
    #[arg(long, value_enum, default_value = "aic")]
    pub controller: ControllerKind,
    /// Robot description for limits and gravity (default: urdf/kotoba_arm.urdf, built in).
    #[arg(long)]
    pub urdf: Option<PathBuf>,
    /// Effort commands go to /<NAME>/commands.
    #[arg(long, default_value = "effort_controller")]
    pub effort_controller: String,
    /// Gripper opening goes to /<NAME>/commands.
    #[arg(long, default_value = "gripper_controller")]
    pub gripper_controller: String,
    /// Online error-regression steps per policy tick (0 = off; each costs CPU time at the policy rate).
    #[arg(long, default_value_t = 0)]
    pub regression_iters: usize,
    /// EIPL `input_param` for the joints: the weight of the measured joints
    /// against the policy's own previous prediction (1 = measured only; 0 = the
    /// model runs on its own joint predictions, steered by the image). Default:
    /// as for the image, 0.8.
    #[arg(long)]
    pub joint_input_param: Option<f32>,
    /// EIPL `input_param` for the image (and the joints unless
    /// --joint-input-param is given): the weight of the camera frame against the
    /// model's own predicted frame (1 = camera only). Default 0.8, as EIPL.
    #[arg(long)]
    pub input_param: Option<f32>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Keep the normal scheduler (no SCHED_FIFO, no memory locking).
    #[arg(long)]
    pub no_rt: bool,
    /// Wake this many microseconds before each 1 kHz deadline and busy-wait the
    /// rest: steadier ticks for that share of a CPU (check with `kotoba bench rt
    /// --spin-us N`). 0 = plain sleeps.
    #[arg(long, default_value_t = 0, value_name = "US")]
    pub spin_us: u64,
    /// Move the gripper only once every arm joint reads within this many
    /// radians of the policy's subgoal (read early in the phase); the policy
    /// waits meanwhile, at most 10 ticks. Needs a policy with a subgoal head.
    #[arg(long, value_name = "RAD")]
    pub settle: Option<f32>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub view: crate::cmd::view::ViewArgs,
}

pub fn run(a: RunArgs) -> Result<()> {
    let urdf = match &a.urdf {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        None => kotoba_replay::DEFAULT_URDF.to_string(),
    };
    match a.controller {
        ControllerKind::Aic => serve(a, &urdf, controllers::aic(&urdf)?),
        ControllerKind::Pd => serve(a, &urdf, controllers::pd(&urdf)?),
    }
}

fn serve<C: JointController<6> + 'static>(a: RunArgs, urdf: &str, controller: C) -> Result<()> {
    let (mut policy, manifest, cache) = crate::bundle::load_policy(&a.policy, a.regression_iters, crate::bundle::InputParams { image: a.input_param, joints: a.joint_input_param })?;
    if let Some(tolerance) = a.settle {
        policy = crate::bundle::settled(policy, &a.policy, &manifest, crate::bundle::Settle { tolerance, ..Default::default() })?;
    }
    let spec = policy.spec().clone();
    if spec.joints != ARM_JOINTS.len() + 1 {
        bail!("the policy drives {} joints; this controller runs 6 arm joints + a gripper", spec.joints);
    }
    let embed = |text: &str| manifest.instruction(&cache, text);
    let mut instruction = a.instruction.clone().unwrap_or_else(|| manifest.instructions[0].clone());
    let mut instr_vec = embed(&instruction)?;
    let period = 1.0 / spec.rate_hz;

    let bus = Bus::open(&a.conn.bus_config(), "kotoba_run")?;
    let mut joints = bus.latest::<sensor_msgs::JointState>(&manifest.sample.joint_states, Qos::sensor_data())?;
    let mut image = bus.latest::<sensor_msgs::Image>(&manifest.sample.image, Qos::sensor_data())?;
    let instr_sub = bus.subscriber::<std_msgs::String>("/instruction", Qos::latched())?;
    let effort_pub = bus.publisher::<std_msgs::Float64MultiArray>(&format!("/{}/commands", a.effort_controller), Qos::default())?;
    let grip_pub = bus.publisher::<std_msgs::Float64MultiArray>(&format!("/{}/commands", a.gripper_controller), Qos::default())?;
    let targets_pub = bus.publisher(policy_msgs::TARGETS, Qos::default())?;
    let label_pub = bus.publisher(policy_msgs::LABEL, Qos::default())?;
    let att_pub = bus.publisher(policy_msgs::ATTENTION, Qos::default())?;
    let subgoal_pub = bus.publisher(policy_msgs::SUBGOAL, Qos::default())?;
    let diag_pub = bus.publisher(policy_msgs::DIAGNOSTICS, Qos::default())?;

    let limits = JointLimits::<6>::from_urdf_str(urdf, Some(&ARM_JOINTS))?;
    let sup = Supervisor::new(SupervisorConfig { dt: 0.001, policy_period: period, ..Default::default() }, limits, controller);
    let rt = RtConfig { spin_ns: a.spin_us * 1000, ..RtConfig::default() };
    let rt_cfg = if a.no_rt { RtConfig { priority: 0, lock_memory: false, ..rt } } else { rt };
    let (core, mut ports) = rt::channel(sup, &rt_cfg);
    let clock = SystemClock;
    // The live view's thread, and every event sent to it, stay off the RT thread.
    let view = a.view.start("kotoba run", urdf, std::slice::from_ref(&manifest.sample.image), clock.now().as_nanos())?;
    let live = view.as_ref().map(|v| v.sender());
    let handle = rt::spawn(core, clock, &rt_cfg)?;

    // I/O thread: encoders in, commands and events out.
    let stop = Arc::new(AtomicBool::new(false));
    let (published, tracking) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let names: Vec<String> = manifest.sample.arm_joints.clone();
    let io = {
        let (stop, published, tracking) = (stop.clone(), published.clone(), tracking.clone());
        let mut joints_io = bus.latest::<sensor_msgs::JointState>(&manifest.sample.joint_states, Qos::sensor_data())?;
        let mut enc = ports.encoder;
        let (mut commands, mut events) = (ports.commands, ports.events);
        let live = live.clone();
        let live_names: Arc<[String]> = names.iter().cloned().collect();
        std::thread::Builder::new().name("kotoba-run-io".into()).spawn(move || {
            // The viewer gets joints and commands at up to 100 Hz, every event.
            let (mut shown_js, mut shown_cmd) = (0i64, 0i64);
            let mut msg = std_msgs::Float64MultiArray { data: vec![0.0; 6], ..Default::default() };
            // Each event goes to /diagnostics; the console gets each kind at most once a second.
            let mut logged: std::collections::HashMap<kotoba_controller::EventKind, Instant> = Default::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some((js, true)) = joints_io.read()
                    && let Some((q, qd)) = arm_state(js, &names)
                {
                    let stamp = clock.now();
                    enc.write(Some(EncoderSample { stamp, q, qd }));
                    if let Some(l) = live.as_ref().filter(|_| stamp.as_nanos() - shown_js >= 10_000_000) {
                        shown_js = stamp.as_nanos();
                        l.send(LiveEvent::JointState { t_ns: shown_js, names: live_names.clone(), positions: q.as_slice().to_vec() });
                    }
                }
                while let Ok(cmd) = commands.pop() {
                    if cmd.mode == Mode::Tracking {
                        tracking.fetch_add(1, Ordering::Relaxed);
                    }
                    msg.data.copy_from_slice(cmd.effort.as_slice());
                    if let Some(l) = live.as_ref().filter(|_| cmd.stamp.as_nanos() - shown_cmd >= 10_000_000) {
                        shown_cmd = cmd.stamp.as_nanos();
                        l.send(LiveEvent::Commands { t_ns: shown_cmd, values: msg.data.clone() });
                    }
                    if effort_pub.publish(&msg).is_ok() {
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                }
                while let Ok(e) = events.pop() {
                    if logged.get(&e.kind).is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        logged.insert(e.kind, Instant::now());
                        tracing::warn!(event = ?e.kind, joint = ?e.joint, value = e.value, "{}", e.kind.reason());
                    }
                    let t_ns = clock.now().as_nanos();
                    let diag = policy_msgs::event(&e, t_ns);
                    if let (Some(l), Some(s)) = (&live, diag.status.first()) {
                        l.send(LiveEvent::Diagnostic { t_ns, level: s.level, text: format!("{:?}: {}", e.kind, s.message) });
                    }
                    let _ = diag_pub.publish(&diag);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })?
    };

    kotoba_recorder::install_signal_handlers();
    let start = Instant::now();
    let (mut ticks, mut next) = (0u64, Instant::now());
    let mut gripper_cmd = manifest.gripper.open;
    let mut warned_size = false;
    let all_names: Vec<String> = manifest.sample.arm_joints.iter().cloned().chain(["gripper".to_string()]).collect();
    let live_targets: Arc<[String]> = all_names.iter().cloned().collect();
    if let Some(l) = &live {
        l.send(LiveEvent::Instruction { t_ns: clock.now().as_nanos(), text: instruction.clone() });
    }
    eprintln!("kotoba run: policy at {} Hz, instruction {instruction:?}; waiting for {} and {}", spec.rate_hz, manifest.sample.joint_states, manifest.sample.image);
    while !kotoba_recorder::signalled() && a.duration.is_none_or(|d| start.elapsed().as_secs_f64() < d) {
        while let Some(m) = instr_sub.try_recv() {
            match embed(m.data.trim()) {
                Ok(v) => {
                    instruction = m.data.trim().to_string();
                    instr_vec = v;
                    policy.reset();
                    if let Some(l) = &live {
                        l.send(LiveEvent::Instruction { t_ns: clock.now().as_nanos(), text: instruction.clone() });
                    }
                    eprintln!("instruction: {instruction:?}");
                }
                Err(e) => tracing::warn!("ignoring instruction: {e:#}"),
            }
        }
        let js = joints.read().and_then(|(js, _)| arm_state(js, &manifest.sample.arm_joints));
        let img = image.read().map(|(m, _)| kotoba_recorder::to_rgb8(m));
        if let (Some((q, _)), Some(Ok(img))) = (js, img) {
            if !warned_size {
                warned_size = true;
                if let Some(w) = manifest.frame_size_warning(img.width, img.height) {
                    tracing::warn!("{w}");
                }
            }
            let rgb = kotoba_dpl::prep::resize_rgb(&img.data, img.height as usize, img.width as usize, spec.image_height, spec.image_width);
            let mut obs_joints: Vec<f32> = q.iter().map(|&v| v as f32).collect();
            obs_joints.push(gripper_cmd);
            let now = clock.now();
            let obs = Observation { stamp: now, image: &rgb, joints: &obs_joints, instruction: &instr_vec, label: None };
            let out = policy.step(&obs)?;
            let t = out.chunk.target(0);
            let q_next = JVec::<6>::from_fn(|i, _| f64::from(t[i]));
            ports.target.write(Some(TargetChunk::single(now.add(Duration::from_secs_f64(period)), q_next)));
            gripper_cmd = manifest.gripper.command(t[6]);
            grip_pub.publish(&std_msgs::Float64MultiArray { data: vec![f64::from(gripper_cmd)], ..Default::default() })?;
            let label = spec.label_names.get(out.label).cloned().unwrap_or_default();
            let (jt, l, att) = policy_msgs::prediction(&all_names, t, &label, &out.attention, now.as_nanos(), period);
            if let Some(live) = &live {
                // The same values as the published messages.
                let t_ns = now.as_nanos();
                let topic = manifest.sample.image.clone();
                let positions = jt.points.first().map(|p| p.positions.clone()).unwrap_or_default();
                live.send(LiveEvent::Targets { t_ns, names: live_targets.clone(), positions });
                live.send(LiveEvent::PredictedLabel { t_ns, text: l.data.clone() });
                live.send(LiveEvent::Attention { t_ns, topic: topic.clone(), xy: att.data.clone() });
                live.send(LiveEvent::Image { t_ns, topic, image: img });
            }
            targets_pub.publish(&jt)?;
            label_pub.publish(&l)?;
            att_pub.publish(&att)?;
            if let Some(g) = &out.subgoal {
                subgoal_pub.publish(&policy_msgs::subgoal(&all_names, g, now.as_nanos()))?;
            }
            ticks += 1;
        }
        next += Duration::from_secs_f64(period);
        match next.checked_duration_since(Instant::now()) {
            Some(d) => std::thread::sleep(d),
            None => next = Instant::now(), // the policy overran its period: skip, don't burst
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = io.join();
    let core = handle.stop().map_err(|_| anyhow::anyhow!("the control thread panicked"))?;
    let m = core.metrics();
    let w = m.snapshot().wakeup_latency;
    println!(
        "control loop wake-up latency: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        w.quantile(0.5) / 1000,
        w.quantile(0.99) / 1000,
        w.quantile(0.999) / 1000,
        w.max / 1000
    );
    println!(
        "kotoba run: {ticks} policy ticks, {} control ticks ({} tracking), {} effort commands published, {} deadline misses",
        m.ticks.load(Ordering::Relaxed),
        tracking.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
        m.deadline_misses.load(Ordering::Relaxed)
    );
    crate::cmd::view::finish(view)
}

/// Arm positions (and velocities when sent) in controller order.
fn arm_state(js: &sensor_msgs::JointState, names: &[String]) -> Option<(JVec<6>, Option<JVec<6>>)> {
    let idx: Vec<usize> = names.iter().map(|n| js.name.iter().position(|m| m == n)).collect::<Option<_>>()?;
    if idx.len() != 6 || idx.iter().any(|&i| i >= js.position.len()) {
        return None;
    }
    let q = JVec::<6>::from_fn(|k, _| js.position[idx[k]]);
    let qd = (js.velocity.len() == js.position.len()).then(|| JVec::<6>::from_fn(|k, _| js.velocity[idx[k]]));
    Some((q, qd))
}
