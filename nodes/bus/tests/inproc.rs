//! The in-process backend behaves like the network one.

use kotoba_bus::{Bus, Qos, TopicSpec};
use kotoba_msgs::{sensor_msgs::JointState, std_msgs};
use std::time::Duration;

#[test]
fn delivers_synchronously_with_keep_last() {
    let bus = Bus::inproc();
    let sub = bus.subscriber::<JointState>("/js", Qos::default().with_depth(3)).unwrap();
    let p = bus.publisher::<JointState>("/js", Qos::default()).unwrap();
    for i in 0..5 {
        p.publish(&JointState { position: vec![i as f64], ..Default::default() }).unwrap();
    }
    let got: Vec<f64> = std::iter::from_fn(|| sub.try_recv()).map(|m| m.position[0]).collect();
    assert_eq!(got, vec![2.0, 3.0, 4.0]);
    assert_eq!(sub.stats().overflowed, 2);
}

#[test]
fn latched_and_type_clash() {
    let bus = Bus::inproc();
    let p = bus.publisher::<std_msgs::String>("/robot_description", Qos::latched()).unwrap();
    p.publish(&std_msgs::String { data: "urdf".into() }).unwrap();
    let sub = bus.subscriber::<std_msgs::String>("/robot_description", Qos::latched()).unwrap();
    assert_eq!(sub.try_recv().unwrap().data, "urdf");
    let err = bus.subscriber::<JointState>("/robot_description", Qos::default()).err().unwrap();
    assert!(err.to_string().contains("already carries std_msgs/msg/String"), "{err}");
}

#[test]
fn malformed_payloads_are_counted() {
    let bus = Bus::inproc();
    let sub = bus.subscriber::<JointState>("/js", Qos::default()).unwrap();
    let raw = bus.raw_publisher(&TopicSpec::of::<JointState>("/js", Qos::default()).unwrap()).unwrap();
    raw.publish(&[0, 1, 0, 0, 9]).unwrap();
    raw.publish(&[]).unwrap();
    assert!(sub.try_recv().is_none());
    assert_eq!(sub.stats().malformed, 2);
    assert_eq!(bus.stats()["/js"].received, 2);
}

#[tokio::test]
async fn async_recv_wakes_up() {
    let bus = Bus::inproc();
    let sub = bus.subscriber::<std_msgs::String>("/t", Qos::default()).unwrap();
    let p = bus.publisher::<std_msgs::String>("/t", Qos::default()).unwrap();
    let h = tokio::spawn(async move { sub.recv().await.data });
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.publish(&std_msgs::String { data: "x".into() }).unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(2), h).await.unwrap().unwrap(), "x");
}

#[test]
fn bad_topic_names_are_rejected() {
    let bus = Bus::inproc();
    assert!(bus.publisher::<std_msgs::String>("/a b", Qos::default()).is_err());
}

#[test]
fn callbacks_get_every_message_and_skip_malformed_ones() {
    let bus = Bus::inproc();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let cb = bus
        .callback::<JointState>("/js", Qos::default(), move |m| g.lock().unwrap().push(m.position[0]))
        .unwrap();
    let p = bus.publisher::<JointState>("/js", Qos::default()).unwrap();
    let raw = bus.raw_publisher(&TopicSpec::of::<JointState>("/js", Qos::default()).unwrap()).unwrap();
    for i in 0..5 {
        p.publish(&JointState { position: vec![i as f64], ..Default::default() }).unwrap();
    }
    raw.publish(&[0, 1, 0, 0, 9]).unwrap();
    assert_eq!(*got.lock().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!((cb.stats().delivered, cb.stats().malformed), (5, 1));
    drop(cb);
    p.publish(&JointState { position: vec![9.0], ..Default::default() }).unwrap();
    assert_eq!(got.lock().unwrap().len(), 5, "a dropped callback subscription is undeclared");
}
