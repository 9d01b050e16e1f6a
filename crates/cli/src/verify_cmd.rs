//! `veritrail verify …`: checks saved QLDB digests, revisions and blocks.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value as Json, json};
use veritrail_core::Hash32;
use veritrail_verify::{
    BlockError, BlockRules, Digest, RevisionError, parse_block, parse_digest, parse_revision,
    verify_block_with, verify_document_hash, verify_revision,
};

use crate::Outcome;
use crate::input::{self, Limit};

/// Which rules `verify block` holds a block to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rules {
    /// veritrail's rules for blocks laid out as veritrail writes them
    /// (entriesHashList = [revisions root, H(transactionInfo), H(blockInfo)]), QLDB's otherwise.
    Auto,
    /// QLDB's published rules only.
    Qldb,
    /// QLDB's rules, and blockAddress, transactionId and blockTimestamp covered by
    /// H(blockInfo) in entriesHashList.
    Veritrail,
}

impl From<Rules> for BlockRules {
    fn from(r: Rules) -> Self {
        match r {
            Rules::Auto => BlockRules::Auto,
            Rules::Qldb => BlockRules::Qldb,
            Rules::Veritrail => BlockRules::Veritrail,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Verify a revision (aws qldb get-revision output) against a digest (get-digest output).
    Revision {
        #[command(flatten)]
        common: Common,
        /// get-revision output: {"Revision":{"IonText":…},"Proof":{"IonText":…}}.
        #[arg(long, value_name = "FILE")]
        revision: PathBuf,
    },
    /// Verify a block (aws qldb get-block output) and its internal hashes against a digest.
    Block {
        #[command(flatten)]
        common: Common,
        /// get-block output: {"Block":{"IonText":…},"Proof":{"IonText":…}}.
        #[arg(long, value_name = "FILE")]
        block: PathBuf,
        /// The rules the block is held to.
        #[arg(long, value_enum, default_value_t = Rules::Auto)]
        rules: Rules,
    },
    /// Verify that a newer digest extends an older one (`veritrail ledger consistency` output).
    Consistency {
        /// {"OldDigest","OldTipAddress","NewDigest","NewTipAddress","Proof"} as `ledger consistency` prints it.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Verify a bare document or block hash with a proof against a digest.
    Hash {
        #[command(flatten)]
        common: Common,
        /// The leaf hash, base64 (as QLDB prints it).
        #[arg(long, value_name = "BASE64")]
        hash: String,
        /// A file holding the proof: get-revision/get-block output, or an Ion list of blobs.
        #[arg(long, value_name = "FILE")]
        proof: PathBuf,
    },
    /// Verify an evidence bundle (`veritrail evidence bundle` output) offline with the ledger's
    /// verifier key: the signed manifest, every part's hash, the checkpoint and digest, every
    /// revision proof, the period, the consistency proof from --previous, the reports.
    /// Exit 0 valid, 1 invalid (each failing part named), 2 unreadable.
    Bundle(crate::evidence_cmd::VerifyBundleArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// get-digest output: {"Digest":"…","DigestTipAddress":{"IonText":…}}.
    #[arg(long, value_name = "FILE")]
    digest: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Prints a result line (or JSON object) and returns the outcome.
pub fn report(json_out: bool, outcome: Outcome, line: &str, detail: Json) -> Outcome {
    if json_out {
        let mut obj = json!({
            "valid": outcome == Outcome::Verified,
            "message": line,
        });
        if let (Some(o), Json::Object(extra)) = (obj.as_object_mut(), detail) {
            o.extend(extra);
        }
        println!("{obj}");
    } else if outcome == Outcome::Verified {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    outcome
}

fn bad_input(json_out: bool, message: String) -> Outcome {
    report(
        json_out,
        Outcome::BadInput,
        &format!("error: {message}"),
        json!({"check": "input"}),
    )
}

fn read(path: &Path, flag: &str, limit: Limit) -> Result<String, String> {
    input::read_text(path, limit).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

fn load_digest(path: &Path) -> Result<Digest, String> {
    parse_digest(&read(path, "--digest", input::DIGEST)?)
        .map_err(|e| format!("--digest {}: {e}", path.display()))
}

pub fn run(cmd: VerifyCommand) -> Outcome {
    match cmd {
        VerifyCommand::Revision { common, revision } => {
            let json_out = common.json;
            match load_inputs(&common.digest, &revision, "--revision") {
                Ok((digest, text)) => revision_result(json_out, &digest, &text, &revision),
                Err(e) => bad_input(json_out, e),
            }
        }
        VerifyCommand::Block {
            common,
            block,
            rules,
        } => {
            let json_out = common.json;
            match load_inputs(&common.digest, &block, "--block") {
                Ok((digest, text)) => block_result(json_out, &digest, &text, &block, rules.into()),
                Err(e) => bad_input(json_out, e),
            }
        }
        VerifyCommand::Hash {
            common,
            hash,
            proof,
        } => hash_result(common, &hash, &proof),
        VerifyCommand::Consistency { file, json } => consistency_result(json, &file),
        VerifyCommand::Bundle(args) => crate::evidence_cmd::verify(&args),
    }
}

fn load_inputs(digest: &Path, file: &Path, flag: &str) -> Result<(Digest, String), String> {
    Ok((load_digest(digest)?, read(file, flag, input::QLDB_OUTPUT)?))
}

fn digest_json(d: &Digest) -> Json {
    json!({
        "digest": d.digest.to_base64(),
        "tip": {"strandId": d.tip.strand_id, "sequenceNo": d.tip.sequence_no},
    })
}

/// Verifies revision text against a digest and reports; shared with `demo`.
pub fn revision_result(json_out: bool, digest: &Digest, text: &str, path: &Path) -> Outcome {
    let parsed = match parse_revision(text) {
        Ok(p) => p,
        Err(e) => return bad_input(json_out, format!("--revision {}: {e}", path.display())),
    };
    let mut detail = json!({"kind": "revision"});
    if let Some(o) = detail.as_object_mut() {
        o.extend(digest_json(digest).as_object().cloned().unwrap_or_default());
    }
    match verify_revision(&parsed.value, parsed.proof.as_deref(), digest) {
        Ok(r) => {
            let doc = r.document_id.clone().unwrap_or_else(|| "(no id)".into());
            let version = r
                .version
                .map_or_else(String::new, |v| format!(" version {v}"));
            let line = format!(
                "OK revision {doc}{version} in block {} verifies against digest {} at tip {} ({} proof hashes)",
                r.block, digest.digest, digest.tip.sequence_no, r.proof_len
            );
            if let Some(o) = detail.as_object_mut() {
                o.insert("documentId".into(), json!(r.document_id));
                o.insert("version".into(), json!(r.version));
                o.insert("blockSequenceNo".into(), json!(r.block.sequence_no));
                o.insert("revisionHash".into(), json!(r.revision_hash.to_base64()));
                o.insert("proofLength".into(), json!(r.proof_len));
            }
            report(json_out, Outcome::Verified, &line, detail)
        }
        Err(RevisionError::Malformed(e)) => {
            bad_input(json_out, format!("--revision {}: {e}", path.display()))
        }
        Err(e) => {
            if let Some(o) = detail.as_object_mut() {
                o.insert("check".into(), json!(e.check()));
            }
            report(json_out, Outcome::Failed, &format!("FAILED {e}"), detail)
        }
    }
}

/// Verifies block text against a digest by `rules` and reports; shared with `demo`.
pub fn block_result(
    json_out: bool,
    digest: &Digest,
    text: &str,
    path: &Path,
    rules: BlockRules,
) -> Outcome {
    let parsed = match parse_block(text) {
        Ok(p) => p,
        Err(e) => return bad_input(json_out, format!("--block {}: {e}", path.display())),
    };
    let mut detail = json!({"kind": "block"});
    if let Some(o) = detail.as_object_mut() {
        o.extend(digest_json(digest).as_object().cloned().unwrap_or_default());
    }
    match verify_block_with(&parsed.value, parsed.proof.as_deref(), digest, rules) {
        Ok(r) => {
            let line = format!(
                "OK block {} ({} revisions, hash {}) verifies against digest {} at tip {} ({} proof hashes, {} rules)",
                r.block,
                r.revisions,
                r.block_hash,
                digest.digest,
                digest.tip.sequence_no,
                r.proof_len,
                r.rules.name()
            );
            if let Some(o) = detail.as_object_mut() {
                o.insert("rules".into(), json!(r.rules.name()));
                o.insert("blockSequenceNo".into(), json!(r.block.sequence_no));
                o.insert("blockHash".into(), json!(r.block_hash.to_base64()));
                o.insert("revisions".into(), json!(r.revisions));
                o.insert("proofLength".into(), json!(r.proof_len));
            }
            report(json_out, Outcome::Verified, &line, detail)
        }
        Err(BlockError::Malformed(e)) => {
            bad_input(json_out, format!("--block {}: {e}", path.display()))
        }
        Err(e) => {
            if let Some(o) = detail.as_object_mut() {
                o.insert("check".into(), json!(e.check()));
            }
            report(json_out, Outcome::Failed, &format!("FAILED {e}"), detail)
        }
    }
}

fn hash_result(common: Common, hash: &str, proof_path: &Path) -> Outcome {
    let json_out = common.json;
    let inputs = (|| -> Result<(Digest, Hash32, Vec<Hash32>), String> {
        let digest = load_digest(&common.digest)?;
        let leaf = Hash32::from_base64(hash).map_err(|e| format!("--hash: {e}"))?;
        let text = read(proof_path, "--proof", input::QLDB_OUTPUT)?;
        let proof = match serde_json::from_str::<Json>(&text) {
            Ok(j) => {
                let ion = j
                    .pointer("/Proof/IonText")
                    .and_then(Json::as_str)
                    .ok_or_else(|| {
                        format!("--proof {}: Proof.IonText: missing", proof_path.display())
                    })?;
                veritrail_verify::input::parse_proof(ion)
            }
            Err(_) => veritrail_verify::input::parse_proof(&text),
        }
        .map_err(|e| format!("--proof {}: {e}", proof_path.display()))?;
        Ok((digest, leaf, proof))
    })();
    let (digest, leaf, proof) = match inputs {
        Ok(i) => i,
        Err(e) => return bad_input(json_out, e),
    };
    let detail = json!({"kind": "hash", "hash": leaf.to_base64(), "proofLength": proof.len()});
    match verify_document_hash(&leaf, &proof, &digest.digest) {
        Ok(()) => report(
            json_out,
            Outcome::Verified,
            &format!(
                "OK hash {leaf} verifies against digest {} at tip {} ({} proof hashes)",
                digest.digest,
                digest.tip.sequence_no,
                proof.len()
            ),
            detail,
        ),
        Err(e) => report(json_out, Outcome::Failed, &format!("FAILED {e}"), detail),
    }
}

fn consistency_result(json_out: bool, path: &Path) -> Outcome {
    use veritrail_verify::input::{block_address, parse_ion, parse_proof};
    let parsed = (|| -> Result<_, String> {
        let text = read(path, "--file", input::QLDB_OUTPUT)?;
        let at = |e: &dyn std::fmt::Display| format!("--file {}: {e}", path.display());
        let j: Json = serde_json::from_str(&text).map_err(|e| at(&e))?;
        let digest = |field: &str| {
            let b64 = j
                .get(field)
                .and_then(Json::as_str)
                .ok_or_else(|| at(&format!("{field}: missing")))?;
            Hash32::from_base64(b64).map_err(|e| at(&format!("{field}: {e}")))
        };
        let tip = |field: &str| {
            let ion = j
                .pointer(&format!("/{field}/IonText"))
                .and_then(Json::as_str)
                .ok_or_else(|| at(&format!("{field}.IonText: missing")))?;
            let value = parse_ion(ion, field).map_err(|e| at(&e))?;
            block_address(&value, field).map_err(|e| at(&e))
        };
        let proof_text = j
            .pointer("/Proof/IonText")
            .and_then(Json::as_str)
            .ok_or_else(|| at(&"Proof.IonText: missing"))?;
        let proof = parse_proof(proof_text).map_err(|e| at(&e))?;
        Ok((
            digest("OldDigest")?,
            tip("OldTipAddress")?,
            digest("NewDigest")?,
            tip("NewTipAddress")?,
            proof,
        ))
    })();
    let (old, old_tip, new, new_tip, proof) = match parsed {
        Ok(p) => p,
        Err(e) => return bad_input(json_out, e),
    };
    let detail = json!({"kind": "consistency", "oldTip": old_tip.sequence_no, "newTip": new_tip.sequence_no});
    if old_tip.strand_id != new_tip.strand_id {
        return report(
            json_out,
            Outcome::Failed,
            "FAILED strand: the two digests are of different strands",
            detail,
        );
    }
    // A tip is a sequence number; the journal it closes has one block more.
    let (Some(old_size), Some(new_size)) = (
        old_tip.sequence_no.checked_add(1),
        new_tip.sequence_no.checked_add(1),
    ) else {
        return bad_input(
            json_out,
            format!("--file {}: a tip's sequenceNo is too large", path.display()),
        );
    };
    match veritrail_verify::verify_consistency(old_size, new_size, &old, &new, &proof) {
        Ok(()) => report(
            json_out,
            Outcome::Verified,
            &format!(
                "OK digest {new} at tip {} extends digest {old} at tip {}: the first {} blocks are unchanged",
                new_tip.sequence_no, old_tip.sequence_no, old_size
            ),
            detail,
        ),
        Err(e) => report(json_out, Outcome::Failed, &format!("FAILED {e}"), detail),
    }
}
