//! A plain actix-web handler that streams, behind `pagepipe::Compress`: for
//! measuring what the middleware holds per stream while it waits
//! (`docs/performance.md`, "Compress on other routes"), with
//! `hold_streams --url http://ADDR/hold?ms=3000 --shell-marker start
//! --done-marker end`.
//!
//! `GET /hold?ms=N` sends `<p>start</p>` plus 2 KiB of text at once, then
//! `<p>end</p>` N ms later (at most 60 s), as `text/html`.
//!
//! ```sh
//! cargo run --release --example plain_stream_server -- --addr 127.0.0.1:0
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measuring tool: a failed unwrap is a failed run"
)]

use std::io::Write as _;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, web};
use bytes::Bytes;

async fn hold(req: HttpRequest) -> HttpResponse {
    let ms: u64 = req
        .query_string()
        .strip_prefix("ms=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(3000)
        .min(60_000);
    let first = format!("<p>start</p>{}", "lorem ipsum dolor sit amet ".repeat(76));
    let chunks = futures_util::stream::unfold(0, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(Bytes::from(first)), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Some((Ok(Bytes::from_static(b"<p>end</p>")), 2))
                }
                _ => None,
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/html")
        .streaming(chunks)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: plain_stream_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    actix_web::rt::System::new().block_on(async move {
        let server = pagepipe::Server::new(|| {
            App::new()
                .wrap(pagepipe::Compress::default())
                .route("/hold", web::get().to(hold))
        })
        .workers(1)
        .bind(addr.as_str())?;
        let local = server.addrs()[0];
        let server = server.run();
        println!("listening on http://{local}");
        std::io::stdout().flush()?;
        server.await
    })
}
