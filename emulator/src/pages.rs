//! Pages another part of the process serves on the emulator's port: `veritrail serve` puts its
//! compliance dashboard at `/dashboard` this way. Only a plain browser request reaches a page:
//! one that carries no AWS signature (no `Authorization` header, no presigned query), so a
//! signed S3 request for a bucket named `dashboard` still goes to S3.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

/// Where the pages live.
pub const PREFIX: &str = "/dashboard";

/// A page's answer.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Page {
    /// A `200 OK` page of HTML.
    pub fn html(body: String) -> Self {
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        }
    }

    /// An answer with a plain-text message.
    pub fn text(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: message.into().into_bytes(),
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let mut r = Response::new(axum::body::Body::from(self.body));
        *r.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static(self.content_type));
        h.insert("cache-control", HeaderValue::from_static("no-store"));
        // Everything a page needs is in the page: nothing is fetched from anywhere.
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
            ),
        );
        r
    }
}

/// What serves the pages under [`PREFIX`]. Called on the blocking pool: it may read the ledger
/// or call other processes.
pub trait Pages: Send + Sync + std::fmt::Debug {
    /// The page at `path` (under [`PREFIX`]) with its query string.
    fn get(&self, path: &str, query: Option<&str>) -> Page;
}

/// Whether a request is for the pages: a `GET` or `HEAD` under [`PREFIX`] with no AWS signature.
pub(crate) fn wants_page(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    let path = uri.path();
    let under = path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    let signed = headers.contains_key("authorization")
        || uri.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p.to_ascii_lowercase().starts_with("x-amz-signature="))
        });
    under && !signed && (method == Method::GET || method == Method::HEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsigned_reads_under_the_prefix_are_pages() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let none = HeaderMap::new();
        assert!(wants_page(&Method::GET, &uri("/dashboard"), &none));
        assert!(wants_page(&Method::GET, &uri("/dashboard/"), &none));
        assert!(wants_page(&Method::HEAD, &uri("/dashboard?x=1"), &none));
        assert!(!wants_page(&Method::GET, &uri("/dashboards"), &none));
        assert!(!wants_page(&Method::PUT, &uri("/dashboard"), &none));
        assert!(!wants_page(
            &Method::GET,
            &uri("/dashboard/key?X-Amz-Signature=abc"),
            &none
        ));
        let mut signed = HeaderMap::new();
        signed.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 x"),
        );
        assert!(!wants_page(&Method::GET, &uri("/dashboard"), &signed));
    }
}
