//! Publish/subscribe over a real Zenoh session and router, with rmw_zenoh keys.

mod common;
use common::*;
use kotoba_bus::{Qos, TopicSpec};
use kotoba_msgs::{encode, sensor_msgs::JointState, std_msgs};
use std::time::Duration;

fn js(x: f64) -> JointState {
    JointState { name: vec!["a".into(), "b".into()], position: vec![x, -x], ..Default::default() }
}

#[test]
fn typed_round_trip_between_two_nodes() {
    let net = net();
    let (a, b) = (net.node("talker"), net.node("listener"));
    let sub = b.subscriber::<JointState>("/joint_states", Qos::default()).unwrap();
    let publisher = a.publisher::<JointState>("joint_states", Qos::default()).unwrap();
    // Publish until discovery has completed and the first sample arrives.
    let mut got = None;
    assert!(wait_until(10.0, || {
        publisher.publish(&js(1.5)).unwrap();
        got = sub.recv_timeout(Duration::from_millis(50));
        got.is_some()
    }));
    assert_eq!(got.unwrap().position, vec![1.5, -1.5]);
    for i in 0..20 {
        publisher.publish(&js(i as f64)).unwrap();
    }
    let mut last = None;
    while let Some(m) = sub.recv_timeout(Duration::from_secs(2)) {
        last = Some(m.position[0]);
        if last == Some(19.0) {
            break;
        }
    }
    assert_eq!(last, Some(19.0));
    let s = sub.stats();
    assert_eq!((s.malformed, s.wrong_type, s.missing_attachment), (0, 0, 0));
}

#[test]
fn callbacks_receive_over_zenoh() {
    let net = net();
    let (a, b) = (net.node("talker"), net.node("listener"));
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let _cb = b
        .callback::<JointState>("/joint_states", Qos::default(), move |m| {
            let _ = tx.lock().unwrap().send(m.position[0]);
        })
        .unwrap();
    let publisher = a.publisher::<JointState>("/joint_states", Qos::default()).unwrap();
    assert!(wait_until(10.0, || {
        publisher.publish(&js(-1.0)).unwrap();
        rx.recv_timeout(Duration::from_millis(50)).is_ok()
    }));
    // As in the typed round trip: a burst, and its last message must arrive (one
    // sent while the peers switch from the router's route to their direct link
    // can be lost; a single message failed so once under the full test load).
    for i in 0..20 {
        publisher.publish(&js(i as f64)).unwrap();
    }
    let got = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(2)).ok()).find(|&x| x == 19.0);
    assert_eq!(got, Some(19.0));
}

#[test]
fn graph_lists_both_endpoints_with_types() {
    let net = net();
    let (a, b) = (net.node("talker"), net.node("listener"));
    let _p = a.publisher::<std_msgs::String>("/chatter", Qos::default()).unwrap();
    let _s = b.subscriber::<std_msgs::String>("/chatter", Qos::default()).unwrap();
    assert!(wait_until(10.0, || b.topics().iter().any(|t| t.topic == "/chatter" && t.publishers >= 1 && t.subscribers >= 1)));
    let t = b.topics().into_iter().find(|t| t.topic == "/chatter").unwrap();
    assert_eq!(t.ros_type, "std_msgs/msg/String");
}

#[test]
fn malformed_and_foreign_type_samples_are_counted_not_delivered() {
    let net = net();
    let (a, b) = (net.node("bad_talker"), net.node("listener"));
    let sub = b.subscriber::<JointState>("/js", Qos::default()).unwrap();
    let good = a.publisher::<JointState>("/js", Qos::default()).unwrap();
    assert!(wait_until(10.0, || {
        good.publish(&js(0.0)).unwrap();
        sub.recv_timeout(Duration::from_millis(50)).is_some()
    }));
    // Same topic, JointState's key, but a truncated payload.
    let raw = a.raw_publisher(&TopicSpec::of::<JointState>("/js", Qos::default()).unwrap()).unwrap();
    let full = encode(&js(2.0));
    // Each kind is sent until it is counted: a publisher's first samples can be
    // dropped before it learns of the subscriber (it failed so under load).
    for bad in [&full[..full.len() - 9], &[0xde, 0xad][..]] {
        let before = sub.stats().malformed;
        assert!(wait_until(10.0, || {
            raw.publish(bad).unwrap();
            sub.stats().malformed > before
        }));
    }
    // Same topic name, another type.
    let other = a.publisher::<std_msgs::String>("/js", Qos::default()).unwrap();
    assert!(wait_until(10.0, || {
        other.publish(&std_msgs::String { data: "hi".into() }).unwrap();
        sub.stats().wrong_type > 0
    }));
    while sub.try_recv().is_some() {}
    good.publish(&js(3.0)).unwrap();
    let next = sub.recv_timeout(Duration::from_secs(5)).expect("good samples still flow");
    assert_eq!(next.position[0], 3.0);
}

#[test]
fn transient_local_serves_late_joiners() {
    let net = net();
    let a = net.node("describer");
    let publisher = a.publisher::<std_msgs::String>("/robot_description", Qos::latched()).unwrap();
    publisher.publish(&std_msgs::String { data: "<robot name='k'/>".into() }).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let b = net.node("late");
    let sub = b.subscriber::<std_msgs::String>("/robot_description", Qos::latched()).unwrap();
    let got = sub.recv_timeout(Duration::from_secs(10)).expect("latched sample for a late joiner");
    assert_eq!(got.data, "<robot name='k'/>");
}

#[test]
fn latest_reader_sees_newest_value() {
    let net = net();
    let (a, b) = (net.node("enc"), net.node("ctrl"));
    let mut latest = b.latest::<JointState>("/joint_states", Qos::sensor_data()).unwrap();
    let publisher = a.publisher::<JointState>("/joint_states", Qos::sensor_data()).unwrap();
    assert!(wait_until(10.0, || {
        publisher.publish(&js(7.0)).unwrap();
        latest.count() > 0
    }));
    publisher.publish(&js(8.0)).unwrap();
    assert!(wait_until(5.0, || latest.read().is_some_and(|(m, _)| m.position[0] == 8.0)));
    let (_, fresh) = latest.read().unwrap();
    assert!(!fresh, "a second read without new data is not fresh");
}
