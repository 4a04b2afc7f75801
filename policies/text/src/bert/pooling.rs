//! sentence-transformers' `Pooling(mean)` and `Normalize` modules, on candle tensors.

use candle_core::{Result, Tensor};

/// Mean of the token vectors that the attention mask keeps: `(batch, len, hidden)` and
/// `(batch, len)` → `(batch, hidden)`. Token counts are clamped at 1e-9 as in
/// sentence-transformers, so an all-zero mask gives zeros, not NaN.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.maximum(1e-9)?;
    summed.broadcast_div(&counts)
}

/// Divides each row by its L2 norm, clamped at 1e-12 like `torch.nn.functional.normalize`.
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norm)
}

/// [`mean_pool`] of sentences packed without padding: `hidden` holds `lens[i]`
/// rows of `h` for sentence `i` in turn.
pub(crate) fn mean_pool_packed(hidden: &[f32], h: usize, lens: &[usize]) -> Vec<Vec<f32>> {
    let mut rows = hidden.chunks_exact(h);
    lens.iter()
        .map(|&n| {
            let mut sum = vec![0f32; h];
            for row in rows.by_ref().take(n) {
                for (s, &v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            let count = (n as f32).max(1e-9);
            sum.iter_mut().for_each(|s| *s /= count);
            sum
        })
        .collect()
}

/// [`l2_normalize`] of one vector, in place.
pub(crate) fn l2_normalize_slice(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_pool_ignores_padding() {
        let dev = Device::Cpu;
        // Two texts, three positions, two features; the second text's last token is padding.
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[1., 1.], [3., 3.], [100., -100.]],
            ],
            &dev,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &dev).unwrap();
        let pooled = mean_pool(&hidden, &mask).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(pooled, vec![vec![3., 4.], vec![2., 2.]]);
    }

    #[test]
    fn packed_mean_pool_matches_the_padded_one() {
        let dev = Device::Cpu;
        // The same two texts as above, packed: three rows, then two.
        let hidden = [1f32, 2., 3., 4., 5., 6., 1., 1., 3., 3.];
        let pooled = mean_pool_packed(&hidden, 2, &[3, 2]);
        assert_eq!(pooled, vec![vec![3., 4.], vec![2., 2.]]);
        // An empty sentence pools to zeros, as an all-zero mask does.
        assert_eq!(mean_pool_packed(&[], 2, &[0]), vec![vec![0., 0.]]);
        let x = Tensor::new(&[[3f32, 4.], [0., -2.]], &dev).unwrap();
        let want = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        for (mut v, w) in [vec![3f32, 4.], vec![0., -2.]].into_iter().zip(want) {
            l2_normalize_slice(&mut v);
            assert_eq!(v, w);
        }
    }

    #[test]
    fn empty_mask_gives_zeros_and_normalize_keeps_them() {
        let dev = Device::Cpu;
        let hidden = Tensor::new(&[[[1f32, 2.]]], &dev).unwrap();
        let mask = Tensor::new(&[[0u32]], &dev).unwrap();
        let pooled = mean_pool(&hidden, &mask).unwrap();
        let normed = l2_normalize(&pooled).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(normed, vec![vec![0., 0.]]);
    }

    #[test]
    fn rows_come_out_unit_length() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[3f32, 4.], [0., -2.]], &dev).unwrap();
        let y = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, vec![vec![0.6, 0.8], vec![0., -1.]]);
    }
}
