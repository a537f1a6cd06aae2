//! What the demo does around every request: a tracing span, a `414` or `431`
//! for an oversized request target or headers, and on the way out a `Content-Security-Policy`
//! carrying the request's nonce when a handler took one and `Server-Timing` for
//! the time before the first byte.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, Responder as _, web};
use tokio::time::Instant;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::shared::{State, text};
use pagepipe::Nonce;

/// The demo's policy: nothing from elsewhere, and inline scripts only with
/// this response's nonce.
fn policy(nonce: &Nonce) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; \
         img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Wraps every request; see the module docs.
pub(crate) async fn finish(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let start = Instant::now();
    if let Some(refusal) = refuse_oversized(&req) {
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    let span =
        tracing::debug_span!("request", method = %req.method(), path = %req.path(), status = Empty);
    let mut res = next.call(req).instrument(span.clone()).await?;
    span.record("status", res.status().as_u16());
    let elapsed = start.elapsed();
    tracing::debug!(parent: &span, ms = elapsed.as_secs_f64() * 1e3, "response head ready");
    let nonce = Nonce::of(res.request());
    let headers = res.headers_mut();
    if let Some(nonce) = nonce {
        set(headers, header::CONTENT_SECURITY_POLICY, &policy(&nonce));
        set(
            headers,
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        );
    }
    set(
        headers,
        HeaderName::from_static("server-timing"),
        &server_timing(elapsed),
    );
    Ok(res.map_into_left_body())
}

/// `Server-Timing` for `elapsed` before the first byte, in ms with two
/// decimals (integer arithmetic: formatting a float costs more than the
/// rest of the header).
fn server_timing(elapsed: std::time::Duration) -> String {
    let hundredths = (elapsed.as_micros() + 5) / 10;
    format!(
        "app;dur={}.{:02};desc=\"before first byte\"",
        hundredths / 100,
        hundredths % 100
    )
}

/// A `431` naming the limit, for request headers over it. (A request
/// target over its limit never gets here: the server answers it `414`.)
fn refuse_oversized(req: &ServiceRequest) -> Option<HttpResponse> {
    let limits = &req.app_data::<web::Data<State>>()?.limits;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers <= limits.max_headers {
        return None;
    }
    let message = format!(
        "request headers are {headers} bytes; the limit is {}\n",
        limits.max_headers
    );
    let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    Some(text(status, message).respond_to(req.request()))
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::server_timing;

    #[test]
    fn server_timing_is_in_ms_with_two_decimals_rounded() {
        let at = |micros| server_timing(Duration::from_micros(micros));
        assert_eq!(at(820), "app;dur=0.82;desc=\"before first byte\"");
        assert_eq!(at(1_234_567), "app;dur=1234.57;desc=\"before first byte\"");
        assert_eq!(at(4), "app;dur=0.00;desc=\"before first byte\"");
        assert_eq!(at(5), "app;dur=0.01;desc=\"before first byte\"");
        assert_eq!(at(10_000), "app;dur=10.00;desc=\"before first byte\"");
    }
}
