//! `kotoba topic`: list, echo, publish and measure ROS 2 topics, like `ros2 topic`.

use crate::cmd::conn::{ConnArgs, QosArgs};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use kotoba_bus::{AttachmentInfo, Bus, TopicSpec};
use kotoba_msgs::TypeEntry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum TopicCmd {
    /// List the topics on the graph with their types and endpoint counts.
    List(ListArgs),
    /// Print the messages of a topic (YAML documents, or one JSON object per line).
    Echo(EchoArgs),
    /// Publish a message given as YAML or JSON; fields left out take their defaults.
    Pub(PubArgs),
    /// Measure the publishing rate of a topic.
    Hz(HzArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Also print the message type of each topic.
    #[arg(short = 't', long)]
    pub show_types: bool,
    /// Seconds to wait for discovery before printing.
    #[arg(long, default_value_t = 1.0)]
    pub wait: f64,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args)]
pub struct EchoArgs {
    /// Topic name, e.g. /joint_states.
    pub topic: String,
    /// Message type (e.g. sensor_msgs/msg/JointState); discovered from the graph if omitted.
    #[arg(long = "type", value_name = "TYPE")]
    pub ty: Option<String>,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this many seconds (0 = never).
    #[arg(long, default_value_t = 0.0)]
    pub timeout: f64,
    /// One JSON object per line, with the receive time and attachment.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub qos: QosArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args)]
pub struct PubArgs {
    /// Topic name.
    pub topic: String,
    /// Message type, e.g. sensor_msgs/msg/JointState.
    #[arg(value_name = "TYPE")]
    pub ty: String,
    /// The message as YAML or JSON, e.g. '{name: [j1], position: [0.5]}'.
    #[arg(default_value = "{}")]
    pub values: String,
    /// Publishing rate in Hz.
    #[arg(short, long, default_value_t = 1.0)]
    pub rate: f64,
    /// Publish once and exit.
    #[arg(short = '1', long)]
    pub once: bool,
    /// Publish this many times and exit.
    #[arg(short, long)]
    pub times: Option<u64>,
    /// Wait for this many subscribers before the first message (as `ros2 topic pub -w`).
    #[arg(short = 'w', long, default_value_t = 0)]
    pub wait_matching: usize,
    /// Give up waiting for subscribers after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub wait_timeout: f64,
    #[command(flatten)]
    pub qos: QosArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args)]
pub struct HzArgs {
    /// Topic name.
    pub topic: String,
    /// Message type; discovered from the graph if omitted.
    #[arg(long = "type", value_name = "TYPE")]
    pub ty: Option<String>,
    /// Number of recent messages the statistics are computed over.
    #[arg(short, long, default_value_t = 10_000)]
    pub window: usize,
    /// Exit after this many seconds (0 = never).
    #[arg(long, default_value_t = 0.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub qos: QosArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub fn run(c: TopicCmd) -> Result<()> {
    match c {
        TopicCmd::List(a) => list(a),
        TopicCmd::Echo(a) => echo(a),
        TopicCmd::Pub(a) => publish(a),
        TopicCmd::Hz(a) => hz(a),
    }
}

fn list(a: ListArgs) -> Result<()> {
    let bus = a.conn.open("kotoba_topic_list")?;
    std::thread::sleep(Duration::from_secs_f64(a.wait.max(0.0)));
    for t in bus.topics() {
        if a.show_types {
            println!("{} [{}] ({} pub, {} sub)", t.topic, t.ros_type, t.publishers, t.subscribers);
        } else {
            println!("{}", t.topic);
        }
    }
    Ok(())
}

fn lookup_type(name: &str) -> Result<&'static TypeEntry> {
    kotoba_msgs::lookup(name).ok_or_else(|| {
        let known: Vec<_> = kotoba_msgs::registry().iter().map(|e| e.ros_name).collect();
        anyhow!("unknown message type {name:?}; supported: {}", known.join(", "))
    })
}

/// The topic's type from `--type`, else from the graph (waiting up to 3 s).
fn resolve_type(bus: &Bus, topic: &str, ty: Option<&str>) -> Result<&'static TypeEntry> {
    if let Some(t) = ty {
        return lookup_type(t);
    }
    let topic = kotoba_bus::qualify(topic)?;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let types: Vec<_> = bus.topics().into_iter().filter(|t| t.topic == topic).map(|t| t.ros_type).collect();
        if let Some(t) = types.first() {
            if types.iter().any(|x| x != t) {
                bail!("{topic} carries several types ({}); pick one with --type", types.join(", "));
            }
            return lookup_type(t);
        }
        if Instant::now() > deadline {
            bail!("no publisher of {topic} found on the graph; give its type with --type");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Subscribes to raw samples, counting and dropping what a typed subscriber would.
fn subscribe_checked(
    bus: &Bus,
    spec: &TopicSpec,
    entry: &'static TypeEntry,
    on_msg: impl Fn(serde_json::Value, AttachmentInfo) + Send + Sync + 'static,
) -> Result<Box<dyn kotoba_bus::SubscriptionGuard>> {
    let counters = bus.topic_counters(&spec.topic)?;
    let topic = spec.topic.clone();
    let c = counters.clone();
    let guard = bus.raw_subscriber(
        spec,
        Box::new(move |s: kotoba_bus::RawSample<'_>| {
            c.received.fetch_add(1, Ordering::Relaxed);
            if !s.type_matches {
                c.wrong_type.fetch_add(1, Ordering::Relaxed);
                c.warn_limited(&topic, format_args!("sample of another type than {} dropped", entry.ros_name));
                return;
            }
            if !matches!(s.attachment, AttachmentInfo::Valid { .. }) {
                c.missing_attachment.fetch_add(1, Ordering::Relaxed);
                c.warn_limited(&topic, format_args!("sample without a valid rmw_zenoh attachment dropped"));
                return;
            }
            match (entry.to_json)(s.payload) {
                Ok(v) => {
                    c.delivered.fetch_add(1, Ordering::Relaxed);
                    on_msg(v, s.attachment)
                }
                Err(e) => {
                    c.malformed.fetch_add(1, Ordering::Relaxed);
                    c.warn_limited(&topic, format_args!("{e}"));
                }
            }
        }),
    )?;
    Ok(guard)
}

fn deadline(timeout: f64) -> Option<Instant> {
    (timeout > 0.0).then(|| Instant::now() + Duration::from_secs_f64(timeout))
}

fn echo(a: EchoArgs) -> Result<()> {
    let bus = a.conn.open("kotoba_topic_echo")?;
    let entry = resolve_type(&bus, &a.topic, a.ty.as_deref())?;
    let spec = TopicSpec::dynamic(&a.topic, entry, a.qos.qos())?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<(serde_json::Value, AttachmentInfo)>(1024);
    let _guard = subscribe_checked(&bus, &spec, entry, move |v, att| {
        let _ = tx.try_send((v, att));
    })?;
    let end = deadline(a.timeout);
    let mut n = 0u64;
    while a.count.is_none_or(|c| n < c) {
        let wait = end.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        if wait.is_zero() {
            break;
        }
        let Ok((v, att)) = rx.recv_timeout(wait.min(Duration::from_millis(200))) else { continue };
        n += 1;
        if a.json {
            let att = match att {
                AttachmentInfo::Valid { sequence, source_ns, gid } => serde_json::json!({
                    "sequence": sequence, "source_ns": source_ns, "gid": hex(&gid)
                }),
                _ => serde_json::Value::Null,
            };
            let line = serde_json::json!({"topic": spec.topic, "type": entry.ros_name, "attachment": att, "msg": v});
            println!("{line}");
        } else {
            println!("{}---", serde_yaml::to_string(&v)?);
        }
    }
    let s = bus.stats().get(&spec.topic).copied().unwrap_or_default();
    if s.malformed + s.wrong_type + s.missing_attachment > 0 {
        eprintln!(
            "{}: {} received, {} malformed, {} of another type, {} without attachment",
            spec.topic, s.received, s.malformed, s.wrong_type, s.missing_attachment
        );
    }
    if a.count.is_some_and(|c| n < c) {
        bail!("timed out after {n} of {} messages", a.count.unwrap_or(0));
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn publish(a: PubArgs) -> Result<()> {
    let entry = lookup_type(&a.ty)?;
    let value: serde_json::Value =
        serde_yaml::from_str(&a.values).with_context(|| format!("could not parse {:?} as YAML/JSON", a.values))?;
    let cdr = (entry.from_json)(value).map_err(|e| anyhow!(e))?;
    if !(a.rate > 0.0 && a.rate.is_finite()) {
        bail!("--rate must be a positive number of Hz");
    }
    let bus = a.conn.open("kotoba_topic_pub")?;
    let spec = TopicSpec::dynamic(&a.topic, entry, a.qos.qos())?;
    let publisher = bus.raw_publisher(&spec)?;
    if a.wait_matching > 0 {
        let end = Instant::now() + Duration::from_secs_f64(a.wait_timeout);
        while subscribers(&bus, &spec.topic) < a.wait_matching {
            if Instant::now() > end {
                bail!("no {} subscriber(s) of {} within {} s", a.wait_matching, spec.topic, a.wait_timeout);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Discovery (liveliness) can run ahead of the data-path subscription.
        std::thread::sleep(Duration::from_millis(100));
    }
    let times = if a.once { Some(1) } else { a.times };
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let mut next = Instant::now();
    let mut n = 0u64;
    while times.is_none_or(|t| n < t) {
        publisher.publish(&cdr)?;
        n += 1;
        eprintln!("publishing #{n}: {} on {}", entry.ros_name, spec.topic);
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // Give a reliable sample time to leave the process before the session closes.
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

fn subscribers(bus: &Bus, topic: &str) -> usize {
    bus.topics().iter().filter(|t| t.topic == topic).map(|t| t.subscribers).sum()
}

fn hz(a: HzArgs) -> Result<()> {
    let bus = a.conn.open("kotoba_topic_hz")?;
    let entry = resolve_type(&bus, &a.topic, a.ty.as_deref())?;
    let spec = TopicSpec::dynamic(&a.topic, entry, a.qos.qos())?;
    let stamps = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::<Instant>::new()));
    let s = stamps.clone();
    let window = a.window.max(2);
    let _guard = subscribe_checked(&bus, &spec, entry, move |_, _| {
        let mut q = s.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= window {
            q.pop_front();
        }
        q.push_back(Instant::now());
    })?;
    let end = deadline(a.timeout);
    while end.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_secs(1));
        let q = stamps.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match rate_stats(&q) {
            Some(r) => println!(
                "average rate: {:.3}\n\tmin: {:.6}s max: {:.6}s std dev: {:.6}s window: {}",
                r.rate, r.min, r.max, r.std, q.len()
            ),
            None => println!("no new messages"),
        }
    }
    Ok(())
}

pub struct RateStats {
    pub rate: f64,
    pub min: f64,
    pub max: f64,
    pub std: f64,
}

/// Statistics of the intervals between arrival times, as `ros2 topic hz` prints them.
pub fn rate_stats(t: &std::collections::VecDeque<Instant>) -> Option<RateStats> {
    if t.len() < 2 {
        return None;
    }
    let d: Vec<f64> = t.iter().zip(t.iter().skip(1)).map(|(a, b)| (*b - *a).as_secs_f64()).collect();
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64;
    Some(RateStats {
        rate: if mean > 0.0 { 1.0 / mean } else { f64::INFINITY },
        min: d.iter().cloned().fold(f64::INFINITY, f64::min),
        max: d.iter().cloned().fold(0.0, f64::max),
        std: var.sqrt(),
    })
}
