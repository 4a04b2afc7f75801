//! Golden values from `shared/reference/ros2.md` §1.5 and §1.9. They were
//! computed (REP-2011 hashing re-implemented independently, the CDR vector worked
//! out by hand), not captured from a live ROS 2 system.

use kotoba_msgs::*;

#[test]
fn type_hashes_match_rep2011() {
    let golden = [
        ("std_msgs/msg/String", "df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"),
        ("sensor_msgs/msg/JointState", "a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"),
        ("sensor_msgs/msg/Image", "d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47"),
        ("trajectory_msgs/msg/JointTrajectory", "179b33eba59d676f6d967ac71fe35e7ca2f64b2f3928f4a018cec115e213796e"),
        ("trajectory_msgs/msg/JointTrajectoryPoint", "de8907036d8bd45aac6f30cc9044a3d4a329c42cbf719aff7d95a584cfa532d7"),
        ("sensor_msgs/msg/CompressedImage", "15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a"),
        ("sensor_msgs/msg/CameraInfo", "b3dfd68ff46c9d56c80fd3bd4ed22c7a4ddce8c8348f2f59c299e73118e7e275"),
        ("std_msgs/msg/Header", "f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01"),
        ("builtin_interfaces/msg/Time", "b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197"),
        ("std_msgs/msg/Float64MultiArray", "1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f"),
        ("rosgraph_msgs/msg/Clock", "692f7a66e93a3c83e71765d033b60349ba68023a8c689a79e48078bcb5c58564"),
        // computed with shared/reference/tools/rihs.py from the Jazzy .msg files
        ("diagnostic_msgs/msg/DiagnosticArray", "5a8a36efb05fb25070fa0fb3810290c0e6cd4862b54a8fb975a1ee8dc55a333e"),
    ];
    for (name, hash) in golden {
        let e = lookup(name).unwrap_or_else(|| panic!("{name} not in the registry"));
        assert_eq!((e.type_hash)(), format!("RIHS01_{hash}"), "{name}");
    }
}

#[test]
fn dds_names_follow_rmw_zenoh() {
    assert_eq!(<sensor_msgs::JointState as Message>::dds_name(), "sensor_msgs::msg::dds_::JointState_");
    assert_eq!(<std_msgs::String as Message>::dds_name(), "std_msgs::msg::dds_::String_");
}

#[test]
fn joint_state_cdr_test_vector() {
    let m = sensor_msgs::JointState {
        header: std_msgs::Header { stamp: builtin_interfaces::Time { sec: 1, nanosec: 2 }, frame_id: String::new() },
        name: vec!["j1".into()],
        position: vec![1.0],
        velocity: vec![],
        effort: vec![],
    };
    let expected: [u8; 52] = [
        0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x6a, 0x31, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let bytes = encode(&m);
    assert_eq!(bytes, expected);
    let back: sensor_msgs::JointState = decode(&bytes).unwrap();
    assert_eq!(back.name, m.name);
    assert_eq!(back.position, m.position);
    assert_eq!(back.header.stamp.nanosec, 2);
}

#[test]
fn schema_texts_match_rosbag2_reference() {
    for (name, file) in [
        ("sensor_msgs/msg/JointState", "sensor_msgs__msg__JointState"),
        ("sensor_msgs/msg/Image", "sensor_msgs__msg__Image"),
        ("std_msgs/msg/String", "std_msgs__msg__String"),
        ("trajectory_msgs/msg/JointTrajectory", "trajectory_msgs__msg__JointTrajectory"),
    ] {
        let path = format!("{}/tests/golden/{file}.ros2msg", env!("CARGO_MANIFEST_DIR"));
        let golden = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lookup(name).unwrap().schema, golden, "{name}");
    }
}

#[test]
fn lookup_accepts_the_usual_spellings() {
    for n in ["sensor_msgs/msg/JointState", "sensor_msgs/JointState", "sensor_msgs::msg::dds_::JointState_"] {
        assert_eq!(lookup(n).map(|e| e.ros_name), Some("sensor_msgs/msg/JointState"), "{n}");
    }
    assert!(lookup("nope/msg/Nothing").is_none());
}

#[test]
fn partial_json_takes_defaults_like_ros2_topic_pub() {
    let e = lookup("sensor_msgs/msg/JointState").unwrap();
    let cdr = (e.from_json)(serde_json::json!({"name": ["a", "b"], "position": [0.5, 1.5]})).unwrap();
    let js: sensor_msgs::JointState = decode(&cdr).unwrap();
    assert_eq!(js.name, ["a", "b"]);
    assert_eq!(js.position, [0.5, 1.5]);
    assert!(js.velocity.is_empty());
    let v = (e.to_json)(&cdr).unwrap();
    assert_eq!(v["position"][1], 1.5);
    assert!((e.from_json)(serde_json::json!({"position": "not a list"})).is_err());
}

#[test]
fn bad_payloads_are_errors_not_panics() {
    assert!(matches!(decode::<std_msgs::String>(&[0, 1]), Err(DecodeError::TooShort(2))));
    assert!(matches!(decode::<std_msgs::String>(&[0, 0, 0, 0, 1, 0, 0, 0]), Err(DecodeError::Encapsulation(_))));
    let good = encode(&std_msgs::String { data: "hello".into() });
    for cut in 4..good.len() {
        assert!(decode::<sensor_msgs::JointState>(&good[..cut]).is_err() || cut == good.len());
    }
    // A sequence length far beyond the payload.
    let mut huge = vec![0, 1, 0, 0];
    huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
    assert!(decode::<sensor_msgs::JointState>(&huge).is_err());
}
