//! `--view*` options shared by `kotoba run` and `kotoba record`: stream what
//! the node sees and does to rerun from a non-real-time thread, with the same
//! entities as `kotoba replay`.

use anyhow::Result;
use clap::Args;
use kotoba_replay::{LiveView, Robot, Target};
use std::path::PathBuf;

#[derive(Args, Default)]
#[command(group = clap::ArgGroup::new("live_view").args(["view", "view_rrd", "view_connect"]))]
pub struct ViewArgs {
    /// Show the run live in a new rerun viewer (`rerun` on the PATH).
    #[arg(long)]
    pub view: bool,
    /// Stream the run to this .rrd file (open it later with `rerun FILE`).
    #[arg(long, value_name = "FILE")]
    pub view_rrd: Option<PathBuf>,
    /// Stream the run to a running viewer: HOST:PORT or rerun+http://HOST:PORT/proxy.
    #[arg(long, value_name = "ADDR")]
    pub view_connect: Option<String>,
}

impl ViewArgs {
    fn target(&self) -> Option<Target> {
        match (&self.view_rrd, &self.view_connect) {
            (Some(p), _) => Some(Target::Rrd(p.clone())),
            (None, Some(a)) => Some(Target::Connect(a.clone())),
            (None, None) => self.view.then_some(Target::Spawn),
        }
    }

    /// Starts the live view when one was asked for. Events beyond `capacity`
    /// queued are dropped (and counted), never waited for.
    pub fn start(&self, name: &str, urdf: &str, cameras: &[String], start_ns: i64) -> Result<Option<LiveView>> {
        let Some(target) = self.target() else { return Ok(None) };
        let rec = kotoba_replay::open_stream(&target, name)?;
        let robot = Robot::from_urdf_str(urdf)?;
        Ok(Some(LiveView::start(rec, Some(robot), start_ns, cameras, 4096)?))
    }
}

/// Prints what a live view delivered, then flushes and closes it.
pub fn finish(view: Option<LiveView>) -> Result<()> {
    if let Some(v) = view {
        let s = v.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let (sent, dropped) = (load(&s.sent), load(&s.dropped));
        v.close()?;
        println!("live view: {sent} events sent, {dropped} dropped (viewer behind)");
    }
    Ok(())
}

/// `sensor_msgs/msg/<name>` (or `sensor_msgs/<name>`).
fn is_sensor_type(ros_type: &str, name: &str) -> bool {
    ros_type.starts_with("sensor_msgs/") && ros_type.rsplit('/').next() == Some(name)
}

/// The recorded image topics: the cameras the viewer lays out.
pub fn camera_topics(cfg: &kotoba_recorder::RecordConfig) -> Vec<String> {
    cfg.topics.iter().filter(|t| is_sensor_type(&t.ros_type, "Image")).map(|t| t.topic.clone()).collect()
}

/// What `kotoba record` shows live: every recorded topic the viewer knows how
/// to draw (joint states, images, labels, instruction), through its own
/// subscriptions and thread, so the recorder's write path is untouched.
pub struct TopicView {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TopicView {
    pub fn spawn(bus: &kotoba_bus::Bus, cfg: &kotoba_recorder::RecordConfig, live: kotoba_replay::LiveSender) -> Result<Self> {
        use kotoba_bus::Qos;
        use kotoba_msgs::{sensor_msgs, std_msgs, time_to_nanos};
        use kotoba_replay::LiveEvent;
        let mut joints = Vec::new();
        for t in cfg.topics.iter().filter(|t| is_sensor_type(&t.ros_type, "JointState")) {
            joints.push(bus.subscriber::<sensor_msgs::JointState>(&t.topic, Qos::sensor_data())?);
        }
        let mut images = Vec::new();
        for topic in camera_topics(cfg) {
            let sub = bus.subscriber::<sensor_msgs::Image>(&topic, Qos::sensor_data())?;
            images.push((topic, sub));
        }
        let labels = bus.subscriber::<std_msgs::String>(&cfg.labels_topic, Qos::default())?;
        let instruction = bus.subscriber::<std_msgs::String>(&cfg.instruction_topic, Qos::latched())?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new().name("kotoba-record-view".into()).spawn(move || {
            let now = || kotoba_core::Clock::now(&kotoba_core::SystemClock).as_nanos();
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                for sub in &joints {
                    while let Some(js) = sub.try_recv() {
                        let t_ns = time_to_nanos(&js.header.stamp);
                        live.send(LiveEvent::JointState { t_ns, names: js.name.into(), positions: js.position });
                    }
                }
                for (topic, sub) in &images {
                    while let Some(m) = sub.try_recv() {
                        if let Ok(image) = kotoba_recorder::to_rgb8(&m) {
                            live.send(LiveEvent::Image { t_ns: time_to_nanos(&m.header.stamp), topic: topic.clone(), image });
                        }
                    }
                }
                while let Some(l) = labels.try_recv() {
                    live.send(LiveEvent::Label { t_ns: now(), text: l.data });
                }
                while let Some(i) = instruction.try_recv() {
                    live.send(LiveEvent::Instruction { t_ns: now(), text: i.data });
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for TopicView {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
