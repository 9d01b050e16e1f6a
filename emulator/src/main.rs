//! `veritrail-emulator`: serves the emulated AWS services (`cargo run -p veritrail-emulator`);
//! `veritrail serve` is the same front end in the main binary.

/// mimalloc, as the `veritrail` binary (its `main.rs` says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

/// Serve the AWS emulator (QLDB, S3 with Object Lock, CloudTrail with signed log delivery) for
/// SDKs, drivers and the AWS CLI. Stops cleanly on SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "veritrail-emulator", version, about)]
struct Cli {
    #[command(flatten)]
    serve: veritrail_emulator::ServeArgs,
}

fn main() -> std::process::ExitCode {
    veritrail_emulator::run_serve(Cli::parse().serve)
}
