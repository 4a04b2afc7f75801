//! Property tests: every message survives encode → decode unchanged.

use kotoba_msgs::*;
use proptest::prelude::*;

fn time() -> impl Strategy<Value = builtin_interfaces::Time> {
    (any::<i32>(), 0u32..1_000_000_000).prop_map(|(sec, nanosec)| builtin_interfaces::Time { sec, nanosec })
}

fn header() -> impl Strategy<Value = std_msgs::Header> {
    (time(), ".{0,12}").prop_map(|(stamp, frame_id)| std_msgs::Header { stamp, frame_id })
}

fn floats(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(any::<f64>().prop_filter("NaN != NaN", |x| !x.is_nan()), 0..n)
}

proptest! {
    #[test]
    fn joint_state(header in header(), names in prop::collection::vec("[a-z_0-9]{0,10}", 0..8),
                   p in floats(8), v in floats(8), e in floats(8)) {
        let m = sensor_msgs::JointState { header, name: names, position: p, velocity: v, effort: e };
        let back: sensor_msgs::JointState = decode(&encode(&m)).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{m:?}"));
    }

    #[test]
    fn image(header in header(), w in 0u32..8, h in 0u32..8, data in prop::collection::vec(any::<u8>(), 0..200)) {
        let m = sensor_msgs::Image { header, height: h, width: w, encoding: "rgb8".into(), is_bigendian: 0,
                                     step: w * 3, data: ZBuf::from(data.clone()) };
        let back: sensor_msgs::Image = decode(&encode(&m)).unwrap();
        let bytes = kotoba_msgs::zbuf_bytes(&back.data).into_owned();
        prop_assert_eq!(&bytes[..], &data[..]);
        prop_assert_eq!((back.width, back.height, back.step), (w, h, w * 3));
    }

    #[test]
    fn trajectory(header in header(), names in prop::collection::vec("[a-z]{1,6}", 0..7),
                  pts in prop::collection::vec((floats(7), floats(7), any::<i32>(), 0u32..1_000_000_000), 0..5)) {
        let m = trajectory_msgs::JointTrajectory {
            header,
            joint_names: names,
            points: pts.into_iter().map(|(p, v, s, ns)| trajectory_msgs::JointTrajectoryPoint {
                positions: p, velocities: v, time_from_start: builtin_interfaces::Duration { sec: s, nanosec: ns },
                ..Default::default()
            }).collect(),
        };
        let back: trajectory_msgs::JointTrajectory = decode(&encode(&m)).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{m:?}"));
    }

    #[test]
    fn string_and_array(s in ".{0,64}", data in floats(16)) {
        let m = std_msgs::String { data: s };
        let back: std_msgs::String = decode(&encode(&m)).unwrap();
        prop_assert_eq!(back.data, m.data);
        let a = std_msgs::Float64MultiArray { data, ..Default::default() };
        let back: std_msgs::Float64MultiArray = decode(&encode(&a)).unwrap();
        prop_assert_eq!(back.data, a.data);
    }

    /// Arbitrary bytes never panic the decoder, whatever type is asked for.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut b = bytes;
        if b.len() >= 2 { b[0] = 0; b[1] = 1; }
        for e in registry() {
            let _ = (e.to_json)(&b);
        }
    }
}

/// Nested sequences, fixed arrays and odd-length strings before 8-byte fields
/// pass the schema bounds check that runs before every decode.
#[test]
fn nested_and_fixed_arrays_survive_the_bounds_check() {
    let cases = [
        ("diagnostic_msgs/msg/DiagnosticArray", serde_json::json!({
            "header": {"stamp": {"sec": 3, "nanosec": 7}, "frame_id": "abc"},
            "status": [
                {"level": 2, "name": "x", "message": "odd", "hardware_id": "",
                 "values": [{"key": "k", "value": "vvv"}, {"key": "", "value": "w"}]},
                {"level": 0, "name": "yy", "message": "", "hardware_id": "h", "values": []}
            ]
        })),
        ("std_msgs/msg/Float64MultiArray", serde_json::json!({
            "layout": {"dim": [{"label": "a", "size": 2, "stride": 6}, {"label": "bcd", "size": 3, "stride": 3}],
                       "data_offset": 1},
            "data": [1.5, -2.0, 3.25, 4.0, 5.0, 6.0, 7.0]
        })),
        ("sensor_msgs/msg/CameraInfo", serde_json::json!({
            "header": {"stamp": {"sec": 1, "nanosec": 2}, "frame_id": "cam"},
            "height": 4, "width": 6, "distortion_model": "plumb_bob",
            "d": [0.1, 0.2, 0.0, 0.0, 0.3],
            "k": [1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0],
            "binning_x": 1, "roi": {"x_offset": 1, "height": 2, "do_rectify": true}
        })),
    ];
    for (name, json) in cases {
        let e = lookup(name).unwrap();
        let bytes = (e.from_json)(json.clone()).unwrap();
        let back = (e.to_json)(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        // Every field given comes back as given.
        fn contains(big: &serde_json::Value, small: &serde_json::Value) -> bool {
            match (big, small) {
                (serde_json::Value::Object(b), serde_json::Value::Object(s)) => {
                    s.iter().all(|(k, v)| b.get(k).is_some_and(|bv| contains(bv, v)))
                }
                (serde_json::Value::Array(b), serde_json::Value::Array(s)) => {
                    b.len() == s.len() && b.iter().zip(s).all(|(x, y)| contains(x, y))
                }
                (serde_json::Value::Number(b), serde_json::Value::Number(s)) => b.as_f64() == s.as_f64(),
                (b, s) => b == s,
            }
        }
        assert!(contains(&back, &json), "{name}: {back}");
        // Truncating the payload anywhere is an error, never a panic.
        for cut in 4..bytes.len() {
            assert!((e.to_json)(&bytes[..cut]).is_err(), "{name} cut at {cut} of {}", bytes.len());
        }
    }
}
