//! Typed configuration (serde): physics, servo gains, towel, camera, encoders,
//! per-episode randomisation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Physics step in seconds (1 ms: encoders at 1 kHz).
    pub timestep: f64,
    /// Reflected rotor inertia added to each arm joint (kg m²).
    pub armature: f64,
    /// Position-servo gains per arm joint (like a robot's internal joint controller).
    pub servo: Vec<ServoGains>,
    /// Gripper position-servo stiffness (N/m).
    pub gripper_kp: f64,
    /// Arm start pose before randomisation (rad), one value per arm joint.
    pub home: Vec<f64>,
    pub towel: TowelConfig,
    pub camera: CameraConfig,
    pub encoder: EncoderConfig,
    pub randomize: RandomizeConfig,
    pub grasp: GraspConfig,
    /// A joint speed above this (rad/s or m/s) or a MuJoCo bad-acceleration warning means
    /// the state went numerically unstable: the episode is reset.
    pub unstable_speed: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServoGains {
    pub kp: f64,
    pub dampratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TowelConfig {
    /// Vertices per side (odd, so a vertex row lies on each fold line). 7 or 9.
    pub count: usize,
    pub radius: f64,
    pub mass: f64,
    pub edge_damping: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    pub width: u32,
    pub height: u32,
    /// Frames per second of simulated time (10–30).
    pub rate_hz: f64,
    pub pos: [f64; 3],
    pub target: [f64; 3],
    pub fovy: f64,
}

/// Encoder model applied to `/joint_states` (never to the physics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Gaussian noise standard deviation: position (rad), velocity (rad/s), effort (N m).
    pub position_noise: f64,
    pub velocity_noise: f64,
    pub effort_noise: f64,
    /// Quantisation step (0 = off), e.g. 2π/2^20 for a 20-bit encoder.
    pub position_step: f64,
    pub velocity_step: f64,
    pub effort_step: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomizeConfig {
    /// Towel centre x and y ranges (m).
    pub towel_x: [f64; 2],
    pub towel_y: [f64; 2],
    /// Towel yaw range (rad).
    pub towel_yaw: [f64; 2],
    /// Towel side length range (m).
    pub towel_size: [f64; 2],
    /// Uniform noise added to each home joint (rad).
    pub start_pose: f64,
    /// Directional light intensity range and tilt from vertical (rad).
    pub light_diffuse: [f64; 2],
    pub light_tilt: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraspConfig {
    /// Grasp assistance: on a close command, cloth vertices inside this box (half sizes
    /// in the tool frame, around the tool centre point) are attached to the palm.
    pub half_size: [f64; 3],
    /// Only vertices within this distance of the highest one in the box are taken
    /// (the top layer, as a pinch would).
    pub layer: f64,
    /// The gripper counts as closing below this opening (m).
    pub close_below: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        let big = ServoGains {
            kp: 3500.0,
            dampratio: 1.0,
        };
        let small = ServoGains {
            kp: 3000.0,
            dampratio: 1.0,
        };
        Self {
            timestep: 0.001,
            armature: 0.1,
            servo: vec![big, big, big, small, small, small],
            gripper_kp: 500.0,
            home: crate::HOME.to_vec(),
            towel: TowelConfig::default(),
            camera: CameraConfig::default(),
            encoder: EncoderConfig::default(),
            randomize: RandomizeConfig::default(),
            grasp: GraspConfig::default(),
            unstable_speed: 50.0,
        }
    }
}

impl Default for TowelConfig {
    fn default() -> Self {
        Self {
            count: 9,
            radius: 0.004,
            mass: 0.05,
            edge_damping: 0.01,
        }
    }
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            rate_hz: 10.0,
            pos: [1.15, 0.0, 0.85],
            target: [0.45, 0.0, 0.05],
            fovy: 45.0,
        }
    }
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            position_noise: 0.0,
            velocity_noise: 0.0,
            effort_noise: 0.0,
            position_step: 0.0,
            velocity_step: 0.0,
            effort_step: 0.0,
        }
    }
}

impl Default for RandomizeConfig {
    fn default() -> Self {
        Self {
            towel_x: [0.47, 0.53],
            towel_y: [-0.05, 0.05],
            towel_yaw: [-0.15, 0.15],
            towel_size: [0.30, 0.34],
            start_pose: 0.05,
            light_diffuse: [0.5, 0.9],
            light_tilt: 0.4,
        }
    }
}

impl Default for GraspConfig {
    fn default() -> Self {
        Self {
            half_size: [0.02, 0.03, 0.025],
            layer: 0.006,
            close_below: 0.012,
        }
    }
}
