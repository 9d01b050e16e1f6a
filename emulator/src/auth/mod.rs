//! Authenticated serving: who sent a request ([`sigv4`], against the [`credentials`] file) and
//! whether their role may make the call ([`Role::allows`] on [`Operation::access`]).
//!
//! The request layer calls [`Authenticator::authenticate`] on every request before any handler
//! runs, when the emulator has credentials ([`crate::Config::credentials`]); the identity it
//! proves is the only one the request carries ([`crate::wire::AwsRequest::identity`]), and the
//! one its CloudTrail record names.
//!
//! **Architecture Invariant:** no request is served as an identity it did not prove. With
//! credentials, a request whose signature does not check is answered with the error and
//! nothing else happens: no handler runs, no record is written (it has no proven identity to
//! name). A proven identity whose role does not allow the call is answered AccessDenied and
//! recorded so.

pub mod credentials;
pub mod sigv4;

use axum::http::StatusCode;
use veritrail_core::time::UtcMillis;

pub use credentials::{Credential, Credentials, CredentialsError, Principal, PrincipalKind, Role};
pub use sigv4::{Incoming, SignatureError};

use crate::ops::{Operation, Protocol};
use crate::wire::ErrorBody;
use crate::wire::time::iso8601_seconds;

/// The identity a request proved: its access key, principal and role (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub access_key: String,
    pub principal: Principal,
    pub role: Role,
}

impl From<&Credential> for Identity {
    fn from(c: &Credential) -> Self {
        Self {
            access_key: c.access_key.clone(),
            principal: c.principal.clone(),
            role: c.role,
        }
    }
}

/// Checks requests against a credentials file.
#[derive(Debug, Clone)]
pub struct Authenticator {
    credentials: Credentials,
    own: Option<OwnCredential>,
}

/// The generated credential the server's own clients sign with (its secret never prints).
#[derive(Clone, PartialEq, Eq)]
pub struct OwnCredential {
    pub access_key: String,
    secret: String,
}

impl OwnCredential {
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for OwnCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnCredential")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// The user name of the server's own credential ([`Authenticator::with_own_credential`]).
pub const OWN_USER: &str = "veritrail-serve";

impl Authenticator {
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            own: None,
        }
    }

    /// Also accepts a fresh admin credential (user [`OWN_USER`] of the emulator's account,
    /// random key and secret, never written anywhere) for the clients the server runs itself:
    /// `veritrail serve`'s audit processor and dashboard sign with it.
    pub fn with_own_credential(mut credentials: Credentials) -> Result<Self, String> {
        let (access_key, secret) = credentials.add_generated(OWN_USER, crate::ACCOUNT_ID)?;
        Ok(Self {
            credentials,
            own: Some(OwnCredential { access_key, secret }),
        })
    }

    /// The server's own credential, if it has one.
    pub fn own_credential(&self) -> Option<&OwnCredential> {
        self.own.as_ref()
    }

    /// How many credentials it accepts (the server's own included).
    pub fn len(&self) -> usize {
        self.credentials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    /// The identity `req` proves at `now` (the emulator's clock).
    pub fn authenticate(
        &self,
        req: &Incoming<'_>,
        now: UtcMillis,
    ) -> Result<Identity, SignatureError> {
        sigv4::verify(req, &self.credentials, now).map(Identity::from)
    }
}

/// The answer to a request that did not prove its identity, in its protocol's shape and AWS's
/// words.
pub fn rejection(e: &SignatureError, protocol: Protocol) -> ErrorBody {
    let s3 = protocol == Protocol::RestXml;
    let forbidden =
        |code: &'static str, message: String| ErrorBody::new(StatusCode::FORBIDDEN, code, message);
    match e {
        SignatureError::Missing if s3 => forbidden("AccessDenied", "Access Denied".into()),
        SignatureError::Missing => {
            forbidden("MissingAuthenticationToken", "Missing Authentication Token".into())
        }
        SignatureError::Malformed(why) => ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            format!("The request signature does not conform to AWS standards: {why}"),
        ),
        SignatureError::UnknownKey(key) if s3 => forbidden(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".into(),
        )
        .with("AWSAccessKeyId", key.clone()),
        SignatureError::UnknownKey(_) => forbidden(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".into(),
        ),
        SignatureError::Mismatch {
            access_key,
            string_to_sign,
            canonical_request,
        } if s3 => forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
        )
        .with("AWSAccessKeyId", access_key.clone())
        .with("StringToSign", string_to_sign.clone())
        .with("CanonicalRequest", canonical_request.clone()),
        SignatureError::Mismatch { .. } => forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ),
        SignatureError::ChunkMismatch { access_key, chunk } => forbidden(
            "SignatureDoesNotMatch",
            if *chunk == usize::MAX {
                "The request signature we calculated does not match the signature you provided: the trailer signature of the streaming body does not match.".to_owned()
            } else {
                format!("The request signature we calculated does not match the signature you provided: chunk {chunk} of the streaming body does not match its chunk-signature.")
            },
        )
        .with("AWSAccessKeyId", access_key.clone()),
        SignatureError::Skewed { request_time, now } => {
            let e = forbidden(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large."
                    .into(),
            );
            if s3 {
                e.with("RequestTime", request_time.clone())
                    .with("ServerTime", iso8601_seconds(*now))
                    .with("MaxAllowedSkewMilliseconds", sigv4::MAX_SKEW_MS.to_string())
            } else {
                e
            }
        }
        SignatureError::Expired { expires_at, now } => {
            access_denied(protocol, "Request has expired".into())
                .with("Expires", iso8601_seconds(*expires_at))
                .with("ServerTime", iso8601_seconds(*now))
        }
        SignatureError::ContentMismatch { .. } if !s3 => forbidden(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided: the body is not the one whose SHA-256 was signed.".into(),
        ),
        SignatureError::ContentMismatch { claimed, computed } => ErrorBody::new(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
        .with("ClientComputedContentSHA256", claimed.clone())
        .with("S3ComputedContentSHA256", computed.clone()),
    }
}

/// AccessDenied (AccessDeniedException for JSON protocols), in AWS's words.
pub fn access_denied(protocol: Protocol, message: String) -> ErrorBody {
    let code = match protocol {
        Protocol::RestXml | Protocol::Query => "AccessDenied",
        _ => "AccessDeniedException",
    };
    ErrorBody::new(StatusCode::FORBIDDEN, code, message)
}

/// Whether `identity` may make call `operation`; the AccessDenied answer if not.
pub fn authorize(
    identity: &Identity,
    operation: &Operation,
    protocol: Protocol,
) -> Result<(), ErrorBody> {
    let access = operation.access();
    if identity.role.allows(access) {
        return Ok(());
    }
    Err(access_denied(
        protocol,
        format!(
            "User: {} is not authorized to perform: {}:{} (role {} may not {})",
            identity.principal.arn,
            operation.service(),
            operation.name(),
            identity.role.name(),
            access.name()
        ),
    ))
}
