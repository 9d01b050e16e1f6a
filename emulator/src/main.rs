//! `veritrail-emulator`: serves the emulated AWS services (`cargo run -p veritrail-emulator`).
//! `veritrail serve` does the same from the main binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use veritrail_emulator::{Config, Emulator, serve};

const USAGE: &str =
    "usage: veritrail-emulator [--addr 127.0.0.1:4566] [--data-dir DIR] [--clock-scale X]

  --clock-scale X   run the emulator's clock X times faster than real time (3600: an hour of
                    CloudTrail delivery per second); POST /_veritrail/clock changes it later";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 4566));
    let mut data_dir: Option<PathBuf> = None;
    let mut scale = 1.0_f64;
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--addr", Some(v)) => match v.parse() {
                Ok(a) => addr = a,
                Err(e) => {
                    eprintln!("error: --addr {v}: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--data-dir", Some(v)) => data_dir = Some(PathBuf::from(v)),
            ("--clock-scale", Some(v)) => match v.parse() {
                Ok(x) => scale = x,
                Err(e) => {
                    eprintln!("error: --clock-scale {v}: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--help" | "-h", _) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            (other, _) => {
                eprintln!("error: unexpected argument {other}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    let data_dir = data_dir.unwrap_or_else(veritrail_emulator::default_data_dir);
    run(addr, data_dir, scale).await
}

async fn run(addr: SocketAddr, data_dir: PathBuf, scale: f64) -> ExitCode {
    let emulator = match Emulator::open(Config::new(&data_dir)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = emulator.clock().set_scale(scale) {
        eprintln!("error: --clock-scale: {e}");
        return ExitCode::from(2);
    }
    let running = match serve(Arc::new(emulator), addr).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "veritrail emulator listening on {} (data in {})",
        running.url,
        data_dir.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    drop(running);
    ExitCode::SUCCESS
}
