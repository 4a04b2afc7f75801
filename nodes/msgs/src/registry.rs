//! Type-erased access to every supported message, by name: what `kotoba topic
//! echo` and `pub` and the recorder use when the type is only known at run time.

use crate::{DecodeError, Message};

/// One supported message type, usable without knowing it at compile time.
pub struct TypeEntry {
    /// `pkg/msg/Name`.
    pub ros_name: &'static str,
    /// `pkg::msg::dds_::Name_`.
    pub dds_name: fn() -> &'static str,
    /// `RIHS01_…`.
    pub type_hash: fn() -> String,
    /// rosbag2 `ros2msg` schema text.
    pub schema: &'static str,
    /// CDR payload → JSON value of the message.
    pub to_json: fn(&[u8]) -> Result<serde_json::Value, DecodeError>,
    /// JSON (possibly partial: missing fields take their defaults) → CDR payload.
    pub from_json: fn(serde_json::Value) -> Result<Vec<u8>, String>,
    /// Checks that a CDR payload decodes as this type (what the recorder runs
    /// before storing a sample, so bags hold only readable messages).
    pub validate: fn(&[u8]) -> Result<(), DecodeError>,
}

fn validate<M: Message>(bytes: &[u8]) -> Result<(), DecodeError> {
    crate::decode::<M>(bytes).map(|_| ())
}

fn to_json<M: Message>(bytes: &[u8]) -> Result<serde_json::Value, DecodeError> {
    let m: M = crate::decode(bytes)?;
    serde_json::to_value(&m).map_err(|e| DecodeError::Malformed { type_name: M::ROS_NAME, reason: e.to_string() })
}

fn from_json<M: Message>(v: serde_json::Value) -> Result<Vec<u8>, String> {
    // Like `ros2 topic pub`: fields left out keep their default values.
    let mut full = serde_json::to_value(M::default()).map_err(|e| e.to_string())?;
    merge(&mut full, v);
    let m: M = serde_json::from_value(full).map_err(|e| format!("not a valid {}: {e}", M::ROS_NAME))?;
    Ok(crate::encode(&m))
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

pub(crate) fn entry<M: Message>() -> TypeEntry {
    TypeEntry {
        ros_name: M::ROS_NAME,
        dds_name: M::dds_name,
        type_hash: M::rihs01,
        schema: M::SCHEMA,
        to_json: to_json::<M>,
        from_json: from_json::<M>,
        validate: validate::<M>,
    }
}

static REGISTRY: std::sync::LazyLock<Vec<TypeEntry>> = std::sync::LazyLock::new(crate::all_entries);

/// All supported types.
pub fn registry() -> &'static [TypeEntry] {
    &REGISTRY
}

/// Finds a type by `pkg/msg/Name`, `pkg/Name` or `pkg::msg::dds_::Name_`.
pub fn lookup(name: &str) -> Option<&'static TypeEntry> {
    let canonical = if let Some(rest) = name.strip_suffix('_') {
        rest.replace("::dds_::", "::").replace("::", "/")
    } else if name.matches('/').count() == 1 {
        name.replacen('/', "/msg/", 1)
    } else {
        name.to_string()
    };
    registry().iter().find(|e| e.ros_name == canonical)
}
