//! The sentences `kotoba bench text` embeds, shared with this crate's own
//! timing tests so both time the same work.

/// 64 instructions and labels of mixed length (3 to 16 words), like those spoken to the robot.
pub fn bench_sentences() -> Vec<String> {
    let verbs = ["fold", "grasp", "hold", "lift", "release", "smooth", "pull", "rotate"];
    let objects = [
        "the towel in half",
        "the left corner of the towel",
        "the towel from bottom to top and then press it flat with both hands",
        "the cloth",
        "the bottom edge of the blue towel with the right gripper",
        "the towel corner to corner",
        "the towel gently",
        "the top right corner slowly while keeping the other corner on the table",
    ];
    verbs.iter().flat_map(|v| objects.iter().map(move |o| format!("{v} {o}"))).collect()
}
