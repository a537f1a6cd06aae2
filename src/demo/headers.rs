//! Headers the demo adds to every response on its way out: a
//! `Content-Security-Policy` carrying the request's nonce when a handler took
//! one, and a weak ETag on bodies that compression changed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

use crate::Nonce;

/// The demo's policy: nothing from elsewhere, and inline scripts only with
/// this response's nonce.
fn policy(nonce: &Nonce) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; \
         img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Adds the CSP (for pages) and weakens a strong ETag once the body was
/// compressed: the compressed bytes are not the bytes the tag was made for.
pub(crate) async fn finish(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let nonce = Nonce::of(res.request());
    let headers = res.headers_mut();
    if let Some(nonce) = nonce
        && let Ok(value) = HeaderValue::from_str(&policy(&nonce))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
    }
    if headers.contains_key(header::CONTENT_ENCODING)
        && let Some(etag) = headers.get(header::ETAG)
        && !etag.as_bytes().starts_with(b"W/")
        && let Ok(weak) = HeaderValue::from_bytes(&[b"W/", etag.as_bytes()].concat())
    {
        headers.insert(header::ETAG, weak);
    }
    Ok(res)
}
