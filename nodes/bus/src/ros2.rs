//! r2r backend (feature `ros2`): the node runs on rcl in a sourced ROS 2, so it
//! talks to whatever RMW the system uses. Raw CDR in and out, like the Zenoh
//! backend, so typed endpoints and counters above are shared.
//!
//! Not compiled in CI: building it needs a sourced ROS 2 (r2r's build script
//! requires `AMENT_PREFIX_PATH`).

use crate::backend::*;
use crate::BusError;
use futures::StreamExt;
use kotoba_msgs::{Durability, Qos, Reliability};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct R2rBackend {
    node: Arc<Mutex<r2r::Node>>,
    stop: Arc<AtomicBool>,
}

fn rerr(e: impl std::fmt::Display) -> BusError {
    BusError::Transport(e.to_string())
}

fn profile(q: &Qos) -> r2r::QosProfile {
    let mut p = r2r::QosProfile::default().keep_last(q.depth.max(1));
    if q.depth == 0 {
        p = p.keep_all();
    }
    p = match q.reliability {
        Reliability::Reliable => p.reliable(),
        Reliability::BestEffort => p.best_effort(),
    };
    match q.durability {
        Durability::Volatile => p.volatile(),
        Durability::TransientLocal => p.transient_local(),
    }
}

impl R2rBackend {
    pub fn open(name: &str, namespace: &str) -> Result<Self, BusError> {
        let ctx = r2r::Context::create().map_err(rerr)?;
        let node = Arc::new(Mutex::new(r2r::Node::create(ctx, name, namespace).map_err(rerr)?));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s) = (node.clone(), stop.clone());
        std::thread::Builder::new()
            .name("r2r-spin".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    n.lock().unwrap_or_else(|p| p.into_inner()).spin_once(Duration::from_millis(5));
                }
            })
            .map_err(rerr)?;
        Ok(R2rBackend { node, stop })
    }
}

impl Drop for R2rBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct R2rPublisher(r2r::PublisherUntyped);

impl RawPublisher for R2rPublisher {
    fn publish(&self, cdr: &[u8]) -> Result<(), BusError> {
        self.0.publish_raw(cdr).map_err(rerr)
    }
}

impl Backend for R2rBackend {
    fn name(&self) -> &'static str {
        "ros2"
    }

    fn advertise(&self, spec: &TopicSpec) -> Result<Box<dyn RawPublisher>, BusError> {
        let mut node = self.node.lock().unwrap_or_else(|p| p.into_inner());
        let p = node.create_publisher_untyped(&spec.topic, &spec.ros_type, profile(&spec.qos)).map_err(rerr)?;
        Ok(Box::new(R2rPublisher(p)))
    }

    fn subscribe(&self, spec: &TopicSpec, sink: SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError> {
        let mut stream = {
            let mut node = self.node.lock().unwrap_or_else(|p| p.into_inner());
            node.subscribe_raw(&spec.topic, &spec.ros_type, profile(&spec.qos)).map_err(rerr)?
        };
        let stop = self.stop.clone();
        let seq = AtomicI64::new(0);
        std::thread::Builder::new()
            .name(format!("r2r-sub{}", spec.topic))
            .spawn(move || {
                futures::executor::block_on(async {
                    while let Some(bytes) = stream.next().await {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        // rcl has no rmw_zenoh attachment; the sample is trusted as rcl delivered it.
                        let sequence = seq.fetch_add(1, Ordering::Relaxed) + 1;
                        sink(RawSample {
                            payload: &bytes,
                            attachment: AttachmentInfo::Valid { sequence, source_ns: 0, gid: [0; 16] },
                            type_matches: true,
                        });
                    }
                })
            })
            .map_err(rerr)?;
        Ok(Box::new(()))
    }

    fn topics(&self) -> Vec<TopicInfo> {
        let node = self.node.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(map) = node.get_topic_names_and_types() else { return Vec::new() };
        let mut out: Vec<TopicInfo> = map
            .into_iter()
            .flat_map(|(topic, types)| {
                types.into_iter().map(move |t| TopicInfo { topic: topic.clone(), ros_type: t, publishers: 0, subscribers: 0 })
            })
            .collect();
        out.sort();
        out
    }
}
