//! Cheap per-type payload checks, so malformed samples are counted and skipped
//! instead of landing in a bag that other tools then refuse.

use kotoba_msgs::DecodeError;

/// Checks that `cdr` decodes as the named type.
pub type Validator = fn(&[u8]) -> Result<(), DecodeError>;

/// The validator of a `pkg/msg/Name` type, if kotoba knows it.
pub fn validator(ros_name: &str) -> Option<Validator> {
    kotoba_msgs::registry().iter().find(|e| e.ros_name == ros_name).map(|e| e.validate)
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
