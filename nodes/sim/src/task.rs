//! The folding tasks and their success metric, computed from cloth vertex positions.
//!
//! Grid convention (towel frame; the robot stands at −x looking along +x): vertex
//! index = ix·N + iy; `ix` runs from the near ("bottom") edge to the far ("top") edge,
//! `iy` from the right edge to the left edge.
//!
//! Pass criteria (mujoco.md §3, SoftGym ClothFold pairs with thresholds from the
//! SoftGym-based rect-fabric benchmarks, for a ~0.32 m towel):
//! - max distance between paired vertices of the two halves < [`MAX_PAIR`] (0.045 m)
//! - mean paired distance < [`MEAN_PAIR`] (0.02 m)
//! - mean displacement of the half that should stay < [`FIXED_MOVE`] (0.02 m)
//! - each moved corner within [`CORNER`] (0.03 m) of its mate
//! - the moved half lies on top: mean height above its mate > [`LAYER`] (one vertex radius)
//! - projected area / flat area within [`AREA`] (0.45–0.6)

use serde::{Deserialize, Serialize};

pub const MAX_PAIR: f64 = 0.045;
pub const MEAN_PAIR: f64 = 0.02;
pub const FIXED_MOVE: f64 = 0.02;
pub const CORNER: f64 = 0.03;
pub const LAYER: f64 = 0.003;
pub const AREA: [f64; 2] = [0.45, 0.6];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    LeftToRight,
    BottomToTop,
    CornerToCorner,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::LeftToRight, Task::BottomToTop, Task::CornerToCorner];

    /// The spoken/typed instruction.
    pub fn instruction(self) -> &'static str {
        match self {
            Task::LeftToRight => "fold the towel in half from left to right",
            Task::BottomToTop => "fold the towel in half from bottom to top",
            Task::CornerToCorner => "fold the towel corner to corner",
        }
    }

    pub fn from_instruction(s: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.instruction() == s.trim())
    }

    /// The mate of grid vertex (ix, iy) across the fold line, if (ix, iy) is on the
    /// half that moves.
    pub fn mate(self, n: usize, ix: usize, iy: usize) -> Option<(usize, usize)> {
        let mid = n / 2;
        match self {
            Task::LeftToRight => (iy > mid).then_some((ix, n - 1 - iy)),
            Task::BottomToTop => (ix < mid).then_some((n - 1 - ix, iy)),
            Task::CornerToCorner => (iy > ix).then_some((iy, ix)),
        }
    }

    /// Corners of the moving half that the fold brings onto their mates.
    pub fn corners(self, n: usize) -> Vec<(usize, usize)> {
        let e = n - 1;
        match self {
            Task::LeftToRight => vec![(0, e), (e, e)],
            Task::BottomToTop => vec![(0, 0), (0, e)],
            Task::CornerToCorner => vec![(0, e)],
        }
    }
}

/// The metric for one towel state against its flat start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    pub max_pair: f64,
    pub mean_pair: f64,
    pub fixed_move: f64,
    pub corner: f64,
    pub layer: f64,
    pub area_ratio: f64,
    pub success: bool,
}

/// Scores `verts` (n×n grid) against `start` (the flat towel at the episode start).
pub fn score(task: Task, n: usize, start: &[[f64; 3]], verts: &[[f64; 3]]) -> FoldScore {
    let d = |a: &[f64; 3], b: &[f64; 3]| {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    };
    let (mut max_pair, mut sum_pair, mut sum_fixed, mut sum_layer, mut count) =
        (0.0f64, 0.0, 0.0, 0.0, 0usize);
    for ix in 0..n {
        for iy in 0..n {
            if let Some((mx, my)) = task.mate(n, ix, iy) {
                let (a, b) = (ix * n + iy, mx * n + my);
                let pd = d(&verts[a], &verts[b]);
                max_pair = max_pair.max(pd);
                sum_pair += pd;
                sum_fixed += d(&verts[b], &start[b]);
                sum_layer += verts[a][2] - verts[b][2];
                count += 1;
            }
        }
    }
    let c = count.max(1) as f64;
    let corner = task
        .corners(n)
        .into_iter()
        .map(|(ix, iy)| {
            let (mx, my) = task
                .mate(n, ix, iy)
                .expect("corners are on the moving half");
            d(&verts[ix * n + iy], &verts[mx * n + my])
        })
        .fold(0.0, f64::max);
    let area_ratio = projected_area(n, verts) / projected_area(n, start).max(1e-9);
    let (mean_pair, fixed_move, layer) = (sum_pair / c, sum_fixed / c, sum_layer / c);
    let success = max_pair < MAX_PAIR
        && mean_pair < MEAN_PAIR
        && fixed_move < FIXED_MOVE
        && corner < CORNER
        && layer > LAYER
        && (AREA[0]..=AREA[1]).contains(&area_ratio);
    FoldScore {
        max_pair,
        mean_pair,
        fixed_move,
        corner,
        layer,
        area_ratio,
        success,
    }
}

/// Area covered by the cloth seen from above: its triangles rasterised on a 100×100
/// grid over their bounding box (SoftGym's coverage, with triangles instead of points
/// because the grid is coarse).
pub fn projected_area(n: usize, v: &[[f64; 3]]) -> f64 {
    const R: usize = 100;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in v {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let (w, h) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
    let mut grid = vec![false; R * R];
    let mut tri = |a: [f64; 3], b: [f64; 3], c: [f64; 3]| {
        let cross = |o: [f64; 2], p: [f64; 3], q: [f64; 3]| {
            (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])
        };
        let gx = |x: f64| (((x - x0) / w) * R as f64).clamp(0.0, R as f64 - 1.0) as usize;
        let gy = |y: f64| (((y - y0) / h) * R as f64).clamp(0.0, R as f64 - 1.0) as usize;
        let (i0, i1) = (gx(a[0].min(b[0]).min(c[0])), gx(a[0].max(b[0]).max(c[0])));
        let (j0, j1) = (gy(a[1].min(b[1]).min(c[1])), gy(a[1].max(b[1]).max(c[1])));
        for i in i0..=i1 {
            for j in j0..=j1 {
                let o = [
                    x0 + (i as f64 + 0.5) * w / R as f64,
                    y0 + (j as f64 + 0.5) * h / R as f64,
                ];
                let (s1, s2, s3) = (cross(o, a, b), cross(o, b, c), cross(o, c, a));
                let inside =
                    (s1 >= 0.0 && s2 >= 0.0 && s3 >= 0.0) || (s1 <= 0.0 && s2 <= 0.0 && s3 <= 0.0);
                if inside {
                    grid[i * R + j] = true;
                }
            }
        }
    };
    for ix in 0..n - 1 {
        for iy in 0..n - 1 {
            let (a, b, c, d) = (
                v[ix * n + iy],
                v[(ix + 1) * n + iy],
                v[(ix + 1) * n + iy + 1],
                v[ix * n + iy + 1],
            );
            tri(a, b, c);
            tri(a, c, d);
        }
    }
    grid.iter().filter(|&&g| g).count() as f64 * (w / R as f64) * (h / R as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(n: usize, s: f64) -> Vec<[f64; 3]> {
        (0..n * n)
            .map(|k| [(k / n) as f64 * s, (k % n) as f64 * s, 0.004])
            .collect()
    }

    /// The ideal fold: every moving vertex lies 8 mm above its mate.
    fn folded(task: Task, n: usize, s: f64) -> Vec<[f64; 3]> {
        let f = flat(n, s);
        let mut v = f.clone();
        for ix in 0..n {
            for iy in 0..n {
                if let Some((mx, my)) = task.mate(n, ix, iy) {
                    let m = f[mx * n + my];
                    v[ix * n + iy] = [m[0], m[1], 0.012];
                }
            }
        }
        v
    }

    #[test]
    fn metric_recognises_folded_and_unfolded_towels() {
        for task in Task::ALL {
            let start = flat(9, 0.04);
            let un = score(task, 9, &start, &start);
            assert!(!un.success && un.max_pair > 0.3, "{task:?} flat: {un:?}");
            let ok = score(task, 9, &start, &folded(task, 9, 0.04));
            assert!(ok.success, "{task:?} folded: {ok:?}");
            assert!(
                (ok.area_ratio - 0.5).abs() < 0.07,
                "{task:?} area {}",
                ok.area_ratio
            );
            // Folded the wrong way round (moving half underneath): layer check fails.
            let mut under = folded(task, 9, 0.04);
            for p in &mut under {
                p[2] = 0.016 - p[2];
            }
            assert!(
                !score(task, 9, &start, &under).success,
                "{task:?} underneath"
            );
        }
    }

    #[test]
    fn instructions_round_trip() {
        for t in Task::ALL {
            assert_eq!(Task::from_instruction(t.instruction()), Some(t));
        }
    }
}
