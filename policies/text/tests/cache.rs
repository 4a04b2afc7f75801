//! EmbeddingCache: keyed by (model id, text), saved and loaded bit-exactly.

mod common;

use common::TempDir;
use kotoba_text::{CACHE_FORMAT, EmbeddingCache, Result, TextEncoder, TextError};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The real encoder, counting how many texts it was asked to embed.
struct Counting<'a>(&'a dyn TextEncoder, AtomicUsize);

impl TextEncoder for Counting<'_> {
    fn model_id(&self) -> &str {
        self.0.model_id()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.1.fetch_add(texts.len(), Ordering::Relaxed);
        self.0.embed(texts)
    }
}

#[test]
fn known_phrases_need_no_encoder_run_and_survive_a_round_trip() {
    let enc = Counting(common::encoder(), AtomicUsize::new(0));
    let mut cache = EmbeddingCache::new();
    let first = cache
        .get_or_embed(&enc, "grasping the corner")
        .unwrap()
        .to_vec();
    let again = cache
        .get_or_embed(&enc, "grasping the corner")
        .unwrap()
        .to_vec();
    assert_eq!(first, again);
    assert_eq!(enc.1.load(Ordering::Relaxed), 1);

    let texts = [
        "holding the towel",
        "grasping the corner",
        "releasing",
        "holding the towel",
    ];
    let many: Vec<Vec<f32>> = cache
        .get_or_embed_many(&enc, &texts)
        .unwrap()
        .into_iter()
        .map(<[f32]>::to_vec)
        .collect();
    // Only the two new phrases went through the encoder, once each.
    assert_eq!(enc.1.load(Ordering::Relaxed), 3);
    assert_eq!(many[1], first);
    assert_eq!(many[0], many[3]);
    assert_eq!(cache.len(), 3);

    let dir = TempDir::new("cache");
    let path = dir.0.join("embeddings.json");
    cache.save(&path).unwrap();
    let loaded = EmbeddingCache::load(&path).unwrap();
    assert_eq!(loaded, cache, "vectors must come back bit-identical");
    let id = enc.model_id();
    assert_eq!(loaded.lookup(id, "releasing").unwrap(), &many[2][..]);
    assert_eq!(loaded.dim(id), Some(384));
    assert_eq!(
        loaded.texts(id).collect::<Vec<_>>(),
        ["grasping the corner", "holding the towel", "releasing"]
    );
}

#[test]
fn unknown_phrase_lookup_is_an_error() {
    let cache = EmbeddingCache::new();
    assert!(cache.get("m", "fold").is_none());
    let e = cache.lookup("m", "fold").unwrap_err();
    assert!(matches!(e, TextError::NotCached { .. }), "{e:?}");
    assert!(e.to_string().contains("\"fold\""), "{e}");
}

#[test]
fn keys_are_per_model() {
    let mut cache = EmbeddingCache::new();
    cache.insert("a", "fold", vec![1.0, 0.0]).unwrap();
    cache.insert("b", "fold", vec![0.0, 1.0, 0.0]).unwrap();
    assert_eq!(cache.get("a", "fold"), Some(&[1.0, 0.0][..]));
    assert_eq!(cache.get("b", "fold"), Some(&[0.0, 1.0, 0.0][..]));
    assert_eq!(cache.model_ids().collect::<Vec<_>>(), ["a", "b"]);
    let e = cache.insert("a", "hold", vec![1.0]).unwrap_err();
    assert!(
        matches!(
            e,
            TextError::DimensionMismatch {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn merge_adds_entries_and_refuses_conflicts() {
    let mut a = EmbeddingCache::new();
    a.insert("m", "fold", vec![1.0, 0.0]).unwrap();
    let mut b = EmbeddingCache::new();
    b.insert("m", "fold", vec![1.0, 0.0]).unwrap();
    b.insert("m", "hold", vec![0.0, 1.0]).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(a.len(), 2);
    let mut c = EmbeddingCache::new();
    c.insert("m", "hold", vec![0.6, 0.8]).unwrap();
    let e = a.merge(&c).unwrap_err();
    assert!(matches!(e, TextError::CacheConflict { .. }), "{e:?}");
    assert_eq!(
        a.get("m", "hold"),
        Some(&[0.0, 1.0][..]),
        "a failed merge keeps the old vector"
    );
}

#[test]
fn bad_cache_files_are_refused_with_the_reason() {
    let dir = TempDir::new("badcache");
    let path = dir.0.join("c.json");
    let cases = [
        ("not json", "expected"),
        (r#"{"format":"other/9","models":{}}"#, "format \"other/9\""),
        (
            &format!(
                r#"{{"format":"{CACHE_FORMAT}","models":{{"m":{{"dim":2,"vectors":{{"x":[1.0]}}}}}}}}"#
            ),
            "has 1 values",
        ),
    ];
    for (body, want) in cases {
        std::fs::write(&path, body).unwrap();
        let e = EmbeddingCache::load(&path).unwrap_err();
        assert!(matches!(e, TextError::CacheFormat { .. }), "{e:?}");
        assert!(e.to_string().contains(want), "{e} should mention {want}");
    }
    let e = EmbeddingCache::load(dir.0.join("absent.json")).unwrap_err();
    assert!(matches!(e, TextError::CacheIo { .. }), "{e:?}");
}
