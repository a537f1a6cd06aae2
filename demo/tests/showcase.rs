//! `/stream-html` against the real binary: the shell before the fastest
//! section, every slot filled, failures contained, a real 404.

use std::time::Duration;

use crate::util::{Response, Server, get};

/// Every slot id in the page, nested ones included.
fn slot_ids(text: &str) -> Vec<String> {
    text.match_indices("<pp-slot id=\"")
        .map(|(at, open)| {
            let rest = &text[at + open.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The content of slot `id` when the page was delivered in place.
fn slot_content<'a>(text: &'a str, id: &str) -> &'a str {
    let open = format!("<pp-slot id=\"{id}\">");
    let start = text.find(&open).unwrap_or_else(|| panic!("no slot {id}")) + open.len();
    let end = start + text[start..].find("</pp-slot>").unwrap();
    &text[start..end]
}

async fn in_order(server: &Server, query: &str) -> (Response, String) {
    let response = get(server.addr, &format!("/stream-html?mode=in-order&{query}")).await;
    let text = response.text();
    (response, text)
}

#[tokio::test]
async fn the_shell_arrives_before_the_fastest_section_and_every_slot_fills() {
    let server = Server::start();
    let response = get(server.addr, "/stream-html").await;
    assert_eq!(response.status, 200);
    let (shell_at, shell) = &response.chunks[0];
    let shell = String::from_utf8_lossy(shell);
    assert!(
        *shell_at < Duration::from_millis(150),
        "pricing is due at 150 ms; shell came at {shell_at:?}"
    );
    assert!(
        shell.contains("<title>Aurora Desk Lamp · Pagepipe Home</title>"),
        "title from awaited data"
    );
    assert!(shell.contains("<meta name=\"description\" content=\"Warm, flicker-free light"));
    assert!(
        shell.contains("/assets/showcase/showcase.css"),
        "CSS can load while sections wait"
    );
    for id in ["pricing", "shipping", "questions", "reviews", "related"] {
        assert!(
            shell.contains(&format!(
                "<pp-slot id=\"{id}\"><?start name=\"{id}\"><div class=\"skeleton"
            )),
            "{id}"
        );
    }
    let text = response.text();
    let slots = slot_ids(&text);
    assert_eq!(
        slots.len(),
        5 + 1 + 3 + 4,
        "five sections, the list of reviews and the end of each of its first \
         three reviews (each review arrives on its own), four nested vote counts"
    );
    let reviews: Vec<_> = [
        "review-items",
        "review-items.1",
        "review-items.2",
        "review-items.3",
    ]
    .iter()
    .map(|id| {
        response
            .arrival_of(&format!("<template for=\"{id}\">"))
            .expect(id)
    })
    .collect();
    assert!(
        reviews.windows(2).all(|w| w[0] < w[1]),
        "reviews arrive one by one: {reviews:?}"
    );
    for id in &slots {
        assert!(
            text.contains(&format!("<template for=\"{id}\">")),
            "slot {id} is filled"
        );
    }
    assert!(!text.contains("section-error"));
    assert!(text.ends_with("</html>"));
}

#[tokio::test]
async fn a_failing_section_shows_its_error_and_the_rest_streams_on() {
    let server = Server::start();
    let (response, text) = in_order(&server, "fail=reviews").await;
    assert_eq!(response.status, 200);
    assert!(slot_content(&text, "reviews").contains("class=\"section-error\""));
    assert!(slot_content(&text, "related").contains("Nimbus Task Chair"));
    assert!(
        !text.contains("votes-r101"),
        "the failed section's nested sections never start"
    );
    assert!(text.ends_with("</html>"));
}

#[tokio::test]
async fn a_panicking_nested_section_is_contained() {
    let server = Server::start();
    let (_, text) = in_order(&server, "panic=votes").await;
    assert!(slot_content(&text, "votes-r101").contains("section-error"));
    assert!(slot_content(&text, "reviews").contains("Finally, no headache"));
    assert!(slot_content(&text, "questions").contains("colour shift"));
}

#[tokio::test]
async fn a_slow_section_times_out_while_the_rest_of_the_page_is_on_time() {
    let server = Server::start();
    let response = get(server.addr, "/stream-html?slow=pricing").await;
    let text = response.text();
    let related = response.arrival_of("for=\"related\"").unwrap();
    let pricing = response.arrival_of("for=\"pricing\"").unwrap();
    assert!(
        related < Duration::from_millis(2500),
        "related is not held up: {related:?}"
    );
    assert!(
        pricing >= Duration::from_millis(2500),
        "pricing gave up at its timeout: {pricing:?}"
    );
    let late = &text[text.find("<template for=\"pricing\">").unwrap()..];
    assert!(late[..late.find("</template>").unwrap()].contains("section-error"));
}

#[tokio::test]
async fn an_unknown_item_is_a_real_404() {
    let server = Server::start();
    let response = get(server.addr, "/stream-html?item=nope").await;
    assert_eq!(response.status, 404);
    assert!(response.text().contains("We can't find “nope”"));
}

#[tokio::test]
async fn bad_knobs_are_400s_naming_the_parameter() {
    let server = Server::start();
    for (query, param) in [
        ("fail=all", "fail"),
        ("slow=1", "slow"),
        ("panic=", "panic"),
        ("mode=x", "mode"),
        ("item=a&item=b", "item"),
    ] {
        let response = get(server.addr, &format!("/stream-html?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        assert!(response.text().contains(&format!("`{param}`")), "{query}");
    }
}

#[tokio::test]
async fn review_markup_is_escaped_and_its_data_block_intact() {
    let server = Server::start();
    let (_, text) = in_order(&server, "").await;
    assert!(
        text.contains("Ada &#60;script&#62;alert(1)&#60;/script&#62;")
            || text.contains("Ada &lt;script&gt;"),
        "author escaped"
    );
    assert!(!text.contains("<script>alert(1)"));
    let open = "<script type=\"application/json\" id=\"reviews-data\">";
    let start = text.find(open).unwrap() + open.len();
    let json = &text[start..start + text[start..].find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(data["authors"][2], "Ada <script>alert(1)</script>");
}

#[tokio::test]
async fn the_showcase_preloads_its_stylesheet() {
    let server = Server::start();
    let response = get(server.addr, "/stream-html").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("link"),
        Some("</assets/showcase/showcase.css>; rel=preload; as=style")
    );
    let policy = response
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(
        policy.contains("'nonce-"),
        "the CSP still carries the nonce: {policy}"
    );
}

#[tokio::test]
async fn reviews_wait_for_a_slow_price() {
    let server = Server::start();
    let response = get(server.addr, "/stream-html?slow=pricing").await;
    let pricing = response
        .arrival_of("for=\"pricing\"")
        .expect("the price gives up");
    let reviews = response
        .arrival_of("for=\"reviews\"")
        .expect("the reviews follow");
    assert!(
        reviews >= pricing,
        "reviews at {reviews:?}, price at {pricing:?}"
    );
    let text = response.text();
    assert!(
        text.find("<template for=\"pricing\"") < text.find("<template for=\"reviews\""),
        "the price's markup comes first"
    );
}
