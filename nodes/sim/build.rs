//! Embeds an rpath to the MuJoCo library in this crate's tests, so they
//! run without LD_LIBRARY_PATH. (mujoco-rs links `libmujoco.so` from
//! MUJOCO_DYNAMIC_LINK_DIR, see scripts/setup_mujoco.sh, but leaves the run-time
//! search path to the user.)
fn main() {
    println!("cargo::rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    if let Ok(dir) = std::env::var("MUJOCO_DYNAMIC_LINK_DIR") {
        println!("cargo::rustc-link-arg-tests=-Wl,-rpath,{dir}");
    }
}
