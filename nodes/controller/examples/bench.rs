//! The same reports as `kotoba bench controller|rt`, without building the CLI:
//! `cargo run --release -p kotoba-controller --example bench -- controller --quick`.

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let report = match args.first().map(String::as_str) {
        Some("controller") => kotoba_controller::bench::controller(quick, 0)?,
        Some("rt") => kotoba_controller::bench::rt(quick, 0)?,
        _ => {
            eprintln!("usage: bench controller|rt [--quick]");
            std::process::exit(2);
        }
    };
    print!("{}", report.to_table());
    Ok(())
}
