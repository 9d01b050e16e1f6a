//! QLDB's hashing rules (`../shared/specs/qldb.md` §2 and §5.2): revision hash, block hash,
//! and the commit digest a driver sends with CommitTransaction.

use ion_rs::Element;

use crate::hash::{Hash32, dot, dot_opt};
use crate::ion_hash::{ion_hash, ion_hash_str};

/// `revision.hash = dot(H(metadata), dataHash)`, where `dataHash` is `H(data)` for a normal
/// revision, the kept `dataHash` for a redacted one, and empty (`None`) for a deleted one, so
/// that a delete revision's hash is `H(metadata)`.
pub fn revision_hash(metadata: &Element, data_hash: Option<&Hash32>) -> Hash32 {
    let metadata_hash = ion_hash(metadata);
    dot_opt(Some(&metadata_hash), data_hash).unwrap_or(metadata_hash)
}

/// `blockHash = dot(entriesHash, previousBlockHash)`; the first block has no previous hash,
/// and the empty hash is `dot`'s identity.
pub fn block_hash(entries_hash: &Hash32, previous_block_hash: Option<&Hash32>) -> Hash32 {
    match previous_block_hash {
        Some(prev) => dot(entries_hash, prev),
        None => *entries_hash,
    }
}

/// The running digest of a transaction, exactly as the QLDB drivers compute it:
/// `H(txId)`, then for each statement `dot(digest, dot(H(stmt), H(p1), H(p2), …))`.
#[derive(Debug, Clone)]
pub struct CommitDigest {
    digest: Hash32,
}

impl CommitDigest {
    /// Starts the digest of the transaction with this id.
    pub fn new(transaction_id: &str) -> Self {
        Self {
            digest: ion_hash_str(transaction_id),
        }
    }

    /// Folds in one executed statement and its parameters, in order.
    pub fn add_statement(&mut self, statement: &str, parameters: &[Element]) {
        let mut statement_hash = ion_hash_str(statement);
        for p in parameters {
            statement_hash = dot(&statement_hash, &ion_hash(p));
        }
        self.digest = dot(&self.digest, &statement_hash);
    }

    /// The digest so far.
    pub fn digest(&self) -> Hash32 {
        self.digest
    }
}

/// `statementDigest` of a statement in a block's `transactionInfo`: `H(statement)` folded with
/// the hash of each parameter.
pub fn statement_digest(statement: &str, parameters: &[Element]) -> Hash32 {
    parameters
        .iter()
        .fold(ion_hash_str(statement), |acc, p| dot(&acc, &ion_hash(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Hash32 {
        Hash32::from_base64(s).unwrap()
    }

    const STATEMENT: &str = "FROM VehicleRegistration AS r \nWHERE r.VIN = '1N4AL11D75C109151'\nINSERT INTO r.Owners.SecondaryOwners\n    VALUE { 'PersonId' : 'CMVdR77XP8zAglmmFDGTvt' }";

    // Spec §8.1: the real vehicle-registration revision.
    #[test]
    fn real_revision_hash() {
        let metadata = Element::read_one(
            r#"{id:"JUJgkIcNbhS2goq8RqLuZ4",version:3,txTime:2019-09-16T19:37:05.344Z,txId:"FnQeJBAicTX0Ah32ZnVtSX"}"#,
        )
        .unwrap();
        let data = Element::read_one(
            r#"{VIN:"1N4AL11D75C109151",LicensePlateNumber:"LEWISR261LL",State:"WA",PendingPenaltyTicketAmount:90.25,ValidFromDate:2017-08-21,ValidToDate:2020-05-11,Owners:{PrimaryOwner:{PersonId:"BFJKdXhnLRT27sXBnojNGW"},SecondaryOwners:[{PersonId:"CMVdR77XP8zAglmmFDGTvt"}]},City:"Everett"}"#,
        )
        .unwrap();
        assert_eq!(
            ion_hash(&metadata),
            b64("vNbkf63AqIvow6E3VraH1FfPrZxyU0OkJucmJGWte1s=")
        );
        let data_hash = ion_hash(&data);
        assert_eq!(
            data_hash,
            b64("ykAB8EB0tXxIGmJ9Y9mwppjP1Z9S3Iw+vKN1L9ZXW3A=")
        );
        assert_eq!(
            revision_hash(&metadata, Some(&data_hash)),
            b64("mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg=")
        );
        assert_eq!(revision_hash(&metadata, None), ion_hash(&metadata));
    }

    #[test]
    fn real_block_hash_and_statement_digest() {
        let entries = [
            b64("eRSwnmAM7WWANWDd5iGOyK+T4tDXyzUq6HZ/0fgLHos="),
            b64("mHVex/yjHAWjFPpwhBuH2GKXmKJjK2FBa9faqoUVNtg="),
            b64("y5cCBr7pOAIUfsVQ1j0TqtE97b4b4oo1R0vnYyE5wWM="),
            b64("TvTXygML1bMe6NvEZtGkX+KR+W/EJl4qD1mmV77KZQg="),
        ];
        let entries_hash = crate::merkle_root(&entries).unwrap();
        assert_eq!(
            entries_hash,
            b64("l05LOsiKV14SDbuaYnH7uwXzUvqzIwUiRLXGbTyj/nY=")
        );
        let prev = b64("7kewBXhpdbClcZKxhVmpoMHpUGOJtWQD0iY2LPfZkYA=");
        assert_eq!(
            block_hash(&entries_hash, Some(&prev)),
            b64("NoChM92yKRuJAb/jeLd1VnYn4DHiWIf071ACfic9uHc=")
        );
        assert_eq!(block_hash(&entries_hash, None), entries_hash);
        assert_eq!(
            dot(&entries[2], &entries[3]),
            b64("VV1rdaNuf+yJZVGlmsM6gr2T52QvBO8Lg+KgpjcnWAU=")
        );
        assert_eq!(
            statement_digest(STATEMENT, &[]),
            b64("jcgPX2vsOJ0waum4qmDYtn1pCAT9xKNIzA+2k4R+mxA=")
        );
    }

    // Spec §8.3: commit digests computed with the official ion-hash-python.
    #[test]
    fn commit_digest_known_answers() {
        let mut real = CommitDigest::new("FnQeJBAicTX0Ah32ZnVtSX");
        assert_eq!(
            real.digest(),
            b64("RoynFW3rVHzSUsC+V3ByfpqDTw1aIoYDpatBWRkTFvc=")
        );
        real.add_statement(STATEMENT, &[]);
        assert_eq!(
            real.digest(),
            b64("O+oT8VEK+yhy6SsFE/dmB2omAbl6laTpb/peIMr649c=")
        );

        let param = Element::read_one(r#"{accountId:"ACC-001",balance:100}"#).unwrap();
        assert_eq!(
            ion_hash(&param),
            b64("q4jZilGEfu8CJILinAbevyHrp2njWRdS2sS4K2XqasU=")
        );
        assert_eq!(
            statement_digest("INSERT INTO Accounts ?", std::slice::from_ref(&param)),
            b64("x5YZVXlGlq+vES+EBQ149wX1WxHKir5EsomVcJMf6Yg=")
        );
        let history = "SELECT accountId, balance, metadata.txTime FROM history(Accounts) AS a WHERE a.data.accountId = 'ACC-001'";
        assert_eq!(
            ion_hash_str(history),
            b64("7FcbKTVR7sQgBhxz88MJ1H/JnUADOC2UWmUHxzIqh4M=")
        );
        let mut synthetic = CommitDigest::new("AAAAAAAAAAAAAAAAAAAAAA");
        synthetic.add_statement("INSERT INTO Accounts ?", &[param]);
        synthetic.add_statement(history, &[]);
        assert_eq!(
            synthetic.digest(),
            b64("5g2jafIo5uVi7lqSagSE4KUb69uRbK9UzstUximakOk=")
        );
    }
}
