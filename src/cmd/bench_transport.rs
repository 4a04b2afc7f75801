//! `kotoba bench transport`: JointState (7 joints) publish→receive latency over
//! loopback Zenoh and in-process, and the same round trip through an independent
//! Python zenoh peer, all in one run on this machine.

use anyhow::{Context, Result, bail};
use kotoba_bus::{Bus, BusConfig, Qos};
use kotoba_core::{BenchReport, BenchRow, Better};
use kotoba_msgs::{builtin_interfaces::Time, sensor_msgs::JointState, std_msgs::Header};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn joint_state(seq: u32) -> JointState {
    let t = kotoba_msgs::time_from_nanos(now_ns());
    JointState {
        header: Header { stamp: Time { sec: t.sec, nanosec: t.nanosec }, frame_id: format!("{seq}") },
        name: (1..=7).map(|i| format!("joint_{i}")).collect(),
        position: vec![0.1; 7],
        velocity: vec![0.2; 7],
        effort: vec![0.3; 7],
    }
}

type Samples = Arc<Mutex<Vec<f64>>>;

fn push_latency(lat: &Samples, m: &JointState) {
    let us = (now_ns() - kotoba_msgs::time_to_nanos(&m.header.stamp)) as f64 / 1e3;
    lat.lock().unwrap_or_else(|p| p.into_inner()).push(us);
}

/// Sends `n` messages at 1 kHz through `publish` after discovery (publishing
/// until the first one is received) and `warmup` more; returns the latencies
/// in µs that the receiving side pushed to `lat`, after the warm-up ones.
/// `finish` waits for the receiving side to drain.
fn time_sends(
    lat: &Samples,
    n: usize,
    warmup: usize,
    mut publish: impl FnMut(&JointState) -> Result<()>,
    finish: impl FnOnce(),
) -> Result<Vec<f64>> {
    let start = Instant::now();
    while lat.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("no sample came back within 10 s");
        }
        publish(&joint_state(0))?;
        std::thread::sleep(Duration::from_millis(20));
    }
    lat.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let mut next = Instant::now();
    for i in 0..n + warmup {
        publish(&joint_state(i as u32))?;
        next += Duration::from_millis(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    finish();
    let mut v = std::mem::take(&mut *lat.lock().unwrap_or_else(|p| p.into_inner()));
    v.drain(..warmup.min(v.len()));
    Ok(v)
}

/// Latencies in µs of messages from `tx` to a queue subscriber on `rx`, read
/// by a thread blocked in `recv_timeout` (the usual way a node reads).
fn run_latency(tx: &Bus, rx: &Bus, ping: &str, pong: &str, n: usize, warmup: usize) -> Result<Vec<f64>> {
    let lat: Samples = Arc::new(Mutex::new(Vec::with_capacity(n + warmup)));
    let l = lat.clone();
    let sub = rx.subscriber::<JointState>(pong, Qos::default().with_depth(1000))?;
    let publisher = tx.publisher::<JointState>(ping, Qos::default())?;
    let collector = std::thread::spawn(move || {
        while let Some(m) = sub.recv_timeout(Duration::from_secs(3)) {
            push_latency(&l, &m);
        }
    });
    time_sends(&lat, n, warmup, |m| Ok(publisher.publish(m)?), || {
        let _ = collector.join();
    })
}

/// The same with the message handled in a [`Bus::callback`] on the transport's thread.
fn run_callback_latency(tx: &Bus, rx: &Bus, topic: &str, n: usize, warmup: usize) -> Result<Vec<f64>> {
    let lat: Samples = Arc::new(Mutex::new(Vec::with_capacity(n + warmup)));
    let l = lat.clone();
    let _cb = rx.callback::<JointState>(topic, Qos::default(), move |m| push_latency(&l, &m))?;
    let publisher = tx.publisher::<JointState>(topic, Qos::default())?;
    time_sends(&lat, n, warmup, |m| Ok(publisher.publish(m)?), || std::thread::sleep(Duration::from_millis(200)))
}

/// Zenoh itself, without kotoba or hiroz: two plain sessions in the same
/// topology (peers connected to the router) carrying the same CDR bytes on a
/// plain key, decoded in the subscriber's callback. The floor for our rows.
fn run_raw_zenoh_latency(router: &str, n: usize, warmup: usize) -> Result<Vec<f64>> {
    use zenoh::Wait;
    let open = || -> Result<zenoh::Session> {
        let mut c = zenoh::Config::default();
        let set = |c: &mut zenoh::Config, k: &str, v: String| c.insert_json5(k, &v).map_err(|e| anyhow::anyhow!("{k}: {e}"));
        set(&mut c, "mode", "\"peer\"".into())?;
        set(&mut c, "connect/endpoints", serde_json::to_string(&[router])?)?;
        set(&mut c, "listen/endpoints", "[\"tcp/127.0.0.1:0\"]".into())?;
        set(&mut c, "scouting/multicast/enabled", "false".into())?;
        zenoh::open(c).wait().map_err(|e| anyhow::anyhow!("opening a plain zenoh session: {e}"))
    };
    let (a, b) = (open()?, open()?);
    let lat: Samples = Arc::new(Mutex::new(Vec::with_capacity(n + warmup)));
    let l = lat.clone();
    let _sub = b
        .declare_subscriber("kotoba_bench/raw")
        .callback(move |s| {
            if let Ok(m) = kotoba_msgs::decode::<JointState>(&s.payload().to_bytes()) {
                push_latency(&l, &m);
            }
        })
        .wait()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let p = a.declare_publisher("kotoba_bench/raw").wait().map_err(|e| anyhow::anyhow!("{e}"))?;
    let publish = |m: &JointState| -> Result<()> {
        p.put(kotoba_msgs::encode(m)).wait().map_err(|e| anyhow::anyhow!("{e}"))
    };
    time_sends(&lat, n, warmup, publish, || std::thread::sleep(Duration::from_millis(200)))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summarize(rep: &mut BenchReport, label: &str, mut v: Vec<f64>, sent: usize, targets: Option<(f64, f64)>) {
    v.sort_by(f64::total_cmp);
    let (p50, p99) = (pct(&v, 0.5), pct(&v, 0.99));
    let mut r50 = BenchRow::new(format!("{label} p50"), p50, "us");
    let mut r99 = BenchRow::new(format!("{label} p99"), p99, "us");
    if let Some((t50, t99)) = targets {
        r50 = r50.target(t50, Better::Lower);
        r99 = r99.target(t99, Better::Lower);
    }
    rep.push(r50).push(r99);
    rep.push(BenchRow::new(format!("{label} received"), v.len() as f64, format!("of {sent}")));
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn zenoh_bus(router: &str, node: &str) -> Result<Bus> {
    let mut cfg = BusConfig::default();
    cfg.zenoh.connect = vec![router.to_string()];
    cfg.zenoh.listen = vec!["tcp/127.0.0.1:0".into()];
    Ok(Bus::open(&cfg, node)?)
}

fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() { venv } else { "python3".into() }
}

pub fn run(quick: bool) -> Result<BenchReport> {
    let n = if quick { 1000 } else { 10_000 };
    let warmup = 200;
    let mut rep = BenchReport::new("transport");
    rep.note(format!("sensor_msgs/JointState, 7 joints, {n} messages at 1 kHz after {warmup} warm-up; latency = receive time - header stamp"));
    rep.note(format!("machine: {} cores; numbers from a shared, noisy machine", std::thread::available_parallelism().map(|x| x.get()).unwrap_or(0)));

    let inproc = Bus::inproc();
    summarize(&mut rep, "in-process one-way", run_latency(&inproc, &inproc, "/bench", "/bench", n, warmup)?, n, None);

    let port = free_port()?;
    let router_ep = format!("tcp/127.0.0.1:{port}");
    let _router = kotoba_bus::start_router(std::slice::from_ref(&router_ep), None)?;
    let a = zenoh_bus(&router_ep, "bench_pub")?;
    let b = zenoh_bus(&router_ep, "bench_sub")?;
    summarize(&mut rep, "zenoh one-way", run_latency(&a, &b, "/bench", "/bench", n, warmup)?, n, Some((50.0, 200.0)));
    let mut cb = run_callback_latency(&a, &b, "/bench_cb", n, warmup)?;
    let mut raw = run_raw_zenoh_latency(&router_ep, n, warmup)?;
    cb.sort_by(f64::total_cmp);
    raw.sort_by(f64::total_cmp);
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        rep.push(
            BenchRow::new(format!("zenoh one-way, callback {label}"), pct(&cb, p), "us").peer(pct(&raw, p), Better::Lower),
        );
    }
    rep.note("peer column of the callback rows: plain zenoh sessions (no kotoba, no hiroz) in the same topology, same CDR bytes, decoded in the callback");
    rep.note("zenoh one-way rows: a thread blocked in Subscriber::recv_timeout; callback rows: Bus::callback on the transport's thread");

    // Round trip through an echo node: first kotoba's own, then the Python peer.
    let rt_n = n / 2;
    let echo = zenoh_bus(&router_ep, "bench_echo")?;
    let echo_sub = echo.subscriber::<JointState>("/rt_ping", Qos::default().with_depth(1000))?;
    let echo_pub = echo.publisher::<JointState>("/rt_pong", Qos::default())?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let echo_thread = std::thread::spawn(move || {
        while !st.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(m) = echo_sub.recv_timeout(Duration::from_millis(100)) {
                let _ = echo_pub.publish(&m);
            }
        }
    });
    let ours = run_latency(&a, &b, "/rt_ping", "/rt_pong", rt_n, warmup)?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = echo_thread.join();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort_by(f64::total_cmp);

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/zenoh_peer.py");
    let mut peer = Command::new(python())
        .arg(&script)
        .args(["echo", "--topic", "/py_ping", "--pong", "/py_pong", "--connect", &router_ep])
        .args(["--count", &(rt_n + warmup + 1000).to_string(), "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the Python zenoh peer (run scripts/setup.sh to install eclipse-zenoh)")?;
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(peer.stdout.take().context("peer stdout")?).read_line(&mut line)?;
    if !line.contains("ready") {
        let _ = peer.kill();
        bail!("the Python zenoh peer did not start (is eclipse-zenoh installed? run scripts/setup.sh)");
    }
    let theirs = run_latency(&a, &b, "/py_ping", "/py_pong", rt_n, warmup);
    let _ = peer.kill();
    let _ = peer.wait();
    let mut theirs = theirs?;
    theirs.sort_by(f64::total_cmp);
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        rep.push(
            BenchRow::new(format!("round trip via kotoba echo {label}"), pct(&ours_sorted, p), "us")
                .peer(pct(&theirs, p), Better::Lower),
        );
    }
    rep.push(BenchRow::new("round trip via Python zenoh echo received", theirs.len() as f64, format!("of {rt_n}")));
    rep.note("peer column of the round-trip rows: the same round trip echoed by the Python eclipse-zenoh peer");
    Ok(rep)
}
