//! CDR encoding exactly as rmw_zenoh and rosbag2 store it: the 4-byte
//! encapsulation header `00 01 00 00` (CDR little-endian), then plain XCDR1.

use crate::Message;
use hiroz::msg::{ZDeserializer, ZSerializer};

/// Why a payload could not be decoded. The variants are counted separately by
/// the transport, so an operator can tell a truncated stream from a type clash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload of {0} bytes is shorter than the 4-byte CDR header")]
    TooShort(usize),
    #[error("unsupported CDR encapsulation {0:02x?} (expected CDR little-endian 00 01)")]
    Encapsulation([u8; 2]),
    #[error("malformed {type_name}: {reason}")]
    Malformed { type_name: &'static str, reason: String },
}

/// Serializes `msg` to a new buffer (header included).
pub fn encode<M: Message>(msg: &M) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_into(msg, &mut buf);
    buf
}

/// Serializes `msg` into `buf`, reusing its allocation.
pub fn encode_into<M: Message>(msg: &M, buf: &mut Vec<u8>) {
    <hiroz::msg::NativeCdrSerdes<M> as ZSerializer>::serialize_to_buf(msg, buf);
}

/// Deserializes a CDR payload (header included). Never panics on bad input.
pub fn decode<M: Message>(bytes: &[u8]) -> Result<M, DecodeError> {
    if bytes.len() < 4 {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    if bytes[0..2] != [0x00, 0x01] {
        return Err(DecodeError::Encapsulation([bytes[0], bytes[1]]));
    }
    // hiroz reserves memory for wire-given sequence lengths: check them first.
    if let Some(schema) = crate::validate::schema_for(M::ROS_NAME) {
        schema.check(&bytes[4..]).map_err(|reason| DecodeError::Malformed { type_name: M::ROS_NAME, reason })?;
    }
    <hiroz::msg::NativeCdrSerdes<M> as ZDeserializer>::deserialize(bytes)
        .map_err(|e| DecodeError::Malformed { type_name: M::ROS_NAME, reason: e.to_string() })
}
