//! Cheap per-type payload checks, so malformed samples are counted and skipped
//! instead of landing in a bag that other tools then refuse.

use kotoba_msgs::{DecodeError, Message};
// The registry macro names types relative to these modules.
use kotoba_msgs::{builtin_interfaces, diagnostic_msgs, rosgraph_msgs, sensor_msgs, std_msgs, trajectory_msgs};

/// Checks that `cdr` decodes as the named type.
pub type Validator = fn(&[u8]) -> Result<(), DecodeError>;

fn check<M: Message>(cdr: &[u8]) -> Result<(), DecodeError> {
    kotoba_msgs::decode::<M>(cdr).map(|_| ())
}

/// The validator of a `pkg/msg/Name` type, if kotoba knows it.
pub fn validator(ros_name: &str) -> Option<Validator> {
    let mut found: Option<Validator> = None;
    macro_rules! probe {
        ($ty:ty) => {
            if found.is_none() && <$ty as Message>::ROS_NAME == ros_name {
                found = Some(check::<$ty>);
            }
        };
    }
    kotoba_msgs::for_each_message!(probe);
    found
}

/// The names of every type the recorder can store, for error messages.
pub fn supported_types() -> String {
    kotoba_msgs::registry().iter().map(|e| e.ros_name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_checks() {
        let v = validator("std_msgs/msg/String").unwrap();
        let good = kotoba_msgs::encode(&kotoba_msgs::std_msgs::String { data: "hi".into() });
        assert!(v(&good).is_ok());
        assert!(v(&good[..good.len() - 3]).is_err());
        assert!(v(&[1, 2]).is_err());
        assert!(validator("nope/msg/Nope").is_none());
    }
}
