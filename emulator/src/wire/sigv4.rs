//! The SigV4 credential scope of a request: access key, date, region and service, from the
//! `Authorization` header (`AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request,
//! SignedHeaders=…, Signature=…`) or, for presigned URLs, the `X-Amz-Credential` query
//! parameter. This is what routes a request and names its region; whether the signature holds
//! is checked apart, in [`crate::auth`], when the emulator has credentials.

use axum::http::HeaderMap;

use crate::wire::Query;

/// The parts of a SigV4 credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Parses `AKID/date/region/service/aws4_request`.
    pub fn parse(credential: &str) -> Option<Self> {
        let mut parts = credential.split('/');
        let scope = Self {
            access_key: parts.next()?.to_owned(),
            date: parts.next()?.to_owned(),
            region: parts.next()?.to_owned(),
            service: parts.next()?.to_owned(),
        };
        let printable = |s: &str| {
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
        };
        (parts.next() == Some("aws4_request")
            && [
                &scope.access_key,
                &scope.date,
                &scope.region,
                &scope.service,
            ]
            .iter()
            .all(|s| printable(s)))
        .then_some(scope)
    }

    /// The scope of a request: its `Authorization` header, else a presigned URL's query.
    pub fn of(headers: &HeaderMap, query: &Query) -> Option<Self> {
        if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
            let credential = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
            return Self::parse(credential);
        }
        query.get("X-Amz-Credential").and_then(Self::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_the_header_or_the_query() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        let s = CredentialScope::of(&h, &Query::default()).unwrap();
        assert_eq!(
            (s.access_key.as_str(), s.region.as_str(), s.service.as_str()),
            ("AKID", "eu-west-1", "s3")
        );
        let q =
            Query::parse("X-Amz-Credential=K%2F20240101%2Fus-east-2%2Fs3%2Faws4_request").unwrap();
        assert_eq!(
            CredentialScope::of(&HeaderMap::new(), &q).unwrap().region,
            "us-east-2"
        );
        assert!(CredentialScope::parse("AKID/20240101/us-east-1/s3").is_none());
        assert!(CredentialScope::parse("AKID/20240101/us east/s3/aws4_request").is_none());
    }
}
