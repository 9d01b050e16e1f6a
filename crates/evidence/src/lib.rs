//! veritrail-evidence: what an auditor is handed. Posture checks over the AWS architecture,
//! their mapping to PCI DSS v4.0.1 Requirement 10, SOC 2 CC6 to CC8, ISO/IEC 27001:2022
//! A.8.15/A.8.16 and HIPAA 164.312(b), signed evidence bundles, and answers with proof.
//!
//! - [`bundle`]: signed evidence bundles of a period (digest, checkpoint, consistency proof,
//!   records, alerts and reviews with their proofs, reports, keys, signed manifest).
//! - [`query`]: the auditor's questions (`who`, `stops`, `alerts`) as revisions with proofs.
//! - [`posture`]: posture checks over the AWS architecture (collected by read-only SDK calls,
//!   judged by pure functions) and the JSON `veritrail check --json` prints.
//! - [`frameworks`], [`report`], [`ocsf`]: the requirements of PCI DSS, SOC 2, ISO 27001 and
//!   HIPAA the checks and rules support, reports as JSON, Markdown and HTML, and OCSF
//!   Compliance Findings.
//!
//! Architecture Invariant: what this crate writes is checked by `veritrail-verify` alone; the
//! bundle verifier lives there, not here.

pub mod bundle;
pub mod frameworks;
pub mod ocsf;
pub mod posture;
pub mod query;
pub mod report;
