//! The one place a [`Page`] becomes an HTTP response: the mode for the
//! request, the rendered body, and the [`Streamed`] responder around it.

use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError as _, body::BoxBody};

use crate::error::Error;
use crate::mode::Mode;
use crate::page::Page;
use crate::render::{Body, collect, render};
use crate::streamed::Streamed;

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
        let status = self.status;
        match self.render_for(req) {
            Ok((Mode::Buffered, body)) => {
                let document = collect(body).await;
                Streamed::html_complete(document)
                    .status(status)
                    .respond(req)
                    .await
            }
            Ok((_, body)) => Streamed::html(body).status(status).respond_to(req),
            Err(err) => err.error_response(),
        }
    }

    /// The page rendered in its mode for `req`, or why it is not sound.
    fn render_for(self, req: &HttpRequest) -> Result<(Mode, Body), Error> {
        let mode = self.mode_for(req);
        render(self, mode).map(|body| (mode, body))
    }
}

impl Responder for Page {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let status = self.status;
        match self.render_for(req) {
            Ok((_, body)) => Streamed::html(body).status(status).respond_to(req),
            Err(err) => err.error_response(),
        }
    }
}
