//! `veritrail provision plan|apply|destroy`: the architecture as desired state
//! (`veritrail-provisioner`), through the AWS SDK for Rust with the standard credential chain,
//! region and `AWS_ENDPOINT_URL` (or `--endpoint-url`, e.g. the emulator).
//!
//! Exit codes: 0 done (`plan`: nothing to change), 1 `plan` found changes to make, or a call
//! failed, or a resource is not this prefix's; 2 the command line or the configuration cannot
//! be used (an unknown region, a retention under 12 months, a bad prefix, …).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use veritrail_processor::aws::Aws;
use veritrail_provisioner::{Clients, Config, ProvisionError};

#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Read what exists and print what apply would change, per resource and setting (exit 0:
    /// nothing to change, 1: changes pending).
    Plan(ProvisionArgs),
    /// Create or update, in dependency order, what the plan lists; a second apply changes
    /// nothing. After a crash, the next apply completes the plan without duplicating anything.
    Apply(ProvisionArgs),
    /// Remove what apply made for the prefix. Objects under retention are left and reported
    /// with their retain-until date (and the bucket and key they need with them); safe to rerun.
    Destroy(ProvisionArgs),
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The configuration file (JSON; every field has a default, see the README).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The prefix every resource is named with (overrides the file's).
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    /// The region (overrides the file's) [default: AWS_REGION, AWS_DEFAULT_REGION or the
    /// profile's].
    #[arg(long)]
    region: Option<String>,
    /// The AWS endpoint (e.g. the emulator, http://127.0.0.1:4566) [default: AWS_ENDPOINT_URL,
    /// or AWS's].
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl ProvisionCommand {
    fn args(&self) -> &ProvisionArgs {
        match self {
            Self::Plan(a) | Self::Apply(a) | Self::Destroy(a) => a,
        }
    }
}

fn fail(json: bool, e: &ProvisionError) -> ExitCode {
    let code = if e.is_usage() { 2 } else { 1 };
    if json {
        println!("{}", json!({"error": e.to_string(), "exitCode": code}));
    } else {
        eprintln!("veritrail provision: {e}");
    }
    ExitCode::from(code)
}

pub fn run(cmd: ProvisionCommand) -> ExitCode {
    let args = cmd.args();
    let json = args.json;
    let mut config = match &args.config {
        Some(path) => match Config::read(path) {
            Ok(c) => c,
            Err(e) => return fail(json, &e),
        },
        None => Config::default(),
    };
    if let Some(p) = &args.prefix {
        config.prefix = p.clone();
    }
    if let Some(r) = &args.region {
        config.region = Some(r.clone());
    }
    // Check the configuration before any call (the account is not known yet).
    let region = config.region.clone();
    if let Err(e) = config.resolve("000000000000", region.as_deref().unwrap_or("us-east-1")) {
        return fail(json, &e);
    }
    let aws = match Aws::load(args.endpoint_url.as_deref(), region.as_deref()) {
        Ok(a) => a,
        Err(e) => return fail(json, &ProvisionError::Config(e.to_string())),
    };
    let clients = Clients::new(aws.config(), None);
    let names = match aws.block_on(clients.account()) {
        Ok(account) => match config.resolve(&account, &aws.region()) {
            Ok(n) => n,
            Err(e) => return fail(json, &e),
        },
        Err(e) => return fail(json, &e),
    };
    let clients = Clients::new(aws.config(), Some(&names.region));
    match cmd {
        ProvisionCommand::Plan(_) => {
            match aws.block_on(veritrail_provisioner::plan(&clients, &config, &names)) {
                Ok(plan) => {
                    if json {
                        println!(
                            "{}",
                            json!({"plan": plan, "pending": plan.pending().count()})
                        );
                    } else {
                        print!("{}", plan.render());
                    }
                    if plan.has_changes() {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => fail(json, &e),
            }
        }
        ProvisionCommand::Apply(_) => {
            let mut made = Vec::new();
            let result = aws.block_on(veritrail_provisioner::apply(
                &clients,
                &config,
                &names,
                |c| {
                    if !json {
                        print!("{}", veritrail_provisioner::plan::render_change(c));
                    }
                    made.push(c.clone());
                },
            ));
            match result {
                Ok(applied) => {
                    let ok = applied.plan.changes.len() - applied.made;
                    if json {
                        println!(
                            "{}",
                            json!({"prefix": names.prefix, "account": names.account,
                                   "region": names.region, "applied": made,
                                   "unchanged": ok})
                        );
                    } else if applied.made == 0 {
                        println!("nothing to change: all {ok} settings as configured");
                    } else {
                        println!("{} changes made, {ok} already as configured", applied.made);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    if !json && !made.is_empty() {
                        eprintln!(
                            "{} changes made before the failure; apply again to complete the plan",
                            made.len()
                        );
                    }
                    fail(json, &e)
                }
            }
        }
        ProvisionCommand::Destroy(_) => {
            match aws.block_on(veritrail_provisioner::destroy(&clients, &names)) {
                Ok(d) => {
                    if json {
                        println!("{}", json!({"prefix": names.prefix, "destroyed": d}));
                    } else {
                        print!("{}", d.render());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(json, &e),
            }
        }
    }
}
