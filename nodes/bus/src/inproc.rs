//! An in-process bus: topics are a map in memory, samples go straight to the
//! subscribers' callbacks on the publisher's thread. For tests and for running
//! every node of a launch file in one process without touching the network.

use crate::backend::*;
use crate::BusError;
use kotoba_msgs::Durability;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

type Sink = Arc<SampleSink>;

#[derive(Default)]
struct Slot {
    ros_type: String,
    type_hash: String,
    publishers: usize,
    /// Snapshot list so publishing clones an `Arc`, not the callbacks.
    subscribers: Arc<Vec<(u64, Sink)>>,
    /// Transient-local history: the last `depth` payloads of latched publishers.
    latched: VecDeque<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    topics: RwLock<BTreeMap<String, Slot>>,
    next_id: AtomicU64,
}

/// A bus inside one process. Clones share the same topics.
#[derive(Clone, Default)]
pub struct InProcBackend {
    inner: Arc<Inner>,
}

impl InProcBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

struct InProcPublisher {
    inner: Weak<Inner>,
    topic: String,
    latched_depth: Option<usize>,
    gid: [u8; 16],
    seq: AtomicI64,
}

impl RawPublisher for InProcPublisher {
    fn publish(&self, cdr: &[u8]) -> Result<(), BusError> {
        let inner = self.inner.upgrade().ok_or(BusError::Closed)?;
        let subs = {
            let mut topics = inner.topics.write().unwrap_or_else(|p| p.into_inner());
            let slot = topics.get_mut(&self.topic).ok_or(BusError::Closed)?;
            if let Some(depth) = self.latched_depth {
                if slot.latched.len() >= depth.max(1) {
                    slot.latched.pop_front();
                }
                slot.latched.push_back(cdr.to_vec());
            }
            slot.subscribers.clone()
        };
        let sequence = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let sample = RawSample {
            payload: cdr,
            attachment: AttachmentInfo::Valid { sequence, source_ns: now_ns(), gid: self.gid },
            type_matches: true,
        };
        for (_, sink) in subs.iter() {
            sink(sample);
        }
        Ok(())
    }
}

impl Drop for InProcPublisher {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut topics = inner.topics.write().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = topics.get_mut(&self.topic) {
                slot.publishers = slot.publishers.saturating_sub(1);
            }
        }
    }
}

struct InProcSubscription {
    inner: Weak<Inner>,
    topic: String,
    id: u64,
}

impl Drop for InProcSubscription {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut topics = inner.topics.write().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = topics.get_mut(&self.topic) {
                slot.subscribers = Arc::new(slot.subscribers.iter().filter(|(i, _)| *i != self.id).cloned().collect());
            }
        }
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

impl InProcBackend {
    /// Finds or creates the topic, refusing a second type on the same name
    /// (on a real graph that would be a silent non-delivery).
    fn slot<'a>(topics: &'a mut BTreeMap<String, Slot>, spec: &TopicSpec) -> Result<&'a mut Slot, BusError> {
        let slot = topics.entry(spec.topic.clone()).or_insert_with(|| Slot {
            ros_type: spec.ros_type.clone(),
            type_hash: spec.type_hash.clone(),
            ..Default::default()
        });
        if slot.type_hash != spec.type_hash {
            return Err(BusError::TypeClash {
                topic: spec.topic.clone(),
                existing: slot.ros_type.clone(),
                requested: spec.ros_type.clone(),
            });
        }
        Ok(slot)
    }
}

impl Backend for InProcBackend {
    fn name(&self) -> &'static str {
        "inproc"
    }

    fn advertise(&self, spec: &TopicSpec) -> Result<Box<dyn RawPublisher>, BusError> {
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        Self::slot(&mut topics, spec)?.publishers += 1;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut gid = [0u8; 16];
        gid[..8].copy_from_slice(&id.to_le_bytes());
        Ok(Box::new(InProcPublisher {
            inner: Arc::downgrade(&self.inner),
            topic: spec.topic.clone(),
            latched_depth: (spec.qos.durability == Durability::TransientLocal).then_some(spec.qos.depth),
            gid,
            seq: AtomicI64::new(0),
        }))
    }

    fn subscribe(&self, spec: &TopicSpec, sink: SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError> {
        let sink: Sink = Arc::new(sink);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let history = {
            let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
            let slot = Self::slot(&mut topics, spec)?;
            let mut subs: Vec<_> = slot.subscribers.iter().cloned().collect();
            subs.push((id, sink.clone()));
            slot.subscribers = Arc::new(subs);
            if spec.qos.durability == Durability::TransientLocal { slot.latched.clone() } else { VecDeque::new() }
        };
        for (i, payload) in history.iter().enumerate() {
            sink(RawSample {
                payload,
                attachment: AttachmentInfo::Valid { sequence: i as i64 + 1, source_ns: now_ns(), gid: [0; 16] },
                type_matches: true,
            });
        }
        Ok(Box::new(InProcSubscription { inner: Arc::downgrade(&self.inner), topic: spec.topic.clone(), id }))
    }

    fn topics(&self) -> Vec<TopicInfo> {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        topics
            .iter()
            .map(|(t, s)| TopicInfo {
                topic: t.clone(),
                ros_type: s.ros_type.clone(),
                publishers: s.publishers,
                subscribers: s.subscribers.len(),
            })
            .collect()
    }
}

