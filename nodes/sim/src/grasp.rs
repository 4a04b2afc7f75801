//! Grasp assistance (as assistive-gym and SoftGym do): when the gripper closes near the
//! cloth, the top-layer vertices between the fingers are attached to the palm with
//! `connect` equalities; opening the gripper detaches them. A friction pinch of flat
//! cloth is unreliable in MuJoCo (mujoco.md §2.1); the fingers still close on the
//! cloth so contacts look right.

use crate::config::GraspConfig;
use crate::sim::Ids;
use mujoco_rs::prelude::*;
use nalgebra::{Matrix3, Vector3};

#[derive(Debug, Clone)]
pub struct GraspAssist {
    cfg: GraspConfig,
    held: Vec<usize>,
    /// One attach attempt per close command.
    armed: bool,
}

fn mat(m: &[f64; 9]) -> Matrix3<f64> {
    Matrix3::from_row_slice(m)
}

impl GraspAssist {
    pub fn new(cfg: GraspConfig) -> Self {
        Self {
            cfg,
            held: Vec::new(),
            armed: true,
        }
    }

    pub fn held(&self) -> &[usize] {
        &self.held
    }

    pub(crate) fn release(&mut self, data: &mut MjData<Box<MjModel>>, ids: &Ids) {
        for k in self.held.drain(..) {
            data.eq_active_mut()[ids.grasp_eq + k] = false;
        }
        self.armed = true;
    }

    pub(crate) fn update(
        &mut self,
        data: &mut MjData<Box<MjModel>>,
        ids: &Ids,
        closing: bool,
        opening: f64,
    ) {
        if !closing {
            if !self.held.is_empty() || !self.armed {
                self.release(data, ids);
            }
            return;
        }
        if !self.armed || opening > self.cfg.close_below {
            return;
        }
        self.armed = false;
        let p = Vector3::from(data.site_xpos()[ids.tcp_site]);
        let r = mat(&data.site_xmat()[ids.tcp_site]);
        let h = self.cfg.half_size;
        let verts = &data.flexvert_xpos()[ids.towel_vert..ids.towel_vert + ids.towel_nvert];
        let inside: Vec<usize> = (0..verts.len())
            .filter(|&k| {
                let l = r.transpose() * (Vector3::from(verts[k]) - p);
                l.x.abs() <= h[0] && l.y.abs() <= h[1] && l.z.abs() <= h[2]
            })
            .collect();
        let Some(top) = inside.iter().map(|&k| verts[k][2]).reduce(f64::max) else {
            return;
        };
        let pp = Vector3::from(data.xpos()[ids.palm_body]);
        let rp = mat(&data.xmat()[ids.palm_body]);
        let picks: Vec<(usize, Vector3<f64>)> = inside
            .into_iter()
            .filter(|&k| verts[k][2] >= top - self.cfg.layer)
            .map(|k| (k, rp.transpose() * (Vector3::from(verts[k]) - pp)))
            .collect();
        for (k, local) in picks {
            let eq = ids.grasp_eq + k;
            // SAFETY: eq_data is plain numeric model data; the equality is inactive while
            // we write it and no other reference to the model exists during this call.
            let d = unsafe { &mut data.model_mut().eq_data_mut()[eq] };
            d[..3].copy_from_slice(&[0.0; 3]);
            d[3..6].copy_from_slice(local.as_slice());
            data.eq_active_mut()[eq] = true;
            self.held.push(k);
        }
    }
}
