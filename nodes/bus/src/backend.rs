//! The byte-level seam every transport implements. Typed publish/subscribe,
//! counting and decoding live above it (`typed.rs`), so a backend only moves
//! CDR payloads and their rmw_zenoh attachment.

use crate::BusError;
use kotoba_msgs::Qos;

/// Everything that identifies a ROS 2 topic endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Fully qualified topic name, e.g. `/joint_states`.
    pub topic: String,
    /// `pkg/msg/Name`.
    pub ros_type: String,
    /// `pkg::msg::dds_::Name_`.
    pub dds_type: String,
    /// `RIHS01_…`.
    pub type_hash: String,
    pub qos: Qos,
}

impl TopicSpec {
    pub fn of<M: kotoba_msgs::Message>(topic: &str, qos: Qos) -> Result<Self, BusError> {
        Ok(TopicSpec {
            topic: qualify(topic)?,
            ros_type: M::ROS_NAME.to_string(),
            dds_type: M::dds_name().to_string(),
            type_hash: M::rihs01(),
            qos,
        })
    }

    /// A spec for a type known only by name (from the registry).
    pub fn dynamic(topic: &str, ty: &kotoba_msgs::TypeEntry, qos: Qos) -> Result<Self, BusError> {
        Ok(TopicSpec {
            topic: qualify(topic)?,
            ros_type: ty.ros_name.to_string(),
            dds_type: (ty.dds_name)().to_string(),
            type_hash: (ty.type_hash)(),
            qos,
        })
    }
}

/// Makes a topic name absolute and checks it is a valid ROS 2 name.
pub fn qualify(topic: &str) -> Result<String, BusError> {
    let t = topic.trim();
    let abs = if t.starts_with('/') { t.to_string() } else { format!("/{t}") };
    let ok = abs.len() > 1
        && !abs.ends_with('/')
        && !abs.contains("//")
        && abs[1..].split('/').all(|seg| {
            seg.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '~')
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
        });
    if ok { Ok(abs) } else { Err(BusError::BadTopic(topic.to_string())) }
}

/// The rmw_zenoh attachment of a received sample, as far as it could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentInfo {
    Valid { sequence: i64, source_ns: i64, gid: [u8; 16] },
    Missing,
    Malformed,
}

/// One received payload, borrowed for the duration of the callback.
#[derive(Debug, Clone, Copy)]
pub struct RawSample<'a> {
    /// CDR payload including the 4-byte encapsulation header.
    pub payload: &'a [u8],
    pub attachment: AttachmentInfo,
    /// False when the publisher's key carries another type name or hash (a
    /// publisher of a different type, or a distro without type hashes).
    pub type_matches: bool,
}

/// Delivers received samples. Called on the transport's own threads: it must
/// return quickly and never block.
pub type SampleSink = Box<dyn Fn(RawSample<'_>) + Send + Sync>;

/// A declared publisher. Dropping it undeclares it.
pub trait RawPublisher: Send + Sync {
    /// Publishes one CDR payload (header included).
    fn publish(&self, cdr: &[u8]) -> Result<(), BusError>;
}

/// Keeps a subscription alive; dropping it undeclares the subscription.
pub trait SubscriptionGuard: Send + Sync {}
impl<T: Send + Sync> SubscriptionGuard for T {}

/// One topic seen on the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopicInfo {
    pub topic: String,
    /// `pkg/msg/Name`.
    pub ros_type: String,
    pub publishers: usize,
    pub subscribers: usize,
}

/// A transport.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    fn advertise(&self, spec: &TopicSpec) -> Result<Box<dyn RawPublisher>, BusError>;
    fn subscribe(&self, spec: &TopicSpec, sink: SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError>;
    /// Topics currently visible on the graph (ours and everyone else's).
    fn topics(&self) -> Vec<TopicInfo>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifies_and_validates_topic_names() {
        assert_eq!(qualify("joint_states").unwrap(), "/joint_states");
        assert_eq!(qualify("/arm/commands").unwrap(), "/arm/commands");
        for bad in ["", "/", "/a//b", "/a/", "/1abc", "/a b", "/ünï"] {
            assert!(qualify(bad).is_err(), "{bad:?}");
        }
    }
}
