//! `veritrail demo`: verifies the real QLDB output built into the binary, so a fresh checkout
//! shows what veritrail does with no files and no configuration.

use std::path::Path;

use veritrail_verify::parse_digest;

use crate::Outcome;
use crate::verify_cmd::{block_result, report, revision_result};

const DIGEST: &str = include_str!("../../../testdata/qldb/vehicle-registration/get-digest.json");
const REVISION: &str =
    include_str!("../../../testdata/qldb/vehicle-registration/get-revision.json");
const BLOCK: &str = include_str!("../../../testdata/qldb/vehicle-registration/get-block.json");

pub fn run(json_out: bool) -> Outcome {
    if !json_out {
        println!(
            "Verifying real Amazon QLDB output for ledger vehicle-registration (from the AWS CLI's examples):"
        );
    }
    let digest = match parse_digest(DIGEST) {
        Ok(d) => d,
        Err(e) => {
            return report(
                json_out,
                Outcome::BadInput,
                &format!("error: built-in digest: {e}"),
                serde_json::json!({}),
            );
        }
    };
    let outcomes = [
        revision_result(
            json_out,
            &digest,
            REVISION,
            Path::new("<built-in get-revision.json>"),
        ),
        block_result(
            json_out,
            &digest,
            BLOCK,
            Path::new("<built-in get-block.json>"),
            veritrail_verify::BlockRules::Auto,
        ),
    ];
    outcomes
        .into_iter()
        .max_by_key(|o| match o {
            Outcome::Verified => 0,
            Outcome::Failed => 1,
            Outcome::BadInput => 2,
        })
        .unwrap_or(Outcome::Verified)
}
