//! STS (2011-06-15, query protocol): GetCallerIdentity, answering with the identity
//! [`crate::audit`] puts in every CloudTrail record of the same access key, so a client and the
//! trail agree on who called.

use axum::response::Response;

use crate::audit::Caller;
use crate::ops::StsOp;
use crate::wire::xml::{element, query_ok};
use crate::wire::{AwsRequest, ErrorBody};

/// The `xmlns` of STS's answers.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Handles one STS request (every served operation only reads).
pub fn handle(req: &AwsRequest, op: StsOp) -> Result<Response, ErrorBody> {
    match op {
        StsOp::GetCallerIdentity => {
            let caller = Caller::of(req);
            let result = format!(
                "{}{}{}",
                element("Arn", &caller.arn),
                element("UserId", &caller.principal_id),
                element("Account", &caller.account_id),
            );
            Ok(query_ok(op.name(), XMLNS, Some(&result), &req.request_id))
        }
        other => Err(ErrorBody::not_served(req.protocol, "sts", other.name())),
    }
}
