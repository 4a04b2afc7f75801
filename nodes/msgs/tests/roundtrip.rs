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
