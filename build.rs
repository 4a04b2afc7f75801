//! With the `sim` feature, embeds an rpath to the MuJoCo library that
//! scripts/setup_mujoco.sh unpacked (MUJOCO_DYNAMIC_LINK_DIR), so `kotoba sim`,
//! `kotoba demo` and the tests run without LD_LIBRARY_PATH.
fn main() {
    println!("cargo::rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    if std::env::var_os("CARGO_FEATURE_SIM").is_some()
        && let Ok(dir) = std::env::var("MUJOCO_DYNAMIC_LINK_DIR")
    {
        println!("cargo::rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
