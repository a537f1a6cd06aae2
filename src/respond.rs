//! The one place a [`Page`] becomes an HTTP response: the mode for the
//! request, the rendered body, and the [`Streamed`] responder around it.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError as _, body::BoxBody};

use std::rc::Rc;

use crate::client::ClientSide;
use crate::error::Error;
use crate::mode::Mode;
use crate::page::{Page, Preload};
use crate::render::{self, Body, collect};
use crate::streamed::Streamed;

/// Renders `page` in `mode`: its bytes, with no HTTP around them (for a
/// response, return the page from a handler or call [`Page::respond`]).
///
/// Checks the page first (templates render, section ids are valid and
/// unique, every section has exactly one slot) and fails before any byte is
/// produced if it is not sound. Dropping the stream drops every pending
/// section future.
pub fn render(page: Page, mode: Mode) -> Result<Body, Error> {
    render_for_client(page, mode, None)
}

/// Renders `page` in `mode` for a client whose side of the connection is
/// `client`: the page ends at once when it finishes sending.
pub(crate) fn render_for_client(
    page: Page,
    mode: Mode,
    client: Option<Rc<ClientSide>>,
) -> Result<Body, Error> {
    let options = render::Options {
        nonce: page.nonce,
        deadline: page.deadline,
        max_sections: page.max_sections,
        shell_budget: page.shell_budget,
        max_held_bytes: page.max_held_bytes,
        client,
    };
    render::render(page.shell, options, mode)
}

/// A page rendered for one request: its mode, body, and the head of its
/// response.
struct Rendered {
    mode: Mode,
    body: Body,
    head: Head,
}

/// The status and headers a page asked for.
struct Head {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Head {
    /// `streamed` with this status and these headers.
    fn on(self, streamed: Streamed) -> Streamed {
        self.headers
            .into_iter()
            .fold(streamed.status(self.status), |streamed, (name, value)| {
                streamed.header(name, value)
            })
    }
}

impl Page {
    /// The mode this page is delivered in to `req`.
    pub fn mode_for(&self, req: &HttpRequest) -> Mode {
        Mode::choose(req, self.mode)
    }

    /// Renders the page for `req`, waiting for every section first when the
    /// mode is [`Mode::Buffered`] so the response carries `Content-Length`.
    ///
    /// Returning the `Page` itself is the same, except that a buffered page
    /// is then sent as one chunk without a length (close-delimited for
    /// HTTP/1.0), since a [`Responder`] cannot wait.
    pub async fn respond(self, req: &HttpRequest) -> HttpResponse {
        match self.render_for(req) {
            Ok(Rendered {
                mode: Mode::Buffered,
                body,
                head,
            }) => {
                let document = collect(body).await;
                head.on(Streamed::html_complete(document))
                    .respond(req)
                    .await
            }
            Ok(Rendered { body, head, .. }) => head
                .on(Streamed::html(body).keep_past_fin())
                .respond_to(req),
            Err(err) => err.error_response(),
        }
    }

    /// Checks the page as a request for it would, without running a
    /// loader: its templates render, its headers and preloads are valid,
    /// section ids are valid and unique, every section has exactly one
    /// slot in the shell and every slot a section, and the reveal order has
    /// no cycle. Sections nested in a loader's content are checked when it
    /// resolves (a mistake there shows that section's error markup). Call
    /// it in a test for each page, so a slot typo fails the test rather
    /// than a request:
    ///
    /// ```
    /// use askama::Template;
    /// use pagepipe::{Page, Section};
    ///
    /// #[derive(Template)]
    /// #[template(source = "<h1>Lamp</h1>{{ pagepipe::slot(\"stok\") }}", ext = "html")]
    /// struct Shell;
    ///
    /// #[derive(Template)]
    /// #[template(source = "3 in stock", ext = "html")]
    /// struct Stock;
    ///
    /// let page = Page::new(Shell).section(Section::infallible("stock", Stock, async { Stock }));
    /// let err = page.check().unwrap_err();
    /// assert!(err.to_string().contains("did you mean \"stock\""), "{err}");
    /// ```
    pub fn check(self) -> Result<(), Error> {
        let Page {
            bad_header,
            preloads,
            ..
        } = &self;
        if let Some(header) = bad_header {
            return Err(Error::InvalidHeader(header.clone()));
        }
        preload_links(preloads)?;
        // Rendering checks everything before its first byte; the loaders it
        // starts are dropped with the stream, never polled.
        render(self, Mode::OutOfOrder).map(drop)
    }

    /// The page rendered in its mode for `req`, or why it is not sound.
    fn render_for(mut self, req: &HttpRequest) -> Result<Rendered, Error> {
        if let Some(header) = self.bad_header.take() {
            return Err(Error::InvalidHeader(header));
        }
        let mut headers = std::mem::take(&mut self.headers);
        if let Some(links) = preload_links(&self.preloads)? {
            headers.insert(0, (header::LINK, links));
        }
        let head = Head {
            status: self.status,
            headers,
        };
        let mode = self.mode_for(req);
        let body = render_for_client(self, mode, ClientSide::of(req))?;
        Ok(Rendered { mode, body, head })
    }
}

/// The `Link` header announcing `preloads`, if there are any.
fn preload_links(preloads: &[Preload]) -> Result<Option<HeaderValue>, Error> {
    if preloads.is_empty() {
        return Ok(None);
    }
    let links = preloads
        .iter()
        .map(|asset| link(asset).ok_or_else(|| Error::InvalidHeader(format!("preload {asset:?}"))))
        .collect::<Result<Vec<_>, _>>()?
        .join(", ");
    HeaderValue::from_str(&links)
        .map(Some)
        .map_err(|_| Error::InvalidHeader(format!("Link: {links}")))
}

/// `asset` as one `Link` header entry; `None` if its URL or type would
/// break out of it (`<`, `>`, quotes, commas or control bytes).
fn link(asset: &Preload) -> Option<String> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ' ');
    if asset.href.is_empty() || asset.href.chars().any(unsafe_char) {
        return None;
    }
    let mut link = format!("<{}>; rel=preload; as={}", asset.href, asset.kind);
    if let Some(mime) = &asset.mime {
        if mime.chars().any(unsafe_char) {
            return None;
        }
        link.push_str(&format!("; type=\"{mime}\""));
    }
    if asset.crossorigin {
        link.push_str("; crossorigin");
    }
    Some(link)
}

impl Responder for Page {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        match self.render_for(req) {
            Ok(Rendered { body, head, .. }) => head
                .on(Streamed::html(body).keep_past_fin())
                .respond_to(req),
            Err(err) => err.error_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::http::header::{self, HeaderValue};
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, web};
    use askama::Template;

    use crate::{BoxError, Nonce, Page, Section, Slot, slot};

    #[derive(Template)]
    #[template(source = "<html><body>{{ s0 }}</body></html>", ext = "html")]
    struct Shell {
        s0: Slot,
    }

    #[derive(Template)]
    #[template(source = "{{ text }}", ext = "html")]
    struct Text {
        text: &'static str,
    }

    fn page() -> Page {
        Page::new(Shell { s0: slot("s0") }).section(Section::new("s0", Text { text: "…" }, async {
            // Late, so the page has a late chunk and scripts to carry the nonce.
            actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
            Ok::<_, BoxError>(Text { text: "late" })
        }))
    }

    async fn get(page: fn(Nonce) -> Page) -> (StatusCode, header::HeaderMap, String) {
        let app = test::init_service(App::new().route(
            "/",
            web::get().to(move |nonce: Nonce| async move { page(nonce) }),
        ))
        .await;
        let res = test::call_service(&app, TestRequest::get().uri("/").to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let body = test::read_body(res).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[actix_web::test]
    async fn a_page_sends_its_own_headers() {
        let (status, headers, _) = get(|_| {
            page()
                .header(("x-frame-options", "DENY"))
                .header((header::CACHE_CONTROL, "private, no-store"))
        })
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(
            headers.get(header::CACHE_CONTROL).unwrap(),
            HeaderValue::from_static("private, no-store"),
            "replaces pagepipe's own no-store"
        );
    }

    #[actix_web::test]
    async fn csp_puts_the_nonce_on_scripts_and_in_the_policy() {
        let (_, headers, body) = get(|nonce| page().csp(&nonce)).await;
        let policy = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        assert_eq!(nonce.len(), 32, "{policy}");
        assert!(policy.contains("style-src 'self'"), "{policy}");
        assert!(
            body.contains(&format!("<script nonce=\"{nonce}\">")),
            "{body}"
        );
        assert!(!body.contains("<script>"), "every script carries the nonce");
    }

    #[actix_web::test]
    async fn nonce_takes_a_borrowed_nonce() {
        let (_, _, body) = get(|nonce| page().nonce(&nonce)).await;
        assert!(body.contains("<script nonce=\""), "{body}");
    }

    #[actix_web::test]
    async fn preloads_go_out_as_one_link_header() {
        let (status, headers, _) = get(|_| {
            page()
                .preload(crate::Preload::style("/assets/site.css"))
                .preload(crate::Preload::font("/f/inter.woff2", "font/woff2"))
        })
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers.get(header::LINK).unwrap(),
            "</assets/site.css>; rel=preload; as=style, \
             </f/inter.woff2>; rel=preload; as=font; type=\"font/woff2\"; crossorigin"
        );
    }

    #[actix_web::test]
    async fn a_preload_that_would_break_its_header_fails_the_page() {
        fn bad() -> Page {
            page().preload(crate::Preload::script("/a.js>; rel=stylesheet"))
        }
        let (status, _, body) = get(|_| bad()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("a.js"), "no internals for users: {body}");
        let err = bad().check().unwrap_err();
        assert!(err.to_string().contains("preload"), "{err}");
    }

    #[actix_web::test]
    async fn an_invalid_header_fails_the_page_naming_it() {
        fn bad() -> Page {
            page().header(("x-bad", "line\nbreak"))
        }
        let (status, _, body) = get(|_| bad()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("x-bad"), "no internals for users: {body}");
        let err = bad().check().unwrap_err();
        assert!(
            err.to_string().contains("page header is not valid"),
            "{err}"
        );
    }

    #[test]
    fn check_finds_what_a_request_would_without_running_a_loader() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let ran = Arc::new(AtomicBool::new(false));
        let section = |id: &str| {
            let ran = Arc::clone(&ran);
            Section::new(id, Text { text: "…" }, async move {
                ran.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(Text { text: "content" })
            })
        };
        let shell = || Shell { s0: slot("s0") };
        assert!(Page::new(shell()).section(section("s0")).check().is_ok());
        let typo = Page::new(shell())
            .section(section("s1"))
            .check()
            .unwrap_err();
        assert!(
            typo.to_string().contains("slot \"s0\" has no section"),
            "{typo}"
        );
        let twice = Page::new(shell())
            .section(section("s0"))
            .section(section("s0"))
            .check()
            .unwrap_err();
        assert!(twice.to_string().contains("used twice"), "{twice}");
        let header = Page::new(shell())
            .section(section("s0"))
            .header(("x-bad", "a\nb"))
            .check()
            .unwrap_err();
        assert!(
            header.to_string().contains("x-bad") || header.to_string().contains("header"),
            "{header}"
        );
        assert!(!ran.load(Ordering::SeqCst), "no loader ran");
    }
}
