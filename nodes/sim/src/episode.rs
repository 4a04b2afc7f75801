//! Per-episode randomisation, reproducible from a seed.

use crate::config::SimConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Everything that varies between episodes. Same seed → same parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeParams {
    pub seed: u64,
    pub towel_pos: [f64; 2],
    pub towel_yaw: f64,
    pub towel_size: f64,
    pub towel_rgb: [f64; 3],
    pub table_rgb: [f64; 3],
    pub light_dir: [f64; 3],
    pub light_diffuse: f64,
    pub ambient: f64,
    pub arm_start: Vec<f64>,
}

fn range(rng: &mut ChaCha8Rng, r: [f64; 2]) -> f64 {
    if r[1] > r[0] {
        rng.random_range(r[0]..=r[1])
    } else {
        r[0]
    }
}

impl EpisodeParams {
    pub fn sample(cfg: &SimConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = &cfg.randomize;
        let towel_pos = [range(&mut rng, r.towel_x), range(&mut rng, r.towel_y)];
        let towel_yaw = range(&mut rng, r.towel_yaw);
        let towel_size = range(&mut rng, r.towel_size);
        // Saturated towel colours, a greyish table: the towel always stands out.
        let hue: f64 = rng.random_range(0.0..1.0);
        let towel_rgb = hsv(hue, rng.random_range(0.5..0.9), rng.random_range(0.6..0.95));
        let g = rng.random_range(0.55..0.8);
        let table_rgb = [
            g,
            g * rng.random_range(0.9..1.0),
            g * rng.random_range(0.8..1.0),
        ];
        let tilt = rng.random_range(0.0..=r.light_tilt.max(0.0));
        let az: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        let light_dir = [tilt.sin() * az.cos(), tilt.sin() * az.sin(), -tilt.cos()];
        let light_diffuse = range(&mut rng, r.light_diffuse);
        let ambient = rng.random_range(0.2..0.35);
        let arm_start = cfg
            .home
            .iter()
            .map(|h| h + rng.random_range(-1.0..=1.0) * r.start_pose)
            .collect();
        Self {
            seed,
            towel_pos,
            towel_yaw,
            towel_size,
            towel_rgb,
            table_rgb,
            light_dir,
            light_diffuse,
            ambient,
            arm_start,
        }
    }
}

fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    match i as i32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_episode_other_seed_other_episode() {
        let c = SimConfig::default();
        assert_eq!(EpisodeParams::sample(&c, 7), EpisodeParams::sample(&c, 7));
        assert_ne!(EpisodeParams::sample(&c, 7), EpisodeParams::sample(&c, 8));
    }
}
