//! A synthetic robot on the bus: cameras, a 1 kHz joint state, labels and an
//! instruction, published from threads at fixed rates. Used by `kotoba bench
//! recorder` and by drills/tests of `kotoba record` where no robot or
//! simulator runs.

use kotoba_bus::{Bus, BusError, Publisher};
use kotoba_core::Clock;
use kotoba_msgs::{Qos, ZBuf, sensor_msgs, std_msgs, time_from_nanos};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the synthetic robot publishes.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Camera topics (`sensor_msgs/Image`, rgb8).
    pub cameras: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub joint_hz: f64,
    pub joints: usize,
    /// One label every this many seconds (0 = none).
    pub label_period_s: f64,
    pub instruction: String,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            cameras: vec!["/camera/image_raw".into()],
            width: 64,
            height: 48,
            fps: 30.0,
            joint_hz: 100.0,
            joints: 7,
            label_period_s: 1.0,
            instruction: "fold the towel in half".into(),
        }
    }
}

/// Running publishers; dropped or [`stop`](Self::stop)ped to end them.
pub struct SyntheticRobot {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Messages published per topic.
    pub published: Vec<(String, Arc<AtomicU64>)>,
    _instruction: Publisher<std_msgs::String>,
}

const LABELS: [&str; 4] = ["reaching for the corner", "grasping the corner", "folding now", "releasing"];

impl SyntheticRobot {
    pub fn spawn(bus: &Bus, spec: &SyntheticSpec, clock: Arc<dyn Clock>) -> Result<Self, BusError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut published = Vec::new();
        let instruction = bus.publisher::<std_msgs::String>("/instruction", Qos::latched())?;
        instruction.publish(&std_msgs::String { data: spec.instruction.clone() })?;
        for (ci, topic) in spec.cameras.iter().enumerate() {
            let p = bus.publisher::<sensor_msgs::Image>(topic, Qos::sensor_data())?;
            let n = Arc::new(AtomicU64::new(0));
            published.push((p.topic().to_string(), n.clone()));
            let (w, h) = (spec.width, spec.height);
            let (stop, clock) = (stop.clone(), clock.clone());
            threads.push(periodic(spec.fps, stop, move |k| {
                let img = sensor_msgs::Image {
                    header: kotoba_msgs::std_msgs::Header { stamp: time_from_nanos(clock.now().as_nanos()), frame_id: format!("camera{ci}") },
                    height: h,
                    width: w,
                    encoding: "rgb8".into(),
                    is_bigendian: 0,
                    step: w * 3,
                    data: ZBuf::from(frame(w, h, k, ci)),
                };
                if p.publish(&img).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        {
            let p = bus.publisher::<sensor_msgs::JointState>("/joint_states", Qos::default().with_depth(100))?;
            let n = Arc::new(AtomicU64::new(0));
            published.push((p.topic().to_string(), n.clone()));
            let names: Vec<String> = (1..=spec.joints).map(|i| format!("joint_{i}")).collect();
            let (stop, clock, hz) = (stop.clone(), clock.clone(), spec.joint_hz);
            threads.push(periodic(hz, stop, move |k| {
                let t = k as f64 / hz;
                let q: Vec<f64> = (0..names.len()).map(|j| (t + j as f64).sin()).collect();
                let js = sensor_msgs::JointState {
                    header: kotoba_msgs::std_msgs::Header { stamp: time_from_nanos(clock.now().as_nanos()), frame_id: String::new() },
                    name: names.clone(),
                    velocity: q.iter().map(|x| x * 0.5).collect(),
                    effort: vec![0.0; q.len()],
                    position: q,
                };
                if p.publish(&js).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        if spec.label_period_s > 0.0 {
            let p = bus.publisher::<std_msgs::String>("/labels", Qos::default())?;
            let n = Arc::new(AtomicU64::new(0));
            published.push((p.topic().to_string(), n.clone()));
            threads.push(periodic(1.0 / spec.label_period_s, stop.clone(), move |k| {
                if p.publish(&std_msgs::String { data: LABELS[k as usize % LABELS.len()].into() }).is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        Ok(SyntheticRobot { stop, threads, published, _instruction: instruction })
    }

    /// Stops publishing and returns the per-topic counts.
    pub fn stop(mut self) -> Vec<(String, u64)> {
        self.halt();
        self.published.iter().map(|(t, n)| (t.clone(), n.load(Ordering::Relaxed))).collect()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SyntheticRobot {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Calls `f(k)` at `hz` on its own thread, catching up after a late tick
/// rather than drifting (so the published rate is the nominal one).
fn periodic(hz: f64, stop: Arc<AtomicBool>, mut f: impl FnMut(u64) + Send + 'static) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let period = Duration::from_secs_f64(1.0 / hz);
        let t0 = Instant::now();
        let mut k = 0u64;
        while !stop.load(Ordering::Relaxed) {
            f(k);
            k += 1;
            let next = t0 + period.mul_f64(k as f64);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    })
}

/// A camera-like frame: a moving gradient and square plus a little sensor
/// noise, so compression sees realistic (not trivially compressible) data.
fn frame(w: u32, h: u32, k: u64, cam: usize) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let mut out = vec![0u8; w * h * 3];
    let mut seed = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ cam as u64) | 1;
    let sq = (k as usize * 3) % w.max(1);
    for y in 0..h {
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed & 3) as u8;
            let i = (y * w + x) * 3;
            let inside = x >= sq && x < sq + w / 8 && y >= h / 3 && y < h / 3 + h / 6;
            out[i] = if inside { 230 } else { (x * 255 / w.max(1)) as u8 }.wrapping_add(noise);
            out[i + 1] = if inside { 40 } else { (y * 255 / h.max(1)) as u8 }.wrapping_add(noise);
            out[i + 2] = (((x + y + k as usize) & 63) as u8).wrapping_add(noise);
        }
    }
    out
}
