//! The default transport: Zenoh with rmw_zenoh's exact wire conventions, so a
//! ROS 2 system running `RMW_IMPLEMENTATION=rmw_zenoh_cpp` sees our nodes and
//! topics and exchanges messages with them, with no bridge.
//!
//! From hiroz: the session (rmw_zenoh's default config, `ROS_DOMAIN_ID`,
//! `ZENOH_SESSION_CONFIG_URI`, `ZENOH_CONFIG_OVERRIDE`), the node and its
//! liveliness token, key-expression and liveliness formats, endpoint GIDs, the
//! attachment codec and the graph. Ours: endpoints that hand raw samples with
//! their attachment to a callback (hiroz's own subscribers decode inside and
//! drop errors without counting), per-topic validation and counters, and
//! wildcard-hash subscriptions that detect publishers of another type instead of
//! never hearing them.

use crate::backend::*;
use crate::{BusError, ZenohConfig};
use hiroz::attachment::{Attachment, GidArray};
use hiroz::context::{ZContext, ZContextBuilder};
use hiroz::entity::{EndpointEntity, EndpointKind, TypeHash, TypeInfo};
use hiroz::node::ZNode;
use hiroz::Builder;
use kotoba_msgs::{Durability, Reliability};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh_ext::{
    AdvancedPublisherBuilderExt, AdvancedSubscriberBuilderExt, CacheConfig, HistoryConfig, MissDetectionConfig,
    RecoveryConfig,
};

/// rmw_zenoh rewrites a depth of 0 (keep-all) to this for caches.
const KEEP_ALL_CACHE_DEPTH: usize = 42;

pub struct ZenohBackend {
    ctx: ZContext,
    node: ZNode,
    domain: usize,
}

fn zerr(e: impl std::fmt::Display) -> BusError {
    BusError::Transport(e.to_string())
}

impl ZenohBackend {
    /// Opens a session and declares the node `name` (its liveliness token makes
    /// it show up in `ros2 node list`).
    pub fn open(cfg: &ZenohConfig, name: &str, namespace: &str) -> Result<Self, BusError> {
        let mut b = ZContextBuilder::default();
        if let Some(d) = cfg.domain_id {
            b = b.with_domain_id(d);
        }
        if let Some(f) = &cfg.config_file {
            b = b.with_config_file(f.clone());
        } else {
            b = b
                .with_mode(cfg.mode.as_str())
                .with_connect_endpoints(cfg.connect.iter().cloned())
                .with_listen_endpoints(cfg.listen.iter().cloned())
                .disable_multicast_scouting();
        }
        if !namespace.is_empty() && namespace != "/" {
            b = b.with_namespace(namespace);
        }
        let ctx = b.build().map_err(zerr)?;
        let node = ctx.create_node(name).without_parameters().build().map_err(zerr)?;
        let domain = ctx.domain_id();
        let me = ZenohBackend { ctx, node, domain };
        if cfg.config_file.is_none() && cfg.mode == "peer" && !me.wait_for_router(cfg.router_wait) {
            tracing::warn!(
                "no Zenoh router reachable at {:?}: other processes will not discover this node. \
                 Start one with `kotoba router` (or ROS 2's `ros2 run rmw_zenoh_cpp rmw_zenohd`).",
                cfg.connect
            );
        }
        Ok(me)
    }

    /// True once a router is connected (rmw_zenoh checks the same at start-up).
    pub fn wait_for_router(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.node.session().info().routers_zid().wait().next().is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn domain_id(&self) -> usize {
        self.domain
    }

    fn entity(&self, spec: &TopicSpec, kind: EndpointKind) -> Result<EndpointEntity, BusError> {
        let hash = TypeHash::from_rihs_string(&spec.type_hash)
            .ok_or_else(|| BusError::Transport(format!("bad type hash {}", spec.type_hash)))?;
        let qos = hiroz::qos::QosProfile {
            reliability: match spec.qos.reliability {
                Reliability::Reliable => hiroz::qos::QosReliability::Reliable,
                Reliability::BestEffort => hiroz::qos::QosReliability::BestEffort,
            },
            durability: match spec.qos.durability {
                Durability::Volatile => hiroz::qos::QosDurability::Volatile,
                Durability::TransientLocal => hiroz::qos::QosDurability::TransientLocal,
            },
            history: match std::num::NonZeroUsize::new(spec.qos.depth) {
                Some(d) => hiroz::qos::QosHistory::KeepLast(d),
                None => hiroz::qos::QosHistory::KeepAll,
            },
            ..Default::default()
        };
        Ok(EndpointEntity {
            id: self.node.next_entity_id(),
            node: Some(self.node.node_entity().clone()),
            kind,
            topic: spec.topic.clone(),
            type_info: Some(TypeInfo::new(&spec.dds_type, hash)),
            qos: qos.to_protocol_qos(),
        })
    }

    fn liveliness(&self, entity: &EndpointEntity) -> Result<zenoh::liveliness::LivelinessToken, BusError> {
        let session = self.node.session();
        let ke = self.node.keyexpr_format().liveliness_key_expr(entity, &session.zid()).map_err(zerr)?;
        session.liveliness().declare_token((*ke).clone()).wait().map_err(zerr)
    }
}

struct ZenohPublisher {
    inner: PubKind,
    gid: GidArray,
    seq: AtomicI64,
    _token: zenoh::liveliness::LivelinessToken,
}

enum PubKind {
    Plain(zenoh::pubsub::Publisher<'static>),
    Advanced(zenoh_ext::AdvancedPublisher<'static>),
}

impl RawPublisher for ZenohPublisher {
    fn publish(&self, cdr: &[u8]) -> Result<(), BusError> {
        // rmw_zenoh's publisher counter starts at 1.
        let sn = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let att: ZBytes = Attachment::new(sn, self.gid).into();
        let res = match &self.inner {
            PubKind::Plain(p) => p.put(cdr).attachment(att).wait(),
            PubKind::Advanced(p) => p.put(cdr).attachment(att).wait(),
        };
        res.map_err(zerr)
    }
}

impl Backend for ZenohBackend {
    fn name(&self) -> &'static str {
        "zenoh"
    }

    fn advertise(&self, spec: &TopicSpec) -> Result<Box<dyn RawPublisher>, BusError> {
        let entity = self.entity(spec, EndpointKind::Publisher)?;
        let ke = self.node.keyexpr_format().topic_key_expr(&entity).map_err(zerr)?;
        let session = self.node.session();
        // rmw_zenoh: RELIABLE drops under congestion unless KEEP_ALL, which blocks.
        let cc = if spec.qos.reliability == Reliability::Reliable && spec.qos.depth == 0 {
            CongestionControl::Block
        } else {
            CongestionControl::Drop
        };
        let reliability = match spec.qos.reliability {
            Reliability::Reliable => zenoh::qos::Reliability::Reliable,
            Reliability::BestEffort => zenoh::qos::Reliability::BestEffort,
        };
        let builder = session.declare_publisher((*ke).clone()).congestion_control(cc).reliability(reliability);
        let inner = if spec.qos.durability == Durability::TransientLocal {
            let depth = if spec.qos.depth == 0 { KEEP_ALL_CACHE_DEPTH } else { spec.qos.depth };
            let mut b = builder.advanced().publisher_detection().cache(CacheConfig::default().max_samples(depth));
            if spec.qos.reliability == Reliability::Reliable {
                b = b.sample_miss_detection(
                    MissDetectionConfig::default().sporadic_heartbeat(Duration::from_millis(500)),
                );
            }
            PubKind::Advanced(b.wait().map_err(zerr)?)
        } else {
            PubKind::Plain(builder.wait().map_err(zerr)?)
        };
        let gid = hiroz::entity::endpoint_gid(&entity).unwrap_or_default();
        let token = self.liveliness(&entity)?;
        Ok(Box::new(ZenohPublisher { inner, gid, seq: AtomicI64::new(0), _token: token }))
    }

    fn subscribe(&self, spec: &TopicSpec, sink: SampleSink) -> Result<Box<dyn SubscriptionGuard>, BusError> {
        let entity = self.entity(spec, EndpointKind::Subscription)?;
        let exact_ke = self.node.keyexpr_format().topic_key_expr(&entity).map_err(zerr)?;
        let exact = (*exact_ke).as_str().to_string();
        // Same topic, any type and hash: a publisher of another type is then
        // counted and reported instead of silently never matching.
        let (prefix, _) = exact.rsplit_once('/').and_then(|(p, _)| p.rsplit_once('/')).ok_or_else(|| {
            BusError::Transport(format!("unexpected key expression {exact}"))
        })?;
        let wildcard = format!("{prefix}/*/*");
        let expected_tail = exact[prefix.len()..].to_string();
        let sink = Arc::new(sink);
        let callback = move |sample: zenoh::sample::Sample| {
            let payload = sample.payload().to_bytes();
            let attachment = match sample.attachment() {
                None => AttachmentInfo::Missing,
                Some(a) if a.len() != 33 => AttachmentInfo::Malformed,
                Some(a) => match Attachment::try_from(a) {
                    Ok(a) => AttachmentInfo::Valid {
                        sequence: a.sequence_number,
                        source_ns: a.source_timestamp,
                        gid: a.source_gid,
                    },
                    Err(_) => AttachmentInfo::Malformed,
                },
            };
            let type_matches = sample.key_expr().as_str().ends_with(expected_tail.as_str());
            sink(RawSample { payload: payload.as_ref(), attachment, type_matches });
        };
        let session = self.node.session();
        let builder = session.declare_subscriber(wildcard).callback(callback);
        let guard: Box<dyn SubscriptionGuard> = if spec.qos.durability == Durability::TransientLocal {
            let depth = if spec.qos.depth == 0 { KEEP_ALL_CACHE_DEPTH } else { spec.qos.depth };
            let mut b = builder
                .advanced()
                .history(HistoryConfig::default().detect_late_publishers().max_samples(depth))
                .query_timeout(Duration::from_secs(10))
                .subscriber_detection();
            if spec.qos.reliability == Reliability::Reliable {
                b = b.recovery(RecoveryConfig::default().heartbeat());
            }
            Box::new(b.wait().map_err(zerr)?)
        } else {
            Box::new(builder.wait().map_err(zerr)?)
        };
        let token = self.liveliness(&entity)?;
        Ok(Box::new((guard, token)))
    }

    fn topics(&self) -> Vec<TopicInfo> {
        let graph = self.ctx.graph();
        let mut out: Vec<TopicInfo> = graph
            .get_topic_names_and_types()
            .into_iter()
            .map(|(topic, ty)| TopicInfo {
                publishers: graph.count(EndpointKind::Publisher, &topic),
                subscribers: graph.count(EndpointKind::Subscription, &topic),
                ros_type: ros_type_name(&ty),
                topic,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `pkg::msg::dds_::Name_` (or already `pkg/msg/Name`) → `pkg/msg/Name`.
fn ros_type_name(ty: &str) -> String {
    match ty.strip_suffix('_') {
        Some(t) if t.contains("::dds_::") => t.replace("::dds_::", "::").replace("::", "/"),
        _ => ty.to_string(),
    }
}

/// Runs a Zenoh router in this process until the returned session is dropped,
/// like rmw_zenoh's `rmw_zenohd`.
pub fn start_router(listen: &[String], config_file: Option<&std::path::Path>) -> Result<zenoh::Session, BusError> {
    let config = match config_file {
        Some(f) => zenoh::Config::from_file(f).map_err(zerr)?,
        None => {
            let mut b = hiroz::config::RouterConfigBuilder::new();
            for l in listen {
                b = b.with_listen_endpoint(l);
            }
            b.build_config().map_err(zerr)?
        }
    };
    zenoh::open(config).wait().map_err(zerr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ros_type_names() {
        assert_eq!(ros_type_name("sensor_msgs::msg::dds_::JointState_"), "sensor_msgs/msg/JointState");
        assert_eq!(ros_type_name("std_msgs/msg/String"), "std_msgs/msg/String");
    }
}
