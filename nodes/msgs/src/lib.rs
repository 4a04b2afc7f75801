#![doc = include_str!("../README.md")]

mod codec;
mod qos;
mod registry;
mod validate;

pub use codec::{DecodeError, decode, encode, encode_into};
pub use qos::{Durability, Qos, Reliability};
pub use registry::{TypeEntry, lookup, registry};

/// The generated message modules (from hiroz-msgs' bundled Jazzy `.msg` files).
pub use hiroz_msgs::{builtin_interfaces, diagnostic_msgs, rosgraph_msgs, sensor_msgs, std_msgs, trajectory_msgs};
/// Byte sequences (`uint8[]`, e.g. `Image.data`) are zero-copy Zenoh buffers.
pub use hiroz::ZBuf;

/// The bytes of a [`ZBuf`]: borrowed when it is one slice (the usual case
/// after decoding), copied together otherwise.
pub fn zbuf_bytes(z: &ZBuf) -> std::borrow::Cow<'_, [u8]> {
    let mut it = z.zslices();
    match (it.next(), it.next()) {
        (None, _) => std::borrow::Cow::Borrowed(&[]),
        (Some(a), None) => std::borrow::Cow::Borrowed(a.as_slice()),
        _ => std::borrow::Cow::Owned(z.zslices().flat_map(|s| s.as_slice().iter().copied()).collect()),
    }
}

use hiroz::MessageTypeInfo;

/// A ROS 2 message kotoba can publish, subscribe, record and replay.
///
/// Everything a transport or a rosbag2 writer needs is here: the ROS name, the
/// DDS name and RIHS01 hash that make up the rmw_zenoh key, and the rosbag2
/// `ros2msg` schema text.
pub trait Message:
    hiroz::msg::ZMessage<Serdes = hiroz::msg::NativeCdrSerdes<Self>>
    + hiroz_cdr::CdrSerialize
    + hiroz_cdr::CdrDeserialize
    + hiroz_cdr::CdrSerializedSize
    + MessageTypeInfo
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Clone
    + Default
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// `pkg/msg/Name`, as rosbag2 and `ros2 topic` write it.
    const ROS_NAME: &'static str;
    /// rosbag2's concatenated `ros2msg` definition (root text, then each dependency).
    const SCHEMA: &'static str;

    /// `pkg::msg::dds_::Name_`, the type segment of the rmw_zenoh key.
    fn dds_name() -> &'static str {
        <Self as MessageTypeInfo>::type_name()
    }

    /// `RIHS01_<64 hex>`.
    fn rihs01() -> String {
        <Self as MessageTypeInfo>::type_hash().to_rihs_string()
    }
}

macro_rules! messages {
    ($($ty:ty => $ros:literal, $file:literal;)*) => {
        $(impl Message for $ty {
            const ROS_NAME: &'static str = $ros;
            const SCHEMA: &'static str = include_str!(concat!("../schemas/", $file, ".ros2msg"));
        })*
        /// One registry entry per message type above.
        pub(crate) fn all_entries() -> Vec<TypeEntry> {
            vec![$(registry::entry::<$ty>()),*]
        }
    };
}

messages! {
    builtin_interfaces::Time => "builtin_interfaces/msg/Time", "builtin_interfaces__msg__Time";
    std_msgs::Header => "std_msgs/msg/Header", "std_msgs__msg__Header";
    std_msgs::String => "std_msgs/msg/String", "std_msgs__msg__String";
    std_msgs::Float64MultiArray => "std_msgs/msg/Float64MultiArray", "std_msgs__msg__Float64MultiArray";
    sensor_msgs::JointState => "sensor_msgs/msg/JointState", "sensor_msgs__msg__JointState";
    sensor_msgs::Image => "sensor_msgs/msg/Image", "sensor_msgs__msg__Image";
    sensor_msgs::CompressedImage => "sensor_msgs/msg/CompressedImage", "sensor_msgs__msg__CompressedImage";
    sensor_msgs::CameraInfo => "sensor_msgs/msg/CameraInfo", "sensor_msgs__msg__CameraInfo";
    trajectory_msgs::JointTrajectory => "trajectory_msgs/msg/JointTrajectory", "trajectory_msgs__msg__JointTrajectory";
    trajectory_msgs::JointTrajectoryPoint => "trajectory_msgs/msg/JointTrajectoryPoint", "trajectory_msgs__msg__JointTrajectoryPoint";
    rosgraph_msgs::Clock => "rosgraph_msgs/msg/Clock", "rosgraph_msgs__msg__Clock";
    diagnostic_msgs::DiagnosticArray => "diagnostic_msgs/msg/DiagnosticArray", "diagnostic_msgs__msg__DiagnosticArray";
    diagnostic_msgs::DiagnosticStatus => "diagnostic_msgs/msg/DiagnosticStatus", "diagnostic_msgs__msg__DiagnosticStatus";
    diagnostic_msgs::KeyValue => "diagnostic_msgs/msg/KeyValue", "diagnostic_msgs__msg__KeyValue";
}

/// A ROS time from nanoseconds since the epoch (seconds saturate at the `i32` range).
pub fn time_from_nanos(ns: i64) -> builtin_interfaces::Time {
    let sec = ns.div_euclid(1_000_000_000);
    builtin_interfaces::Time {
        sec: sec.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        nanosec: ns.rem_euclid(1_000_000_000) as u32,
    }
}

/// Nanoseconds since the epoch of a ROS time.
pub fn time_to_nanos(t: &builtin_interfaces::Time) -> i64 {
    t.sec as i64 * 1_000_000_000 + t.nanosec as i64
}
