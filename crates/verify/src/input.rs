//! Reading what a verifier is handed: the JSON that `aws qldb get-digest`, `get-block` and
//! `get-revision` print, and the Ion structures inside it. Every problem is an [`InputError`]
//! that names the field; nothing here panics on bad input.
//!
//! Input is bounded: at most [`MAX_INPUT_BYTES`] of JSON (nested at most 128 levels, `serde_json`'s
//! own limit), and Ion read by [`veritrail_core::ion_input::read_one`] within [`ION_LIMITS`].

use std::fmt;

use serde_json::Value as Json;
use veritrail_core::Hash32;
use veritrail_core::ion_input::{DEFAULT_MAX_DEPTH, IonLimits, read_one};
use veritrail_core::ion_rs::{Element, Struct};

/// The largest file the parsers here read: 64 MiB. A QLDB transaction is at most 4 MB, so its
/// block, even as escaped Ion text inside JSON, fits many times over.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Limits for the Ion inside an input file.
pub const ION_LIMITS: IonLimits = IonLimits::new(MAX_INPUT_BYTES, DEFAULT_MAX_DEPTH);

/// Input that cannot be read: not a verification failure, but nothing to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where in the input (`Revision.IonText`, `blockAddress.sequenceNo`, …).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InputError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for InputError {}

/// A journal block's address: strand and sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAddress {
    pub strand_id: String,
    pub sequence_no: u64,
}

impl fmt::Display for BlockAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{strandId:\"{}\",sequenceNo:{}}}",
            self.strand_id, self.sequence_no
        )
    }
}

/// A saved digest: `aws qldb get-digest` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub digest: Hash32,
    pub tip: BlockAddress,
}

/// A value with its proof: `aws qldb get-revision` or `get-block` output.
#[derive(Debug, Clone)]
pub struct WithProof {
    /// The revision or block, as Ion.
    pub value: Element,
    /// The proof's hashes in fold order; `None` when the file has no `Proof`.
    pub proof: Option<Vec<Hash32>>,
}

fn parse_json(text: &str, what: &str) -> Result<Json, InputError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(InputError::new(
            "",
            format!(
                "{what} is {} bytes, more than the limit of {MAX_INPUT_BYTES} bytes",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text)
        .map_err(|e| InputError::new("", format!("{what} is not valid JSON: {e}")))
}

fn ion_text<'a>(json: &'a Json, field: &str) -> Result<&'a str, InputError> {
    let holder = json
        .get(field)
        .ok_or_else(|| InputError::new(field, "missing"))?;
    match holder.get("IonText").and_then(Json::as_str) {
        Some(text) => Ok(text),
        None if holder.get("IonBinary").is_some() => Err(InputError::new(
            format!("{field}.IonBinary"),
            "Ion binary value holders are not supported; save the output with IonText",
        )),
        None => Err(InputError::new(
            format!("{field}.IonText"),
            "missing (expected {\"IonText\": \"…\"})",
        )),
    }
}

/// Parses one Ion value from text, within [`ION_LIMITS`].
pub fn parse_ion(text: &str, field: &str) -> Result<Element, InputError> {
    read_one(text.as_bytes(), ION_LIMITS).map_err(|e| InputError::new(field, e.to_string()))
}

/// Parses `aws qldb get-digest` output.
pub fn parse_digest(text: &str) -> Result<Digest, InputError> {
    let json = parse_json(text, "the digest file")?;
    let digest_text = json
        .get("Digest")
        .and_then(Json::as_str)
        .ok_or_else(|| InputError::new("Digest", "missing (expected a base64 string)"))?;
    let digest =
        Hash32::from_base64(digest_text).map_err(|e| InputError::new("Digest", e.to_string()))?;
    let tip_text = ion_text(&json, "DigestTipAddress")?;
    let tip_value = parse_ion(tip_text, "DigestTipAddress.IonText")?;
    let tip = block_address(&tip_value, "DigestTipAddress")?;
    Ok(Digest { digest, tip })
}

fn parse_with_proof(text: &str, field: &str, what: &str) -> Result<WithProof, InputError> {
    let json = parse_json(text, what)?;
    let value = parse_ion(ion_text(&json, field)?, &format!("{field}.IonText"))?;
    let proof = match json.get("Proof") {
        None | Some(Json::Null) => None,
        Some(_) => {
            let proof_text = ion_text(&json, "Proof")?;
            Some(parse_proof(proof_text)?)
        }
    };
    Ok(WithProof { value, proof })
}

/// Parses `aws qldb get-revision` output.
pub fn parse_revision(text: &str) -> Result<WithProof, InputError> {
    parse_with_proof(text, "Revision", "the revision file")
}

/// Parses `aws qldb get-block` output.
pub fn parse_block(text: &str) -> Result<WithProof, InputError> {
    parse_with_proof(text, "Block", "the block file")
}

/// Parses a proof: an Ion list of 32-byte blobs.
pub fn parse_proof(ion_text: &str) -> Result<Vec<Hash32>, InputError> {
    let value = parse_ion(ion_text, "Proof.IonText")?;
    let list = value
        .as_list()
        .ok_or_else(|| InputError::new("Proof.IonText", "expected an Ion list of blobs"))?;
    list.iter()
        .enumerate()
        .map(|(i, e)| hash_value(e, &format!("Proof[{i}]")))
        .collect()
}

/// The struct inside `value`, or an error naming `field`.
pub(crate) fn as_struct<'a>(value: &'a Element, field: &str) -> Result<&'a Struct, InputError> {
    value.as_struct().ok_or_else(|| {
        InputError::new(
            field,
            format!("expected a struct, found {}", value.ion_type()),
        )
    })
}

/// A required field of a struct.
pub(crate) fn required<'a>(
    st: &'a Struct,
    name: &str,
    path: &str,
) -> Result<&'a Element, InputError> {
    st.get(name)
        .ok_or_else(|| InputError::new(join(path, name), "missing"))
}

pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A 32-byte blob as a hash.
pub(crate) fn hash_value(value: &Element, field: &str) -> Result<Hash32, InputError> {
    let bytes = value.as_blob().ok_or_else(|| {
        InputError::new(
            field,
            format!("expected a blob, found {}", value.ion_type()),
        )
    })?;
    Hash32::from_slice(bytes).map_err(|e| InputError::new(field, e.to_string()))
}

/// An optional hash field; present but not a 32-byte blob is an error.
pub(crate) fn optional_hash(
    st: &Struct,
    name: &str,
    path: &str,
) -> Result<Option<Hash32>, InputError> {
    match st.get(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => hash_value(v, &join(path, name)).map(Some),
    }
}

/// A required hash field.
pub(crate) fn required_hash(st: &Struct, name: &str, path: &str) -> Result<Hash32, InputError> {
    hash_value(required(st, name, path)?, &join(path, name))
}

/// `{strandId:"…",sequenceNo:N}`.
pub fn block_address(value: &Element, field: &str) -> Result<BlockAddress, InputError> {
    let st = as_struct(value, field)?;
    let strand = required(st, "strandId", field)?;
    let strand_id = strand
        .as_text()
        .ok_or_else(|| InputError::new(join(field, "strandId"), "expected a string"))?
        .to_owned();
    let seq = required(st, "sequenceNo", field)?;
    let sequence_no = seq.as_int().and_then(|i| i.as_u64()).ok_or_else(|| {
        InputError::new(join(field, "sequenceNo"), "expected a non-negative integer")
    })?;
    Ok(BlockAddress {
        strand_id,
        sequence_no,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_digest_files_name_the_field() {
        let cases = [
            ("nope", "", "not valid JSON"),
            ("{}", "Digest", "missing"),
            (r#"{"Digest":"AAAA"}"#, "Digest", "32 bytes"),
            (
                r#"{"Digest":"6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk="}"#,
                "DigestTipAddress",
                "missing",
            ),
            (
                r#"{"Digest":"6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=","DigestTipAddress":{"IonText":"{strandId:1}"}}"#,
                "DigestTipAddress.strandId",
                "expected a string",
            ),
            (
                r#"{"Digest":"6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=","DigestTipAddress":{"IonText":"{strandId:\"s\",sequenceNo:-1}"}}"#,
                "DigestTipAddress.sequenceNo",
                "non-negative",
            ),
            (
                r#"{"Digest":"6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=","DigestTipAddress":{"IonText":"{strandId:"}}"#,
                "DigestTipAddress.IonText",
                "not a single valid Ion value",
            ),
        ];
        for (text, field, problem) in cases {
            let err = parse_digest(text).unwrap_err();
            assert_eq!(err.field, field, "{text}");
            assert!(err.problem.contains(problem), "{text}: {err}");
        }
    }

    #[test]
    fn deep_or_large_input_is_an_input_error() {
        let deep_ion = serde_json::json!({"Block": {"IonText": "[".repeat(100_000)}}).to_string();
        let err = parse_block(&deep_ion).unwrap_err();
        assert_eq!(err.field, "Block.IonText");
        assert!(err.problem.contains("levels deep"), "{err}");
        let deep_json = "{\"Block\":".repeat(100_000);
        let err = parse_block(&deep_json).unwrap_err();
        assert!(err.problem.contains("recursion limit"), "{err}");
        let err = parse_proof(&"(".repeat(200)).unwrap_err();
        assert!(err.problem.contains("150 levels"), "{err}");
        let huge = " ".repeat(MAX_INPUT_BYTES + 1);
        assert!(
            parse_digest(&huge)
                .unwrap_err()
                .problem
                .contains("more than the limit")
        );
    }

    #[test]
    fn proof_elements_must_be_32_byte_blobs() {
        let err = parse_proof("[{{AAAA}}]").unwrap_err();
        assert_eq!(err.field, "Proof[0]");
        let err = parse_proof("[\"x\"]").unwrap_err();
        assert!(err.problem.contains("expected a blob"));
        let err = parse_proof("{}").unwrap_err();
        assert!(err.problem.contains("list"));
    }
}
