//! Timing of the encoder's CPU paths, interleaved in one process so that a busy
//! host slows every variant alike. Ignored by default (they need quiet-ish cores
//! and take a while): `cargo test -p kotoba-text --lib timing -- --ignored --nocapture`.

use std::time::Instant;

use crate::config::BertEncoderConfig;
use crate::encoder::TextEncoder;

use super::{BertEncoder, CpuPaths};

/// Median over `reps` of the seconds one pass over `batches` takes.
pub(crate) fn median_secs(reps: usize, mut pass: impl FnMut()) -> f64 {
    pass(); // warm-up
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            pass();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// The four combinations of the CPU paths, interleaved: each round times every
/// variant once at batch 1 and batch 32 (all 64 sentences); medians of the rounds.
#[test]
#[ignore = "timing; run by hand"]
fn embed_rates() {
    let s = crate::bench_sentences();
    let refs: Vec<&str> = s.iter().map(String::as_str).collect();
    let variants: Vec<(String, BertEncoder)> = [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .map(|(packed_tokens, packed_weights)| {
            let paths = CpuPaths { packed_tokens, packed_weights };
            let enc = BertEncoder::load_with(&BertEncoderConfig::default(), paths).unwrap();
            (format!("tokens packed {packed_tokens:5}, weights packed {packed_weights:5}"), enc)
        })
        .collect();
    let rounds = 9;
    let mut secs = vec![(Vec::new(), Vec::new()); variants.len()];
    for _ in 0..rounds {
        for ((_, enc), (b1, b32)) in variants.iter().zip(&mut secs) {
            b1.push(median_secs(1, || {
                for t in &refs {
                    enc.embed(&[t]).unwrap();
                }
            }));
            b32.push(median_secs(1, || {
                for c in refs.chunks(32) {
                    enc.embed(c).unwrap();
                }
            }));
        }
    }
    for ((name, _), (b1, b32)) in variants.iter().zip(&mut secs) {
        b1.sort_by(f64::total_cmp);
        b32.sort_by(f64::total_cmp);
        let n = refs.len() as f64;
        eprintln!(
            "{name}: batch 1 {:6.1}/s, batch 32 {:6.1}/s (medians of {rounds})",
            n / b1[rounds / 2],
            n / b32[rounds / 2]
        );
    }
}

/// The default paths alone for about five seconds at batch 32, then five at batch
/// 1: a target for `perf record`.
#[test]
#[ignore = "timing; run by hand"]
fn default_paths_for_a_profiler() {
    let enc = BertEncoder::load(&BertEncoderConfig::default()).unwrap();
    let s = crate::bench_sentences();
    let refs: Vec<&str> = s.iter().map(String::as_str).collect();
    for batch in [32, 1] {
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < 5.0 {
            for c in refs.chunks(batch) {
                enc.embed(c).unwrap();
            }
        }
    }
}
