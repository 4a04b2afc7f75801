use thiserror::Error;

/// Everything that can go wrong in the simulator. Bad commands are errors the caller
/// logs; the arm keeps holding its last valid target.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("robot description: {0}")]
    Urdf(String),
    #[error("MuJoCo model: {0}")]
    Model(String),
    #[error("renderer: {0}")]
    Render(String),
    #[error("command has {got} values, expected {expected} ({what})")]
    WrongLength {
        what: &'static str,
        expected: String,
        got: usize,
    },
    #[error("command value {index} ({joint}) is not finite: {value}")]
    NotFinite {
        index: usize,
        joint: String,
        value: f64,
    },
    #[error("command value {index} ({joint}) = {value} is outside [{lower}, {upper}]")]
    OutOfLimits {
        index: usize,
        joint: String,
        value: f64,
        lower: f64,
        upper: f64,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("inverse kinematics did not converge: {0}")]
    Ik(String),
}

pub type Result<T> = std::result::Result<T, SimError>;
