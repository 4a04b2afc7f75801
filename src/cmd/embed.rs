//! `kotoba embed`: print sentence embeddings; `kotoba bench text`: encoder throughput
//! next to the reference sentence-transformers implementation, measured in the same run.

use anyhow::{Context, Result, bail};
use clap::Args;
use kotoba_core::{BenchReport, BenchRow, Better};
use kotoba_text::{BertEncoder, BertEncoderConfig, DeviceConfig, TextEncoder};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Args)]
pub struct EmbedArgs {
    /// Text to embed; give several to get one vector each.
    #[arg(required = true, value_name = "TEXT")]
    pub texts: Vec<String>,
    /// Print JSON: {"model_id", "dim", "embeddings": [{"text", "embedding"}]}.
    #[arg(long)]
    pub json: bool,
    /// Model folder with config.json, tokenizer.json and model.safetensors
    /// [default: ~/.cache/kotoba/models/all-MiniLM-L6-v2, installed by scripts/setup_text_model.sh].
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

pub fn run(a: EmbedArgs) -> Result<()> {
    let mut cfg = BertEncoderConfig::default();
    if let Some(dir) = a.model_dir {
        cfg.model_dir = dir;
    }
    let enc = BertEncoder::load(&cfg)?;
    let texts: Vec<&str> = a.texts.iter().map(String::as_str).collect();
    let vectors = enc.embed(&texts)?;
    if a.json {
        // Serialised from f32 directly, so each number prints in its shortest exact form.
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            model_id: &'a str,
            dim: usize,
            embeddings: Vec<Item<'a>>,
        }
        #[derive(serde::Serialize)]
        struct Item<'a> {
            text: &'a str,
            embedding: &'a [f32],
        }
        let embeddings = texts
            .iter()
            .zip(&vectors)
            .map(|(t, v)| Item {
                text: t,
                embedding: v,
            })
            .collect();
        let doc = Doc {
            model_id: enc.model_id(),
            dim: enc.dim(),
            embeddings,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("model {} ({} dimensions)", enc.model_id(), enc.dim());
        for (t, v) in texts.iter().zip(&vectors) {
            let nums: Vec<String> = v.iter().map(f32::to_string).collect();
            println!("{t:?}\n[{}]", nums.join(", "));
        }
    }
    Ok(())
}

/// Sentences per second of `embed` over `batches` (round-robin) for about `seconds`.
fn rate(enc: &dyn TextEncoder, batches: &[Vec<&str>], seconds: f64) -> Result<f64> {
    enc.embed(&batches[0])?; // warm-up
    let (mut done, mut calls, start) = (0usize, 0usize, Instant::now());
    loop {
        let b = &batches[calls % batches.len()];
        enc.embed(b)?;
        done += b.len();
        calls += 1;
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= seconds && calls >= batches.len() {
            return Ok(done as f64 / elapsed);
        }
    }
}

struct Rates {
    batch1: f64,
    batch32: f64,
}

fn measure(enc: &dyn TextEncoder, sentences: &[String], seconds: f64) -> Result<Rates> {
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let singles: Vec<Vec<&str>> = refs.iter().map(|s| vec![*s]).collect();
    let thirty_twos: Vec<Vec<&str>> = refs.chunks(32).map(<[&str]>::to_vec).collect();
    Ok(Rates {
        batch1: rate(enc, &singles, seconds)?,
        batch32: rate(enc, &thirty_twos, seconds)?,
    })
}

/// Runs scripts/text_bench_reference.py (installing its packages first if needed).
fn reference(
    model_dir: &Path,
    sentences: &Path,
    seconds: f64,
    device: &str,
) -> Result<serde_json::Value> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = repo.join("scripts/text_setup_reference.sh");
    let status = Command::new("bash")
        .arg(&setup)
        .status()
        .with_context(|| format!("running {}", setup.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); the reference needs torch and sentence-transformers",
            setup.display()
        );
    }
    let secs = seconds.to_string();
    let out = Command::new(repo.join(".venv/bin/python"))
        .envs(kotoba_core::peer_allocator_env())
        .arg(repo.join("scripts/text_bench_reference.py"))
        .arg("--model-dir")
        .arg(model_dir)
        .arg("--sentences")
        .arg(sentences)
        .args(["--seconds", secs.as_str(), "--device", device])
        // The same CPU threads on both sides: ours are rayon's.
        .args(["--threads", &rayon::current_num_threads().to_string()])
        .output()
        .context("running scripts/text_bench_reference.py")?;
    if !out.status.success() {
        bail!(
            "reference bench failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    serde_json::from_str(&last).with_context(|| format!("reference bench printed {last:?}"))
}

fn rows(report: &mut BenchReport, device: &str, ours: &Rates, peer: Option<&serde_json::Value>) {
    for (label, value, key) in [
        ("batch 1", ours.batch1, "batch1"),
        ("batch 32", ours.batch32, "batch32"),
    ] {
        let row = BenchRow::new(format!("{label} ({device})"), value, "sentences/s");
        report.push(match peer.and_then(|p| p[key].as_f64()) {
            Some(p) => row.peer(p, Better::Higher).ratio_target(1.0),
            None => row,
        });
    }
}

/// `kotoba bench text`.
pub fn bench_text(quick: bool) -> Result<BenchReport> {
    let seconds = if quick { 1.0 } else { 5.0 };
    let cfg = BertEncoderConfig::default();
    let enc = BertEncoder::load(&cfg)?;
    let sentences = kotoba_text::bench_sentences();
    let list = std::env::temp_dir().join(format!("kotoba-bench-text-{}.json", std::process::id()));
    std::fs::write(&list, serde_json::to_vec(&sentences)?)?;

    let mut report = BenchReport::new("text");
    let tokens: usize = sentences
        .iter()
        .map(|s| enc.count_tokens(s))
        .sum::<Result<usize, kotoba_text::TextError>>()?;
    report.note(format!(
        "{} on {} sentences ({:.1} word pieces each on average), {seconds} s per figure",
        enc.model_id(),
        sentences.len(),
        tokens as f64 / sentences.len() as f64
    ));
    report.note("both sides: strings in, normalised vectors out (tokenise + BERT + pool)");
    report.note("peer: sentence-transformers SentenceTransformer.encode, same model folder");
    report.note("both sides run with the kotoba binary's glibc allocator settings (the peer through MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_)");

    let ours = measure(&enc, &sentences, seconds)?;
    let peer = reference(&cfg.model_dir, &list, seconds, "cpu");
    match &peer {
        Ok(p) => {
            report.note(format!(
                "cpu: ours with {} rayon threads (RAYON_NUM_THREADS sets both sides); torch {} / sentence-transformers {} with {} threads",
                rayon::current_num_threads(),
                p["torch"].as_str().unwrap_or("?"),
                p["sentence_transformers"].as_str().unwrap_or("?"),
                p["threads"]
            ));
        }
        Err(e) => {
            report.note(format!("reference not measured: {e:#}"));
        }
    }
    rows(&mut report, "cpu", &ours, peer.as_ref().ok());

    let cuda_cfg = BertEncoderConfig {
        device: DeviceConfig::Cuda(0),
        ..cfg.clone()
    };
    match BertEncoder::load(&cuda_cfg) {
        Ok(gpu) => {
            let ours = measure(&gpu, &sentences, seconds)?;
            let peer = reference(&cfg.model_dir, &list, seconds, "cuda");
            if let Err(e) = &peer {
                report.note(format!("cuda reference not measured: {e:#}"));
            }
            rows(&mut report, "cuda", &ours, peer.as_ref().ok());
        }
        Err(e) => {
            report.note(format!("no CUDA figures: {e}"));
        }
    }
    let _ = std::fs::remove_file(&list);
    Ok(report)
}
