//! A dashboard that streams: two sections, a static folder, a strict CSP.

use std::time::Duration;

use actix_web::{App, HttpRequest, web};
use askama::Template;
use pagepipe::{BoxError, Failure, Files, Nonce, Page, PublicError, Section};

// The shell goes out at once; each `slot` is filled as its section loads.
#[derive(Template)]
#[template(
    source = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Dashboard</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<h1>Dashboard</h1>
{{ pagepipe::slot("weather") }}
{{ pagepipe::slot("news") }}
</body>
</html>"#,
    ext = "html"
)]
struct Dashboard;

#[derive(Template)]
#[template(source = r#"<p class="loading">Loading {{ what }}…</p>"#, ext = "html")]
struct Loading {
    what: &'static str,
}

#[derive(Template)]
#[template(source = "<p>{{ city }}: {{ degrees }} °C</p>", ext = "html")]
struct Weather {
    city: String,
    degrees: i32,
}

#[derive(Template)]
#[template(
    source = "<ul>{% for h in headlines %}<li>{{ h }}</li>{% endfor %}</ul>",
    ext = "html"
)]
struct News {
    headlines: Vec<String>,
}

#[derive(Template)]
#[template(source = r#"<p class="error">{{ message }}</p>"#, ext = "html")]
struct Unavailable {
    message: String,
}

// A loader that cannot fail returns its template.
async fn weather(city: String) -> Weather {
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    Weather { city, degrees: 21 }
}

// A loader that can fail returns a Result; a PublicError's text may be shown.
async fn news(fail: bool) -> Result<News, BoxError> {
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    if fail {
        return Err(PublicError::new("The news service is down.").into());
    }
    Ok(News {
        headlines: vec!["pagepipe streams pages".into()],
    })
}

async fn dashboard(req: HttpRequest, nonce: Nonce) -> Page {
    let fail = req.query_string().contains("fail=news");
    Page::new(Dashboard)
        .section(Section::infallible(
            "weather",
            Loading {
                what: "the weather",
            },
            weather("Lisbon".into()),
        ))
        .section(
            Section::new("news", Loading { what: "the news" }, news(fail))
                .timeout(Duration::from_secs(2))
                .error_with(|failure: &Failure| Unavailable {
                    message: failure.message().to_owned(),
                }),
        )
        .csp(&nonce)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let server = pagepipe::Server::new(|| {
        App::new()
            // Every other route compressed as pagepipe's own responses are.
            .wrap(pagepipe::Compress::default())
            .route("/", web::get().to(dashboard))
            .service(Files::new("/static", "static"))
    });
    // HTTPS with HTTP/2 when given a certificate: TLS_CERT=cert.pem TLS_KEY=key.pem
    match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => {
            let tls = pagepipe::tls_config(cert, key)?;
            server.bind_tls(("127.0.0.1", 8443), tls)?
        }
        _ => server.bind(("127.0.0.1", 8080))?,
    }
    .run()
    .await
}
