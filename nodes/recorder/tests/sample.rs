//! The sample dataset committed in `demos/sample` (made by `examples/record_sim.rs`):
//! it opens, holds two successful scripted episodes per instruction with
//! joints, camera, commands, labels and the instruction, reads back as 10 Hz
//! samples, and the independent Python readers (rosbags, mcap) read every message.

mod common;
use common::*;
use kotoba_recorder::*;
use std::path::PathBuf;

#[test]
fn the_committed_sample_dataset_is_complete_and_readable() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../demos/sample");
    let ds = Dataset::open(&root).unwrap();
    assert_eq!(ds.episodes().len(), 6);
    let mut per_instruction = std::collections::BTreeMap::new();
    for e in ds.episodes() {
        *per_instruction.entry(e.instruction.clone()).or_insert(0) += 1;
        assert!(e.success, "{}", e.name);
        assert!(e.duration_s > 5.0, "{}: {} s", e.name, e.duration_s);
        for topic in ["/joint_states", "/camera/image_raw", "/arm_controller/commands", "/labels", "/instruction"] {
            assert!(e.message_counts.get(topic).copied().unwrap_or(0) > 0, "{}: no {topic}", e.name);
        }
        assert!(e.labels.len() >= 5, "{}: {} labels", e.name, e.labels.len());
        // The reader serves every episode as complete 10 Hz samples.
        let spec = SyncSpec {
            rate_hz: 10.0,
            streams: vec![
                StreamSpec { topic: "/joint_states".into(), kind: StreamKind::JointPosition, names: vec![] },
                StreamSpec { topic: "/camera/image_raw".into(), kind: StreamKind::Image, names: vec![] },
            ],
            max_age_s: Some(1.0),
        };
        let s = ds.reader(e).synced(&spec).unwrap();
        let n = s.frames.len();
        assert!(n as f64 >= 9.0 * e.duration_s, "{}: {n} samples over {} s", e.name, e.duration_s);
        // Only the wait for the first frame may be a gap.
        assert!(s.gaps.iter().all(|g| g.start_s == 0.0), "{}: {:?}", e.name, s.gaps);
        assert!(s.frames.iter().skip(5).all(|f| f.label.is_some() && f.instruction == e.instruction), "{}", e.name);
    }
    assert_eq!(per_instruction.len(), 3, "{per_instruction:?}");
    assert!(per_instruction.values().all(|&n| n == 2), "{per_instruction:?}");
    let out = check_with_python(&[&root]);
    assert!(out.contains("\"ok\": true, \"episodes\": 6"), "{out}");
}
