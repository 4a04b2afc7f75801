#![doc = include_str!("../README.md")]

mod backend;
mod config;
mod inproc;
#[cfg(feature = "ros2")]
mod ros2;
mod stats;
mod typed;
mod zenoh_backend;

pub use backend::{
    AttachmentInfo, Backend, RawPublisher, RawSample, SampleSink, SubscriptionGuard, TopicInfo, TopicSpec, qualify,
};
pub use config::{BackendKind, BusConfig, ZenohConfig};
pub use inproc::InProcBackend;
pub use kotoba_msgs::{Durability, Message, Qos, Reliability};
#[cfg(feature = "ros2")]
pub use ros2::R2rBackend;
pub use stats::{TopicCounters, TopicStats};
pub use typed::{Callback, Latest, Publisher, Subscriber};
pub use zenoh_backend::{ZenohBackend, start_router};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid topic name {0:?} (ROS 2 names are /-separated segments of letters, digits and _)")]
    BadTopic(String),
    #[error("topic {topic} already carries {existing}; cannot use it for {requested}")]
    TypeClash { topic: String, existing: String, requested: String },
    #[error("transport error: {0}")]
    Transport(String),
    #[error("backend {0:?} is not available in this build{1}")]
    Unavailable(&'static str, &'static str),
    #[error("the bus was closed")]
    Closed,
}

/// A node's connection to the ROS 2 graph: typed publishers and subscribers on
/// whichever backend the config picks. Cheap to clone; clones share the node.
#[derive(Clone)]
pub struct Bus {
    backend: Arc<dyn Backend>,
    counters: Arc<Mutex<BTreeMap<String, Arc<TopicCounters>>>>,
}

impl Bus {
    /// Opens the backend named in `cfg` as node `node_name`.
    pub fn open(cfg: &BusConfig, node_name: &str) -> Result<Bus, BusError> {
        let backend: Arc<dyn Backend> = match cfg.backend {
            BackendKind::Zenoh => Arc::new(ZenohBackend::open(&cfg.zenoh, node_name, &cfg.namespace)?),
            BackendKind::Inproc => Arc::new(InProcBackend::new()),
            #[cfg(feature = "ros2")]
            BackendKind::Ros2 => Arc::new(R2rBackend::open(node_name, &cfg.namespace)?),
            #[cfg(not(feature = "ros2"))]
            BackendKind::Ros2 => {
                return Err(BusError::Unavailable("ros2", ": rebuild with `--features ros2` in a sourced ROS 2 shell"));
            }
        };
        Ok(Bus::from_backend(backend))
    }

    /// A bus over an existing backend (e.g. one [`InProcBackend`] shared by
    /// several nodes of one process).
    pub fn from_backend(backend: Arc<dyn Backend>) -> Bus {
        Bus { backend, counters: Arc::default() }
    }

    /// A fresh in-process bus, for tests.
    pub fn inproc() -> Bus {
        Bus::from_backend(Arc::new(InProcBackend::new()))
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn counters(&self, topic: &str) -> Arc<TopicCounters> {
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(topic.to_string()).or_default().clone()
    }

    pub fn publisher<M: Message>(&self, topic: &str, qos: Qos) -> Result<Publisher<M>, BusError> {
        let spec = TopicSpec::of::<M>(topic, qos)?;
        Ok(Publisher::new(self.backend.advertise(&spec)?, spec))
    }

    /// A keep-last queue of `qos.depth` messages (async `recv`, or polling).
    pub fn subscriber<M: Message>(&self, topic: &str, qos: Qos) -> Result<Subscriber<M>, BusError> {
        let spec = TopicSpec::of::<M>(topic, qos)?;
        let counters = self.counters(&spec.topic);
        let backend = self.backend.clone();
        let s = spec.clone();
        Subscriber::build(spec, counters, move |sink| backend.subscribe(&s, sink))
    }

    /// Calls `f` with each message on the transport's thread (see [`Callback`]).
    pub fn callback<M: Message>(
        &self,
        topic: &str,
        qos: Qos,
        f: impl Fn(M) + Send + Sync + 'static,
    ) -> Result<Callback, BusError> {
        let spec = TopicSpec::of::<M>(topic, qos)?;
        let counters = self.counters(&spec.topic);
        let backend = self.backend.clone();
        let s = spec.clone();
        Callback::build(spec, counters, f, move |sink| backend.subscribe(&s, sink))
    }

    /// The latest value of a topic, readable from a real-time thread without
    /// blocking, locking or allocating.
    pub fn latest<M: Message>(&self, topic: &str, qos: Qos) -> Result<Latest<M>, BusError> {
        let spec = TopicSpec::of::<M>(topic, qos)?;
        let counters = self.counters(&spec.topic);
        let backend = self.backend.clone();
        let s = spec.clone();
        Latest::build(spec, counters, move |sink| backend.subscribe(&s, sink))
    }

    /// Publisher of already-encoded CDR payloads (recorder playback, `topic pub`).
    pub fn raw_publisher(&self, spec: &TopicSpec) -> Result<Box<dyn RawPublisher>, BusError> {
        self.backend.advertise(spec)
    }

    /// Raw samples with their attachment, undecoded (recorder, `topic echo`).
    pub fn raw_subscriber(&self, spec: &TopicSpec, sink: SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError> {
        self.backend.subscribe(spec, sink)
    }

    /// Counters of a topic this bus subscribes to (shared by its subscriptions).
    pub fn topic_counters(&self, topic: &str) -> Result<Arc<TopicCounters>, BusError> {
        Ok(self.counters(&qualify(topic)?))
    }

    /// Topics visible on the graph.
    pub fn topics(&self) -> Vec<TopicInfo> {
        self.backend.topics()
    }

    /// Per-topic receive counters of this node's subscriptions.
    pub fn stats(&self) -> BTreeMap<String, TopicStats> {
        let map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
    }
}
