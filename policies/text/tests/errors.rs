//! Bad input gives a clear error, never a panic.

mod common;

use common::TempDir;
use kotoba_text::{BertEncoder, BertEncoderConfig, TextEncoder, TextError, default_model_dir};
use std::path::Path;

fn load(dir: &Path) -> Result<BertEncoder, TextError> {
    BertEncoder::load(&BertEncoderConfig {
        model_dir: dir.to_path_buf(),
        ..Default::default()
    })
}

/// A folder with the real config and tokenizer (edited by `edit`) and the real weights
/// linked in, to build broken models cheaply.
fn model_copy(tag: &str, edit: impl FnOnce(&mut serde_json::Value)) -> TempDir {
    common::encoder(); // fails with the install hint when the model is absent
    let src = default_model_dir();
    let dir = TempDir::new(tag);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.0.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(src.join("tokenizer.json"), dir.0.join("tokenizer.json")).unwrap();
    std::os::unix::fs::symlink(
        src.join("model.safetensors"),
        dir.0.join("model.safetensors"),
    )
    .unwrap();
    dir
}

#[test]
fn missing_folder_says_how_to_install() {
    let e = load(Path::new("/nonexistent/kotoba/model")).unwrap_err();
    assert!(matches!(e, TextError::ModelMissing { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("scripts/setup_text_model.sh") && msg.contains("/nonexistent"),
        "{msg}"
    );
}

#[test]
fn folder_without_weights_names_the_missing_file() {
    let dir = TempDir::new("noweights");
    std::fs::write(dir.0.join("config.json"), "{}").unwrap();
    let msg = load(&dir.0).unwrap_err().to_string();
    assert!(
        msg.contains("tokenizer.json, model.safetensors is missing"),
        "{msg}"
    );
    assert!(msg.contains("scripts/setup_text_model.sh"), "{msg}");
}

#[test]
fn garbage_config_is_an_invalid_model() {
    let dir = TempDir::new("garbage");
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(dir.0.join(f), "not json").unwrap();
    }
    let e = load(&dir.0).unwrap_err();
    assert!(matches!(e, TextError::InvalidModel { .. }), "{e:?}");
    assert!(e.to_string().contains("config.json"), "{e}");
}

#[test]
fn tokenizer_of_another_vocabulary_is_refused() {
    let dir = model_copy("vocab", |c| c["vocab_size"] = 50_000.into());
    let e = load(&dir.0).unwrap_err();
    assert!(matches!(e, TextError::TokenizerMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("30522 tokens") && msg.contains("vocab_size 50000"),
        "{msg}"
    );
}

#[test]
fn weights_that_do_not_fit_the_config_are_refused() {
    let dir = model_copy("shape", |c| c["hidden_size"] = 768.into());
    let e = load(&dir.0).unwrap_err();
    assert!(matches!(e, TextError::InvalidModel { .. }), "{e:?}");
    assert!(
        e.to_string().contains("weights do not fit config.json"),
        "{e}"
    );
}

#[test]
fn corrupt_weights_are_refused() {
    let dir = model_copy("corrupt", |_| {});
    std::fs::remove_file(dir.0.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.0.join("model.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}garbage",
    )
    .unwrap();
    let e = load(&dir.0).unwrap_err();
    assert!(matches!(e, TextError::InvalidModel { .. }), "{e:?}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

#[test]
fn max_tokens_beyond_the_position_table_is_a_config_error() {
    let cfg = BertEncoderConfig {
        max_tokens: Some(4096),
        ..Default::default()
    };
    common::encoder();
    let e = BertEncoder::load(&cfg).unwrap_err();
    assert!(matches!(e, TextError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("512"), "{e}");
}

#[test]
fn empty_text_is_an_error_naming_its_index() {
    let enc = common::encoder();
    for (texts, index) in [(&["fold", "  \t"][..], 1), (&[""][..], 0)] {
        match enc.embed(texts) {
            Err(TextError::EmptyText { index: i }) => assert_eq!(i, index),
            other => panic!("expected EmptyText for {texts:?}, got {other:?}"),
        }
    }
    assert!(enc.embed_one("").unwrap_err().to_string().contains("empty"));
}

#[test]
fn an_empty_batch_gives_no_vectors() {
    assert!(common::encoder().embed(&[]).unwrap().is_empty());
}

#[test]
fn very_long_text_is_truncated_not_refused() {
    let enc = common::encoder();
    let long = "towel ".repeat(5000);
    assert_eq!(enc.count_tokens(&long).unwrap(), 5002);
    let a = enc.embed_one(&long).unwrap();
    // Only the first max_tokens - 2 word pieces count, so a longer tail changes nothing.
    let b = enc.embed_one(&"towel ".repeat(300)).unwrap();
    assert_eq!(a.len(), 384);
    assert!(kotoba_text::cosine(&a, &b).unwrap() > 0.99999);
}
