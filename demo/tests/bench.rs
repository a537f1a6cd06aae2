//! `/bench` against the real binary: when each chunk arrives in each mode,
//! and the `400` answers to bad parameters.

use std::time::Duration;

use crate::util::{Client, Server, get, ms};

const PAGE: &str = "/bench?delays=100,600,300&bytes=2048";

/// Generous slack for a noisy 2-core machine: a section is never early, and
/// is late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

#[tokio::test]
async fn out_of_order_flushes_the_shell_at_once_and_sections_as_they_resolve() {
    let server = Server::start();
    let response = get(server.addr, PAGE).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let (shell_at, shell) = &response.chunks[0];
    let shell = String::from_utf8_lossy(shell);
    for i in 0..3 {
        assert!(shell.contains(&format!(
            "<pp-slot id=\"s{i}\"><?start name=\"s{i}\"><p>loading {i}</p><?end></pp-slot>"
        )));
    }
    assert!(
        *shell_at < ms(100),
        "shell at {shell_at:?}, before any section"
    );

    let order: Vec<_> = ["s0", "s2", "s1"]
        .iter()
        .map(|id| response.arrival_of(&format!("for=\"{id}\"")).expect(id))
        .collect();
    for (arrived, due) in order.iter().zip([100, 300, 600]) {
        assert!(
            *arrived >= ms(due),
            "a section due at {due} ms came at {arrived:?}"
        );
        assert!(
            *arrived < ms(due) + SLACK,
            "a section due at {due} ms came at {arrived:?}"
        );
    }
    assert!(order[0] < order[1] && order[1] < order[2]);
    let text = response.text();
    assert!(text.ends_with("</body>\n</html>"), "{text}");
    assert_eq!(text.matches("section 1 ready").count(), 1);
}

#[tokio::test]
async fn in_order_holds_a_section_until_every_earlier_one_is_sent() {
    let server = Server::start();
    let response = get(server.addr, &format!("{PAGE}&mode=in-order")).await;
    assert_eq!(response.status, 200);
    let (shell_at, shell) = &response.chunks[0];
    assert!(*shell_at < ms(100));
    // The shell up to the first unresolved section, and not a byte of it.
    let shell = String::from_utf8_lossy(shell);
    assert!(
        shell.contains("<h1>") && shell.ends_with("<section>"),
        "{shell}"
    );
    assert!(!shell.contains("<pp-slot"), "{shell}");
    let first = response.arrival_of("section 0 ready").unwrap();
    let second = response.arrival_of("section 1 ready").unwrap();
    let third = response.arrival_of("section 2 ready").unwrap();
    assert!(first >= ms(100) && first < ms(100) + SLACK, "{first:?}");
    assert!(second >= ms(600) && second < ms(600) + SLACK, "{second:?}");
    assert!(
        third >= second,
        "section 2 resolved at 300 ms but follows section 1"
    );
    let text = response.text();
    assert!(
        !text.contains("<script") && !text.contains("loading"),
        "in-order needs no script"
    );
    let positions: Vec<_> = (0..3)
        .map(|i| text.find(&format!("section {i} ready")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "document order");
}

#[tokio::test]
async fn buffered_sends_one_complete_document_with_a_length() {
    let server = Server::start();
    let response = get(server.addr, &format!("{PAGE}&mode=buffered")).await;
    assert_eq!(response.status, 200);
    let text = response.text();
    assert_eq!(
        response.header("content-length"),
        Some(text.len().to_string().as_str())
    );
    assert!(response.header("transfer-encoding").is_none());
    assert!(response.chunks[0].0 >= ms(600));
    assert!(!text.contains("<script") && !text.contains("loading"));
    assert!(text.contains("section 2 ready"));
}

#[tokio::test]
async fn http_1_0_clients_get_the_buffered_document_with_a_length() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET", "/bench?delays=50,20", "HTTP/1.0", "")
        .await;
    let mut response = client.head().await;
    client.body(&mut response, "GET").await;
    assert_eq!(response.status, 200);
    assert!(response.header("transfer-encoding").is_none());
    let text = response.text();
    assert_eq!(
        response.header("content-length"),
        Some(text.len().to_string().as_str())
    );
    assert!(text.contains("section 0 ready") && text.contains("section 1 ready"));
}

#[tokio::test]
async fn page_headers_keep_proxies_and_caches_from_buffering() {
    let server = Server::start();
    let response = get(server.addr, "/bench").await;
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("x-accel-buffering"), Some("no"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert!(response.header("content-length").is_none());
}

#[tokio::test]
async fn a_second_page_on_a_kept_alive_connection_still_streams() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    client.request("GET", "/bench?delays=10", "").await;
    let response = client.request("GET", "/bench?delays=100,200", "").await;
    let second = response.arrival_of("for=\"s1\"").unwrap();
    assert!(second >= ms(200) && second < ms(200) + SLACK, "{second:?}");
}

#[tokio::test]
async fn every_bad_parameter_gets_a_400_naming_it_and_nothing_streamed() {
    let server = Server::start();
    let too_many = vec!["1"; 65].join(",");
    let cases = [
        ("delays=", "delays"),
        ("delays=abc", "delays"),
        ("delays=1,,2", "delays"),
        ("delays=-5", "delays"),
        ("delays=60001", "delays"),
        (too_many.as_str(), "delays"),
        ("delays=1&delays=2", "delays"),
        ("bytes=1048577", "bytes"),
        ("bytes=x", "bytes"),
        ("bytes=", "bytes"),
        ("mode=fast", "mode"),
        ("mode=", "mode"),
        ("delays=%FF%FE", "delays"),
        ("wait=10001", "wait"),
        ("wait=x", "wait"),
    ];
    for (query, param) in cases {
        let query = if query == too_many {
            format!("delays={too_many}")
        } else {
            query.to_owned()
        };
        let response = get(server.addr, &format!("/bench?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert!(
            response.header("content-length").is_some(),
            "{query}: not streamed"
        );
        let text = response.text();
        assert!(text.contains(&format!("`{param}`")), "{query}: {text}");
    }
}

#[tokio::test]
async fn health_and_index_answer() {
    let server = Server::start();
    let health = get(server.addr, "/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let index = get(server.addr, "/").await;
    assert_eq!(index.status, 200);
    assert!(index.text().contains("href=\"/bench?"));
    let mut client = Client::connect(server.addr).await;
    let head = client.request("HEAD", "/healthz", "").await;
    assert_eq!(head.status, 200, "HEAD is routed, not a 404");
}

#[tokio::test]
async fn a_crawler_gets_the_complete_document_unless_the_mode_is_asked_for() {
    let server = Server::start();
    let googlebot =
        "User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\r\n";
    let mut client = Client::connect(server.addr).await;
    let response = client
        .request("GET", "/bench?delays=50,20", googlebot)
        .await;
    let text = response.text();
    assert_eq!(
        response.header("content-length"),
        Some(text.len().to_string().as_str())
    );
    assert!(
        !text.contains("<script") && !text.contains("<?start"),
        "{text}"
    );
    assert!(text.contains("<pp-slot id=\"s0\"><p class=\"ready\">section 0 ready"));

    let asked = client
        .request("GET", "/bench?delays=50,20&mode=out-of-order", googlebot)
        .await;
    assert_eq!(asked.header("transfer-encoding"), Some("chunked"));
    assert!(asked.text().contains("<template for=\"s1\">"));
}

#[tokio::test]
async fn ready_sections_make_a_one_chunk_page_without_placeholders_or_script() {
    let server = Server::start();
    let response = get(server.addr, "/bench?delays=0,0,0&bytes=2048").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.chunks.len(), 1, "one chunk");
    let text = response.text();
    for i in 0..3 {
        assert!(text.contains(&format!(
            "<pp-slot id=\"s{i}\"><p class=\"ready\">section {i} ready"
        )));
        assert!(!text.contains(&format!("loading {i}")), "{text}");
    }
    assert!(
        !text.contains("<template") && !text.contains("<script"),
        "{text}"
    );
    assert!(text.ends_with("</body>\n</html>"));
}

#[tokio::test]
async fn wait_holds_the_shell_for_its_budget_with_the_ready_section_in_place() {
    let server = Server::start();
    let response = get(server.addr, "/bench?delays=20,300&wait=100").await;
    let (shell_at, shell) = &response.chunks[0];
    let shell = String::from_utf8_lossy(shell);
    assert!(
        *shell_at >= ms(100) && *shell_at < ms(100) + SLACK,
        "shell at {shell_at:?}"
    );
    assert!(
        shell.contains("section 0 ready") && !shell.contains("loading 0"),
        "{shell}"
    );
    assert!(shell.contains("loading 1"), "{shell}");
    let late = response
        .arrival_of("for=\"s1\"")
        .expect("section 1 streams");
    assert!(
        late >= ms(300) && late < ms(300) + SLACK,
        "section 1 at {late:?}"
    );
}

#[tokio::test]
async fn wait_ends_as_soon_as_every_section_resolved() {
    let server = Server::start();
    let response = get(server.addr, "/bench?delays=20,40&wait=100").await;
    assert_eq!(response.chunks.len(), 1, "one complete chunk");
    let (at, _) = &response.chunks[0];
    assert!(
        *at >= ms(40) && *at < ms(100),
        "the page at {at:?}, not at the budget's end"
    );
    assert!(!response.text().contains("loading"));
}

#[tokio::test]
async fn a_buffered_page_whose_filler_passes_8_mib_in_all_is_refused_naming_bytes_and_the_limit() {
    let server = Server::start();
    let zeros = |n: usize| vec!["0"; n].join(",");
    let pinned = format!("/bench?delays={}&bytes=1048576&mode=buffered", zeros(64));
    let response = get(server.addr, &pinned).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(response.header("content-length").is_some(), "not streamed");
    let text = response.text();
    assert!(
        text.contains("`bytes`") && text.contains("8388608") && text.contains("at most 131072"),
        "{text}"
    );
    // Streamed, the same page holds a chunk at a time: the contract's
    // ranges stand.
    let mut client = Client::connect(server.addr).await;
    let streamed = client
        .request(
            "HEAD",
            &format!("/bench?delays={}&bytes=1048576", zeros(64)),
            "",
        )
        .await;
    assert_eq!(streamed.status, 200);
    // Exactly 8 MiB in all is allowed.
    let mut client = Client::connect(server.addr).await;
    let at_limit = client
        .request(
            "HEAD",
            &format!("/bench?delays={}&bytes=131072", zeros(64)),
            "",
        )
        .await;
    assert_eq!(at_limit.status, 200);
}
