use crate::error::Result;

/// A sentence encoder: text in, one unit-length vector per text out.
///
/// Policies depend only on this trait, so another model (a larger or a multilingual one)
/// is a config change, not a policy change. Implementations must be deterministic for a
/// given model and return vectors of L2 norm 1 (cosine similarity is then a dot product).
pub trait TextEncoder: Send + Sync {
    /// A stable name of the model and its weights, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    /// Embedding caches are keyed by it: two encoders with the same id must give the same vectors.
    fn model_id(&self) -> &str;

    /// Length of every returned vector.
    fn dim(&self) -> usize;

    /// Embeds each text. Errors on a text that is empty or whitespace only; texts longer
    /// than the model's maximum are truncated (with a warning), as sentence-transformers does.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds a single text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed(&[text])?;
        v.pop()
            .ok_or_else(|| crate::TextError::Inference("encoder returned no vector".into()))
    }
}

impl<T: TextEncoder + ?Sized> TextEncoder for Box<T> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
}

/// Cosine similarity of two vectors; `None` when their lengths differ or either is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() {
        return None;
    }
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (aa > 0.0 && bb > 0.0).then(|| (ab / (aa.sqrt() * bb.sqrt())) as f32)
}
