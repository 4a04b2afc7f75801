//! Typed endpoints over any [`Backend`](crate::Backend): CDR encoding on the way
//! out; validation, decoding and counting on the way in.

use crate::backend::{AttachmentInfo, RawPublisher, RawSample, SubscriptionGuard, TopicSpec};
use crate::stats::{TopicCounters, TopicStats};
use crate::BusError;
use kotoba_msgs::{decode, encode_into, Message};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Publishes messages of type `M` on one topic.
pub struct Publisher<M: Message> {
    raw: Box<dyn RawPublisher>,
    spec: TopicSpec,
    buf: Mutex<Vec<u8>>,
    _m: PhantomData<fn(M)>,
}

impl<M: Message> Publisher<M> {
    pub(crate) fn new(raw: Box<dyn RawPublisher>, spec: TopicSpec) -> Self {
        Publisher { raw, spec, buf: Mutex::new(Vec::with_capacity(256)), _m: PhantomData }
    }

    pub fn publish(&self, msg: &M) -> Result<(), BusError> {
        // The buffer is reused so steady-state publishing does not allocate for
        // fixed-size messages; the lock is uncontended unless one publisher is
        // shared between threads.
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        encode_into(msg, &mut buf);
        self.raw.publish(&buf)
    }

    pub fn topic(&self) -> &str {
        &self.spec.topic
    }
}

/// Turns raw samples into decoded messages, counting everything that is dropped.
/// Returns `None` for samples that must not be delivered.
pub(crate) fn accept<M: Message>(spec: &TopicSpec, c: &TopicCounters, s: RawSample<'_>) -> Option<M> {
    c.received.fetch_add(1, Ordering::Relaxed);
    if !s.type_matches {
        c.wrong_type.fetch_add(1, Ordering::Relaxed);
        c.warn_limited(&spec.topic, format_args!("sample of another type or type hash than {} dropped", spec.ros_type));
        return None;
    }
    match s.attachment {
        AttachmentInfo::Valid { .. } => {}
        AttachmentInfo::Missing | AttachmentInfo::Malformed => {
            // rmw_zenoh drops these too ("Unable to obtain attachment").
            c.missing_attachment.fetch_add(1, Ordering::Relaxed);
            c.warn_limited(&spec.topic, format_args!("sample without a valid rmw_zenoh attachment dropped"));
            return None;
        }
    }
    match decode::<M>(s.payload) {
        Ok(m) => {
            c.delivered.fetch_add(1, Ordering::Relaxed);
            Some(m)
        }
        Err(e) => {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            c.warn_limited(&spec.topic, format_args!("{e}"));
            None
        }
    }
}

struct Queue<M> {
    items: Mutex<VecDeque<M>>,
    notify: tokio::sync::Notify,
    cond: std::sync::Condvar,
    depth: usize,
}

/// A keep-last queue of received messages, read asynchronously or by polling.
pub struct Subscriber<M: Message> {
    queue: Arc<Queue<M>>,
    counters: Arc<TopicCounters>,
    spec: TopicSpec,
    _guard: Box<dyn SubscriptionGuard>,
}

impl<M: Message> Subscriber<M> {
    pub(crate) fn build(
        spec: TopicSpec,
        counters: Arc<TopicCounters>,
        subscribe: impl FnOnce(crate::backend::SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError>,
    ) -> Result<Self, BusError> {
        let depth = if spec.qos.depth == 0 { usize::MAX } else { spec.qos.depth };
        let queue = Arc::new(Queue {
            items: Mutex::new(VecDeque::new()),
            notify: tokio::sync::Notify::new(),
            cond: std::sync::Condvar::new(),
            depth,
        });
        let (q, c, s) = (queue.clone(), counters.clone(), spec.clone());
        let guard = subscribe(Box::new(move |sample: RawSample<'_>| {
            if let Some(m) = accept::<M>(&s, &c, sample) {
                let mut items = q.items.lock().unwrap_or_else(|p| p.into_inner());
                if items.len() >= q.depth {
                    items.pop_front();
                    c.overflowed.fetch_add(1, Ordering::Relaxed);
                }
                items.push_back(m);
                drop(items);
                q.notify.notify_one();
                q.cond.notify_one();
            }
        }))?;
        Ok(Subscriber { queue, counters, spec, _guard: guard })
    }

    /// The next message, if one is waiting.
    pub fn try_recv(&self) -> Option<M> {
        self.queue.items.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    /// Waits for the next message.
    pub async fn recv(&self) -> M {
        loop {
            let notified = self.queue.notify.notified();
            if let Some(m) = self.try_recv() {
                return m;
            }
            notified.await;
        }
    }

    /// Blocks the calling thread for at most `timeout` (for non-async callers).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<M> {
        let deadline = std::time::Instant::now() + timeout;
        let mut items = self.queue.items.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(m) = items.pop_front() {
                return Some(m);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            items = self.queue.cond.wait_timeout(items, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    pub fn stats(&self) -> TopicStats {
        self.counters.snapshot()
    }

    pub fn topic(&self) -> &str {
        &self.spec.topic
    }
}

/// Messages handed to a callback on the transport's own thread, as they are
/// decoded: no queue and no second thread to wake, so the lowest latency. The
/// callback must return quickly (it holds up the topic's delivery). Dropping
/// this undeclares the subscription.
pub struct Callback {
    counters: Arc<TopicCounters>,
    spec: TopicSpec,
    _guard: Box<dyn SubscriptionGuard>,
}

impl Callback {
    pub(crate) fn build<M: Message>(
        spec: TopicSpec,
        counters: Arc<TopicCounters>,
        f: impl Fn(M) + Send + Sync + 'static,
        subscribe: impl FnOnce(crate::backend::SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError>,
    ) -> Result<Self, BusError> {
        let (c, s) = (counters.clone(), spec.clone());
        let guard = subscribe(Box::new(move |sample: RawSample<'_>| {
            if let Some(m) = accept::<M>(&s, &c, sample) {
                f(m);
            }
        }))?;
        Ok(Callback { counters, spec, _guard: guard })
    }

    pub fn stats(&self) -> TopicStats {
        self.counters.snapshot()
    }

    pub fn topic(&self) -> &str {
        &self.spec.topic
    }
}

/// The latest message of a topic, for real-time threads: reading never blocks,
/// locks or allocates (a triple buffer; the transport thread does the decoding).
pub struct Latest<M: Message> {
    out: triple_buffer::Output<(u64, Option<M>)>,
    counters: Arc<TopicCounters>,
    seen: u64,
    _guard: Box<dyn SubscriptionGuard>,
}

impl<M: Message> Latest<M> {
    pub(crate) fn build(
        spec: TopicSpec,
        counters: Arc<TopicCounters>,
        subscribe: impl FnOnce(crate::backend::SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError>,
    ) -> Result<Self, BusError> {
        let (input, out) = triple_buffer::triple_buffer(&(0u64, None));
        // Only the transport's callback writes; the mutex is never contended.
        let input = Mutex::new((input, 0u64));
        let c = counters.clone();
        let guard = subscribe(Box::new(move |sample: RawSample<'_>| {
            if let Some(m) = accept::<M>(&spec, &c, sample) {
                let mut g = input.lock().unwrap_or_else(|p| p.into_inner());
                g.1 += 1;
                let seq = g.1;
                g.0.write((seq, Some(m)));
            }
        }))?;
        Ok(Latest { out, counters, seen: 0, _guard: guard })
    }

    /// The newest message and whether it arrived since the previous call.
    pub fn read(&mut self) -> Option<(&M, bool)> {
        let (seq, msg) = self.out.read();
        let fresh = *seq != self.seen;
        self.seen = *seq;
        msg.as_ref().map(|m| (m, fresh))
    }

    /// How many messages have been delivered so far.
    pub fn count(&self) -> u64 {
        self.counters.delivered.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> TopicStats {
        self.counters.snapshot()
    }
}
