//! candle vs. sentence-transformers on the sentences of tests/data/golden_minilm.json
//! (written by scripts/text_golden.py).

mod common;

use kotoba_text::{TextEncoder, cosine};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    model_id: String,
    max_seq_length: usize,
    sentences: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn golden() -> Golden {
    let text = include_str!("data/golden_minilm.json");
    serde_json::from_str(text).expect("golden file parses")
}

#[test]
fn every_embedding_matches_the_reference() {
    let g = golden();
    assert!(
        g.sentences.len() >= 10,
        "the golden file must hold at least 10 sentences"
    );
    let enc = common::encoder();
    assert_eq!(enc.model_id(), g.model_id);
    assert_eq!(enc.dim(), 384);
    let texts: Vec<&str> = g.sentences.iter().map(|e| e.text.as_str()).collect();
    let got = enc.embed(&texts).unwrap();
    assert_eq!(got.len(), texts.len());
    let mut worst = f32::INFINITY;
    let mut failures = Vec::new();
    for (e, v) in g.sentences.iter().zip(&got) {
        let c = cosine(&e.embedding, v).expect("same length, non-zero");
        worst = worst.min(c);
        if c < 0.9999 {
            failures.push(format!("cos {c:.6} for {:?}", e.text));
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm} for {:?}", e.text);
    }
    assert!(failures.is_empty(), "below 0.9999: {failures:#?}");
    eprintln!("lowest cosine to the reference: {worst:.7}");
}

#[test]
fn one_at_a_time_gives_the_batched_vectors() {
    let g = golden();
    let enc = common::encoder();
    for e in &g.sentences {
        let alone = enc.embed_one(&e.text).unwrap();
        let c = cosine(&e.embedding, &alone).unwrap();
        assert!(c >= 0.9999, "cos {c} for {:?} embedded alone", e.text);
    }
}

#[test]
fn token_counts_and_truncation_match_the_reference() {
    let g = golden();
    let enc = common::encoder();
    assert_eq!(enc.max_tokens(), g.max_seq_length);
    for e in &g.sentences {
        assert_eq!(enc.count_tokens(&e.text).unwrap(), e.tokens, "{:?}", e.text);
    }
    // The long sentence is the one that exercises truncation.
    assert!(g.sentences.iter().any(|e| e.tokens > g.max_seq_length));
}
