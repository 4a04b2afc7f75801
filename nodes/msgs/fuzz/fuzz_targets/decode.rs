//! Feeds arbitrary bytes to the decoder of every supported message type; any
//! panic, abort or runaway allocation is a bug. Run with
//! `cargo fuzz run decode` from `nodes/msgs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for entry in kotoba_msgs::registry() {
        let _ = (entry.to_json)(data);
    }
    // Also with a valid header, so the fuzzer reaches the message bodies quickly.
    let mut framed = vec![0u8, 1, 0, 0];
    framed.extend_from_slice(data);
    for entry in kotoba_msgs::registry() {
        let _ = (entry.to_json)(&framed);
    }
});
