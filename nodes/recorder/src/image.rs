//! `sensor_msgs/Image` → an RGB8 HWC array, whatever common encoding arrived.

use kotoba_msgs::sensor_msgs::Image;

/// An RGB image, rows top to bottom, 3 bytes per pixel (HWC, u8).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRgb8 {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("unsupported image encoding {0:?} (supported: rgb8, bgr8, rgba8, bgra8, mono8)")]
    Encoding(String),
    #[error("image {width}×{height} step {step} needs {need} bytes, has {have}")]
    Size { width: u32, height: u32, step: u32, need: usize, have: usize },
    #[error("{0}")]
    Decode(#[from] kotoba_msgs::DecodeError),
}

pub use kotoba_msgs::zbuf_bytes;

/// Decodes a CDR `sensor_msgs/Image` payload.
pub fn decode_image(cdr: &[u8]) -> Result<ImageRgb8, ImageError> {
    let img: Image = kotoba_msgs::decode(cdr)?;
    to_rgb8(&img)
}

pub fn to_rgb8(img: &Image) -> Result<ImageRgb8, ImageError> {
    let (w, h, step) = (img.width as usize, img.height as usize, img.step as usize);
    let (bpp, map): (usize, fn(&[u8], &mut [u8])) = match img.encoding.as_str() {
        "rgb8" => (3, |s, d| d.copy_from_slice(s)),
        "bgr8" => (3, |s, d| d.copy_from_slice(&[s[2], s[1], s[0]])),
        "rgba8" => (4, |s, d| d.copy_from_slice(&s[..3])),
        "bgra8" => (4, |s, d| d.copy_from_slice(&[s[2], s[1], s[0]])),
        "mono8" | "8UC1" => (1, |s, d| d.fill(s[0])),
        other => return Err(ImageError::Encoding(other.to_string())),
    };
    let bytes = zbuf_bytes(&img.data);
    let need = if h == 0 { 0 } else { step * (h - 1) + w * bpp };
    if step < w * bpp || bytes.len() < need {
        return Err(ImageError::Size { width: img.width, height: img.height, step: img.step, need, have: bytes.len() });
    }
    let mut data = vec![0u8; w * h * 3];
    if bpp == 3 && img.encoding == "rgb8" {
        for (y, row) in data.chunks_exact_mut(w * 3).enumerate() {
            row.copy_from_slice(&bytes[y * step..y * step + w * 3]);
        }
    } else {
        for y in 0..h {
            let src = &bytes[y * step..y * step + w * bpp];
            let dst = &mut data[y * w * 3..(y + 1) * w * 3];
            for (s, d) in src.chunks_exact(bpp).zip(dst.chunks_exact_mut(3)) {
                map(s, d);
            }
        }
    }
    Ok(ImageRgb8 { width: img.width, height: img.height, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kotoba_msgs::ZBuf;

    #[test]
    fn bgr_and_padding() {
        // 2×2 bgr8 with one byte of row padding.
        let data = vec![1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12, 0];
        let img = Image { width: 2, height: 2, step: 7, encoding: "bgr8".into(), data: ZBuf::from(data), ..Default::default() };
        let out = decode_image(&kotoba_msgs::encode(&img)).unwrap();
        assert_eq!(out.data, vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
        let short = Image { width: 4, height: 2, step: 12, encoding: "rgb8".into(), ..Default::default() };
        assert!(matches!(to_rgb8(&short), Err(ImageError::Size { .. })));
        let odd = Image { encoding: "yuv422".into(), ..Default::default() };
        assert!(matches!(to_rgb8(&odd), Err(ImageError::Encoding(_))));
    }
}
