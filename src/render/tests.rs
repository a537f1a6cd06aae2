//! The generator as a plain stream: section futures are driven by channels or
//! by paused tokio time, never by real sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use askama::Template;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::oneshot;

use super::*;
use crate::respond::{render, render_for_client};
use crate::{BoxError, Fragment, Page, Section, Slot, slot};

#[path = "../../tests/support/templates.rs"]
mod templates;
use templates::{Shell, Text};

fn text(text: impl Into<String>) -> Text {
    Text { text: text.into() }
}

fn shell(n: usize) -> Page {
    Page::new(Shell {
        slots: (0..n).map(|i| slot(format!("s{i}"))).collect(),
    })
}

/// A page of `n` sections, each resolved by sending its content.
fn channel_page(n: usize) -> (Page, Vec<oneshot::Sender<String>>) {
    let mut page = shell(n);
    let mut senders = Vec::new();
    for i in 0..n {
        let (tx, rx) = oneshot::channel::<String>();
        senders.push(tx);
        page = page.section(Section::new(
            format!("s{i}"),
            text(format!("loading {i}")),
            async move { rx.await.map(text) },
        ));
    }
    (page, senders)
}

/// A page whose section `i` resolves after `delays[i]` ms of tokio time.
fn timed_page(delays: &[u64]) -> Page {
    delays
        .iter()
        .enumerate()
        .fold(shell(delays.len()), |page, (i, ms)| {
            let ms = *ms;
            page.section(Section::new(
                format!("s{i}"),
                text(format!("loading {i}")),
                async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok::<_, BoxError>(text(format!("ready {i}")))
                },
            ))
        })
}

async fn next_text(body: &mut Body) -> String {
    let chunk = body.next().await.expect("a chunk").expect("no error");
    unpadded(String::from_utf8(chunk.to_vec()).expect("utf-8"))
}

/// `html` without the comment that pads a short first chunk (its own tests
/// are at the end of this file).
fn unpadded(mut html: String) -> String {
    let padding = html.match_indices("<!--").find_map(|(at, _)| {
        let spaces = html[at + 4..].bytes().take_while(|b| *b == b' ').count();
        html[at + 4 + spaces..]
            .starts_with("-->")
            .then_some(at..at + 4 + spaces + 3)
    });
    if let Some(padding) = padding {
        html.replace_range(padding, "");
    }
    html
}

fn is_pending(body: &mut Body) -> bool {
    body.next().now_or_never().is_none()
}

async fn collect_all(mut body: Body) -> Vec<String> {
    let mut chunks = Vec::new();
    while let Some(chunk) = body.next().await {
        chunks.push(unpadded(
            String::from_utf8(chunk.unwrap().to_vec()).unwrap(),
        ));
    }
    chunks
}

/// Applies late chunks the way a browser does: each `<template for=ID>`
/// replaces the range from `<?start name="ID">` to the next `<?end>`.
fn apply_late_chunks(html: &str) -> String {
    let mut doc = html.replace(wire::RUNTIME, "");
    let open = "<template for=\"";
    while let Some(start) = doc.find(open) {
        let id_end = start + open.len() + doc[start + open.len()..].find('"').unwrap();
        let id = doc[start + open.len()..id_end].to_owned();
        let content_start = id_end + 2;
        let end = content_start + doc[content_start..].find("</template>").unwrap();
        let content = doc[content_start..end].to_owned();
        let call_end = end + doc[end..].find("</script>").unwrap() + "</script>".len();
        doc.replace_range(start..call_end, "");
        let from = doc.find(&format!("<?start name=\"{id}\">")).unwrap();
        let to = from + doc[from..].find("<?end>").unwrap() + "<?end>".len();
        doc.replace_range(from..to, &content);
    }
    doc.replace("<script></script>", "")
}

#[tokio::test]
async fn shell_is_yielded_before_any_section_resolves() {
    let (page, _senders) = channel_page(3);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    for i in 0..3 {
        assert!(
            shell.contains(&format!(
                "<pp-slot id=\"s{i}\"><?start name=\"s{i}\">loading {i}<?end></pp-slot>"
            )),
            "{shell}"
        );
    }
    assert!(
        is_pending(&mut body),
        "nothing more until a section resolves"
    );
}

#[tokio::test]
async fn out_of_order_sections_follow_resolve_order() {
    let (page, senders) = channel_page(3);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
    for i in [2, 0, 1] {
        senders[i]
            .take()
            .unwrap()
            .send(format!("ready {i}"))
            .unwrap();
        let chunk = next_text(&mut body).await;
        assert!(
            chunk.contains(&format!("<template for=\"s{i}\">ready {i}</template>")),
            "{chunk}"
        );
        if i != 1 {
            assert!(is_pending(&mut body), "section 1 has not resolved");
        }
    }
    assert_eq!(next_text(&mut body).await, "</body></html>");
    assert!(body.next().await.is_none());
}

#[tokio::test]
async fn out_of_order_sends_the_runtime_once_and_holds_body_end_back() {
    let (page, senders) = channel_page(2);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        !shell.contains("</body>"),
        "late sections must land inside the body"
    );
    for (i, tx) in senders.into_iter().enumerate() {
        tx.send(format!("ready {i}")).unwrap();
    }
    let rest = collect_all(body).await.concat();
    assert_eq!(rest.matches(wire::RUNTIME).count(), 1);
    assert!(rest.find(wire::RUNTIME) < rest.find("<template"));
    assert!(rest.ends_with("</body></html>"));
}

/// The chunks of an out-of-order page whose one section `id` resolves, to
/// `ready`, only after the shell was read.
async fn shell_then_late(id: &str, shell: impl Template) -> Vec<String> {
    let (tx, rx) = oneshot::channel::<String>();
    let page =
        Page::new(shell).section(Section::new(
            id,
            text("…"),
            async move { rx.await.map(text) },
        ));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let first = next_text(&mut body).await;
    tx.send("ready".into()).unwrap();
    let mut chunks = vec![first];
    chunks.extend(collect_all(body).await);
    chunks
}

#[derive(Template)]
#[template(
    source = "<HTML><Body><p>a &lt; b</p>{{ s }}</BODY >\n<!-- <b> -->\n</HTML>",
    ext = "html"
)]
struct ShoutingShell {
    s: Slot,
}

#[tokio::test]
async fn late_sections_go_before_a_closing_body_tag_in_any_case() {
    let chunks = shell_then_late("s0", ShoutingShell { s: slot("s0") }).await;
    assert!(!chunks[0].contains("BODY"), "{chunks:?}");
    assert!(chunks[1].contains("<template for=\"s0\">ready</template>"));
    assert_eq!(chunks.last().unwrap(), "</BODY >\n<!-- <b> -->\n</HTML>");
}

#[tokio::test]
async fn in_order_waits_for_every_earlier_section() {
    let (page, senders) = channel_page(3);
    let mut body = render(page, Mode::InOrder).unwrap();
    assert_eq!(next_text(&mut body).await, "<html><body><div>");
    let mut senders: Vec<_> = senders.into_iter().map(Some).collect();

    senders[1].take().unwrap().send("ready 1".into()).unwrap();
    assert!(is_pending(&mut body), "section 1 waits for section 0");

    senders[0].take().unwrap().send("ready 0".into()).unwrap();
    assert_eq!(
        next_text(&mut body).await,
        "<pp-slot id=\"s0\">ready 0</pp-slot></div><div><pp-slot id=\"s1\">ready 1</pp-slot></div><div>"
    );
    assert!(is_pending(&mut body));

    senders[2].take().unwrap().send("ready 2".into()).unwrap();
    assert_eq!(
        next_text(&mut body).await,
        "<pp-slot id=\"s2\">ready 2</pp-slot></div></body></html>"
    );
    assert!(body.next().await.is_none());
}

#[tokio::test]
async fn in_order_output_has_no_script() {
    let (page, senders) = channel_page(2);
    let body = render(page, Mode::InOrder).unwrap();
    for (i, tx) in senders.into_iter().enumerate() {
        tx.send(format!("ready {i}")).unwrap();
    }
    let html = collect_all(body).await.concat();
    assert!(
        !html.contains("<script") && !html.contains("<template"),
        "{html}"
    );
}

#[tokio::test]
async fn buffered_is_one_chunk_in_document_order() {
    let (page, senders) = channel_page(3);
    let mut body = render(page, Mode::Buffered).unwrap();
    let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
    for i in [1, 2] {
        senders[i]
            .take()
            .unwrap()
            .send(format!("ready {i}"))
            .unwrap();
        assert!(
            is_pending(&mut body),
            "nothing before every section resolved"
        );
    }
    senders[0].take().unwrap().send("ready 0".into()).unwrap();
    let chunks = collect_all(body).await;
    assert_eq!(
        chunks,
        [
            "<html><body><div><pp-slot id=\"s0\">ready 0</pp-slot></div><div><pp-slot id=\"s1\">ready 1</pp-slot></div><div><pp-slot id=\"s2\">ready 2</pp-slot></div></body></html>"
        ]
    );
}

#[tokio::test]
async fn every_mode_ends_in_the_same_document_whatever_the_resolve_order() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let mut documents = Vec::new();
        for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
            let (page, senders) = channel_page(3);
            let body = render(page, mode).unwrap();
            let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
            for i in order {
                senders[i]
                    .take()
                    .unwrap()
                    .send(format!("ready {i}"))
                    .unwrap();
            }
            documents.push(apply_late_chunks(&collect_all(body).await.concat()));
        }
        assert_eq!(
            documents[0], documents[1],
            "out-of-order vs in-order, order {order:?}"
        );
        assert_eq!(
            documents[1], documents[2],
            "in-order vs buffered, order {order:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn sections_run_concurrently_so_total_time_is_the_slowest() {
    let start = tokio::time::Instant::now();
    let body = render(timed_page(&[100, 300, 200]), Mode::InOrder).unwrap();
    let html = collect_all(body).await.concat();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(300),
        "the sum would be 600 ms"
    );
    assert!(html.contains("ready 0") && html.contains("ready 1") && html.contains("ready 2"));
}

#[tokio::test(start_paused = true)]
async fn out_of_order_chunks_arrive_when_their_section_resolves() {
    let start = tokio::time::Instant::now();
    let mut body = render(timed_page(&[100, 600, 300]), Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the shell waits for nothing"
    );
    for (i, at) in [(0, 100), (2, 300), (1, 600)] {
        let chunk = next_text(&mut body).await;
        assert!(chunk.contains(&format!("for=\"s{i}\"")), "{chunk}");
        assert_eq!(start.elapsed(), Duration::from_millis(at));
    }
}

#[tokio::test]
async fn a_failing_section_shows_its_error_and_the_page_goes_on() {
    let page = shell(2)
        .section(Section::new("s0", text("loading"), async {
            Err::<Text, _>(std::io::Error::other("database down"))
        }))
        .section(Section::new("s1", text("loading"), async {
            Ok::<_, BoxError>(text("fine"))
        }));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(
        html.contains(&format!(
            "<pp-slot id=\"s0\">{}</pp-slot>",
            wire::DEFAULT_ERROR
        )),
        "{html}"
    );
    assert!(html.contains("<pp-slot id=\"s1\">fine</pp-slot>"));
    assert!(html.ends_with("</body></html>"));
}

#[tokio::test]
async fn content_that_renders_a_slot_without_its_section_shows_the_error_markup() {
    // A template with a slot and no section for it: its markup is searched
    // (a marker was written), and the section fails rather than sending it.
    let orphan = || Shell {
        slots: vec![slot("orphan")],
    };
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        let page = shell(2)
            .section(Section::new("s0", text("loading"), async move {
                Ok::<_, BoxError>(orphan())
            }))
            .section(Section::new("s1", text("loading"), async {
                Ok::<_, BoxError>(text("fine"))
            }));
        let html = collect_all(render(page, mode).unwrap()).await.concat();
        assert!(html.contains(wire::DEFAULT_ERROR), "{mode:?}: {html}");
        assert!(
            !html.contains(wire::MARK_OPEN),
            "{mode:?}: a marker was sent"
        );
        assert!(html.contains("fine"), "{mode:?}: {html}");
    }
}

#[tokio::test]
async fn a_panicking_section_is_contained() {
    let page = shell(2)
        .section(
            Section::new("s0", text("loading"), async {
                if true {
                    panic!("loader bug");
                }
                Ok::<_, BoxError>(text("never"))
            })
            .error(text("sorry")),
        )
        .section(Section::new("s1", text("loading"), async {
            Ok::<_, BoxError>(text("fine"))
        }));
    let html = collect_all(render(page, Mode::OutOfOrder).unwrap())
        .await
        .concat();
    let html = apply_late_chunks(&html);
    assert!(
        html.contains("<pp-slot id=\"s0\">sorry</pp-slot>"),
        "{html}"
    );
    assert!(html.contains("<pp-slot id=\"s1\">fine</pp-slot>"));
}

#[tokio::test(start_paused = true)]
async fn a_section_past_its_timeout_shows_its_timeout_markup() {
    let start = tokio::time::Instant::now();
    let slow = Section::new(
        "s0",
        text("loading"),
        std::future::pending::<Result<Text, BoxError>>(),
    )
    .timeout(Duration::from_millis(250));
    let page = shell(2)
        .section(slow)
        .section(Section::new("s1", text("loading"), async {
            Ok::<_, BoxError>(text("fine"))
        }));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert!(
        html.contains(&format!(
            "<pp-slot id=\"s0\">{}</pp-slot>",
            wire::DEFAULT_TIMEOUT
        )),
        "{html}"
    );
    assert!(html.contains("<pp-slot id=\"s1\">fine</pp-slot>"));
}

#[tokio::test(start_paused = true)]
async fn the_page_deadline_ends_the_document_cleanly() {
    let start = tokio::time::Instant::now();
    let page = timed_page(&[50, 10_000, 20_000]).deadline(Duration::from_secs(1));
    let html = collect_all(render(page, Mode::OutOfOrder).unwrap())
        .await
        .concat();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let html = apply_late_chunks(&html);
    assert!(
        html.contains("<pp-slot id=\"s0\">ready 0</pp-slot>"),
        "{html}"
    );
    for i in [1, 2] {
        assert!(html.contains(&format!(
            "<pp-slot id=\"s{i}\">{}</pp-slot>",
            wire::DEFAULT_TIMEOUT
        )));
    }
    assert!(html.ends_with("</body></html>"));
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_the_stream_drops_pending_section_futures() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let page = shell(1).section(Section::new("s0", text("loading"), async move {
        let _flag = flag;
        std::future::pending::<Result<Text, BoxError>>().await
    }));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    assert!(is_pending(&mut body));
    assert!(
        !dropped.load(Ordering::SeqCst),
        "still running while the client reads"
    );
    drop(body);
    assert!(dropped.load(Ordering::SeqCst), "dropped with the stream");
}

#[tokio::test]
async fn the_nonce_goes_on_every_script() {
    let (page, senders) = channel_page(2);
    let mut body = render(page.nonce("r4nd0m=="), Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    for tx in senders {
        tx.send("x".into()).unwrap();
    }
    let html = shell + &collect_all(body).await.concat();
    assert_eq!(html.matches("<script").count(), 3);
    assert_eq!(html.matches("<script nonce=\"r4nd0m==\">").count(), 3);
}

#[test]
fn an_unsound_page_fails_before_any_byte() {
    let section = |id: &str| Section::new(id, text(""), async { Ok::<_, BoxError>(text("")) });
    type Expect = fn(&Error) -> bool;
    let cases: Vec<(Page, Expect)> = vec![
        (
            shell(2).section(section("s0")),
            |err| matches!(err, Error::UnknownSlot { slot, .. } if slot == "s1"),
        ),
        (
            shell(1).section(section("s0")).section(section("extra")),
            |err| matches!(err, Error::MissingSlot { section, .. } if section == "extra"),
        ),
        (
            shell(1).section(section("s0")).section(section("s0")),
            |err| matches!(err, Error::DuplicateSection(id) if id == "s0"),
        ),
        (
            Page::new(Shell {
                slots: vec![slot("s0"), slot("s0")],
            })
            .section(section("s0")),
            |err| matches!(err, Error::DuplicateSection(id) if id == "s0"),
        ),
        (
            Page::new(Shell {
                slots: vec![slot("bad id")],
            })
            .section(section("bad id")),
            |err| matches!(err, Error::InvalidSectionId(_)),
        ),
        (shell(1).section(section("s0")).nonce("a\"b"), |err| {
            matches!(err, Error::InvalidNonce)
        }),
    ];
    for (page, expected) in cases {
        let err = render(page, Mode::OutOfOrder).err().expect("an error");
        assert!(expected(&err), "unexpected {err}");
    }
}

#[tokio::test]
async fn a_slot_marker_in_content_without_the_token_is_just_text() {
    let fake = format!("{}0000{}", wire::MARK_OPEN, wire::MARK_CLOSE);
    let page = Page::new(Text { text: fake.clone() });
    let html = collect_all(render(page, Mode::Buffered).unwrap()).await;
    assert_eq!(html.concat(), fake);
}

#[derive(Template)]
#[template(
    source = "<ul>{% for s in slots %}<li>{{ s }}</li>{% endfor %}</ul>",
    ext = "html"
)]
struct List {
    slots: Vec<Slot>,
}

/// A page whose one section resolves (when `outer` is sent) to a list of two
/// nested sections, resolved by `inner[0]` and `inner[1]`.
fn nested_page() -> (
    Page,
    oneshot::Sender<()>,
    [oneshot::Sender<String>; 2],
    Arc<AtomicBool>,
) {
    let (outer_tx, outer_rx) = oneshot::channel::<()>();
    let (a_tx, a_rx) = oneshot::channel::<String>();
    let (b_tx, b_rx) = oneshot::channel::<String>();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let outer = async move {
        outer_rx.await?;
        let list = Fragment::new(List {
            slots: vec![slot("a"), slot("b")],
        })
        .section(Section::new("a", text("loading a"), async move {
            a_rx.await.map(text)
        }))
        .section(Section::new("b", text("loading b"), async move {
            let _flag = flag;
            b_rx.await.map(text)
        }));
        Ok::<_, BoxError>(list)
    };
    let page = shell(1).section(Section::new("s0", text("loading 0"), outer));
    (page, outer_tx, [a_tx, b_tx], dropped)
}

#[tokio::test]
async fn nested_sections_stream_as_they_resolve_out_of_order() {
    let (page, outer, [a, b], _) = nested_page();
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    outer.send(()).unwrap();
    let chunk = next_text(&mut body).await;
    assert!(
        chunk.contains(
            "<template for=\"s0\"><ul><li><pp-slot id=\"a\"><?start name=\"a\">loading a<?end></pp-slot></li>"
        ),
        "{chunk}"
    );
    b.send("B".into()).unwrap();
    assert!(
        next_text(&mut body)
            .await
            .contains("<template for=\"b\">B</template>")
    );
    a.send("A".into()).unwrap();
    assert!(
        next_text(&mut body)
            .await
            .contains("<template for=\"a\">A</template>")
    );
    assert_eq!(next_text(&mut body).await, "</body></html>");
}

#[tokio::test]
async fn nested_sections_stream_in_document_order_in_order() {
    let (page, outer, [a, b], _) = nested_page();
    let mut body = render(page, Mode::InOrder).unwrap();
    assert_eq!(next_text(&mut body).await, "<html><body><div>");
    b.send("B".into()).unwrap();
    outer.send(()).unwrap();
    assert_eq!(next_text(&mut body).await, "<pp-slot id=\"s0\"><ul><li>");
    assert!(is_pending(&mut body), "b waits for a");
    a.send("A".into()).unwrap();
    assert_eq!(
        next_text(&mut body).await,
        "<pp-slot id=\"a\">A</pp-slot></li><li><pp-slot id=\"b\">B</pp-slot></li></ul></pp-slot></div></body></html>"
    );
}

#[tokio::test]
async fn nested_sections_end_in_the_same_document_in_every_mode() {
    let mut documents = Vec::new();
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        let (page, outer, [a, b], _) = nested_page();
        let body = render(page, mode).unwrap();
        outer.send(()).unwrap();
        b.send("B".into()).unwrap();
        a.send("A".into()).unwrap();
        let chunks = collect_all(body).await;
        if mode == Mode::Buffered {
            assert_eq!(chunks.len(), 1);
        }
        documents.push(apply_late_chunks(&chunks.concat()));
    }
    assert!(documents[0].contains("<pp-slot id=\"s0\"><ul><li><pp-slot id=\"a\">A</pp-slot>"));
    assert_eq!(documents[0], documents[1]);
    assert_eq!(documents[1], documents[2]);
}

#[tokio::test]
async fn dropping_the_stream_drops_nested_pending_sections() {
    let (page, outer, [_a, _b], dropped) = nested_page();
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    outer.send(()).unwrap();
    next_text(&mut body).await;
    assert!(is_pending(&mut body));
    assert!(!dropped.load(Ordering::SeqCst));
    drop(body);
    assert!(
        dropped.load(Ordering::SeqCst),
        "nested futures go with the stream"
    );
}

#[tokio::test]
async fn a_nested_id_clashing_with_the_page_fails_only_its_parent() {
    let clash = async {
        let inner = Fragment::new(List {
            slots: vec![slot("s1")],
        })
        .section(Section::new("s1", text(""), async {
            Ok::<_, BoxError>(text("x"))
        }));
        Ok::<_, BoxError>(inner)
    };
    let page = shell(2)
        .section(Section::new("s0", text("loading"), clash))
        .section(Section::new("s1", text("loading"), async {
            Ok::<_, BoxError>(text("fine"))
        }));
    let html = collect_all(render(page, Mode::Buffered).unwrap())
        .await
        .concat();
    assert!(html.contains(&format!(
        "<pp-slot id=\"s0\">{}</pp-slot>",
        wire::DEFAULT_ERROR
    )));
    assert!(html.contains("<pp-slot id=\"s1\">fine</pp-slot>"));
}

#[tokio::test]
async fn data_rides_with_its_section_as_a_json_block() {
    let content = async {
        Ok::<_, BoxError>(
            Fragment::new(text("reviews")).data("s0-data", &serde_json::json!({"stars": [1, 5]})),
        )
    };
    let page = shell(1)
        .section(Section::new("s0", text("loading"), content))
        .data("page-data", &["x"]);
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(html.contains(
        "<pp-slot id=\"s0\">reviews<script type=\"application/json\" id=\"s0-data\">{\"stars\":[1,5]}</script></pp-slot>"
    ), "{html}");
    assert!(html.ends_with(
        "<script type=\"application/json\" id=\"page-data\">[\"x\"]</script></body></html>"
    ));
}

/// The text of every `<script type="application/json">` block: what a browser
/// would parse as its contents (up to the first `</script`, any case).
fn json_blocks(html: &str) -> Vec<String> {
    let open = "<script type=\"application/json\"";
    let lower = html.to_ascii_lowercase();
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(found) = html[at..].find(open) {
        let start = at + found + html[at + found..].find('>').unwrap() + 1;
        let end = start + lower[start..].find("</script").expect("the block ends");
        blocks.push(html[start..end].to_owned());
        at = end;
    }
    blocks
}

fn data_page(value: &serde_json::Value) -> Page {
    let value = value.clone();
    let content = async move { Ok::<_, BoxError>(Fragment::new(text("x")).data("d", &value)) };
    shell(1).section(Section::new("s0", text("loading"), content))
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(200))]

    #[test]
    fn no_data_can_break_out_of_its_script_block(
        pieces in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("</script>".to_owned()),
                proptest::strategy::Just("</SCRIPT >".to_owned()),
                proptest::strategy::Just("<!--".to_owned()),
                proptest::strategy::Just("<script>".to_owned()),
                proptest::strategy::Just("-->".to_owned()),
                proptest::strategy::Just("\u{2028}\u{2029}".to_owned()),
                proptest::strategy::Just("&amp;\"'\\".to_owned()),
                proptest::strategy::Just("\u{FDD0}\u{0}\u{FFFF}\u{1F600}".to_owned()),
                ".*",
            ],
            0..8,
        )
    ) {
        let text_value = pieces.concat();
        let value = serde_json::json!({ "text": text_value, "list": pieces });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
            let html = runtime.block_on(collect_all(render(data_page(&value), mode).unwrap())).concat();
            let blocks = json_blocks(&html);
            proptest::prop_assert_eq!(blocks.len(), 1);
            let block = &blocks[0];
            for banned in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
                proptest::prop_assert!(!block.contains(banned), "{:?} in {}", banned, block);
            }
            let parsed: serde_json::Value = serde_json::from_str(block).unwrap();
            proptest::prop_assert_eq!(&parsed, &value);
        }
    }
}

#[tokio::test]
async fn page_data_does_not_stop_late_sections_landing_inside_the_body() {
    let (page, senders) = channel_page(1);
    let mut body = render(page.data("page-data", &1), Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.ends_with("<script type=\"application/json\" id=\"page-data\">1</script>"),
        "{shell}"
    );
    senders
        .into_iter()
        .for_each(|tx| tx.send("x".into()).unwrap());
    let rest = collect_all(body).await.concat();
    assert!(rest.contains("<template for=\"s0\">") && rest.ends_with("</body></html>"));
}

#[test]
fn crawlers_and_http_1_0_get_the_buffered_document() {
    use actix_web::http::{Version, header::USER_AGENT};
    use actix_web::test::TestRequest;
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
    let phone = "Mozilla/5.0 (Linux; Android 10; Cubot X30) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36";
    let request = |ua: &str, version| {
        TestRequest::default()
            .insert_header((USER_AGENT, ua))
            .version(version)
            .to_http_request()
    };
    let cases = [
        (googlebot, Version::HTTP_11, None, Mode::Buffered),
        (
            "facebookexternalhit/1.1",
            Version::HTTP_11,
            None,
            Mode::Buffered,
        ),
        (chrome, Version::HTTP_11, None, Mode::OutOfOrder),
        (phone, Version::HTTP_11, None, Mode::OutOfOrder),
        ("curl/8.5.0", Version::HTTP_11, None, Mode::OutOfOrder),
        ("", Version::HTTP_11, None, Mode::OutOfOrder),
        (chrome, Version::HTTP_10, None, Mode::Buffered),
        (
            googlebot,
            Version::HTTP_11,
            Some(Mode::OutOfOrder),
            Mode::OutOfOrder,
        ),
        (
            chrome,
            Version::HTTP_10,
            Some(Mode::InOrder),
            Mode::Buffered,
        ),
        (chrome, Version::HTTP_11, Some(Mode::InOrder), Mode::InOrder),
    ];
    for (ua, version, preferred, expected) in cases {
        assert_eq!(
            Mode::choose(&request(ua, version), preferred),
            expected,
            "{ua} {version:?} {preferred:?}"
        );
    }
}

#[tokio::test]
async fn a_page_over_its_section_limit_fails_before_any_byte_and_nested_excess_fails_its_parent() {
    let (page, _senders) = channel_page(3);
    assert!(matches!(
        render(page.max_sections(2), Mode::OutOfOrder),
        Err(Error::TooManySections(2))
    ));

    let (page, outer, [_a, _b], _) = nested_page();
    let body = render(page.max_sections(2), Mode::Buffered).unwrap();
    outer.send(()).unwrap();
    let html = collect_all(body).await.concat();
    assert!(
        html.contains(&format!(
            "<pp-slot id=\"s0\">{}</pp-slot>",
            wire::DEFAULT_ERROR
        )),
        "{html}"
    );
}

/// A section whose error markup says how it failed and what it may show.
fn telling(
    id: &str,
    content: impl std::future::Future<Output = Result<Text, BoxError>> + 'static,
) -> Section {
    Section::new(id, text("loading"), content)
        .timeout(Duration::from_millis(100))
        .error_with(|failure: &crate::Failure| {
            text(format!("{:?}: {}", failure.kind(), failure.message()))
        })
}

#[tokio::test(start_paused = true)]
async fn an_error_template_tells_failure_panic_and_timeout_apart() {
    let page = shell(4)
        .section(telling("s0", async {
            Err(std::io::Error::other("db at 10.0.0.7 refused").into())
        }))
        .section(telling("s1", async {
            Err(crate::PublicError::new("Reviews are <paused> & back soon").into())
        }))
        .section(telling("s2", async {
            if true {
                panic!("loader bug");
            }
            Ok(text("never"))
        }))
        .section(telling("s3", std::future::pending()));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(
        html.contains("<pp-slot id=\"s0\">Error: This section could not be loaded.</pp-slot>"),
        "a private error's text stays off the page: {html}"
    );
    assert!(!html.contains("10.0.0.7"));
    assert!(
        html.contains(
            "<pp-slot id=\"s1\">Error: Reviews are &#60;paused&#62; &#38; back soon</pp-slot>"
        ),
        "a public message is shown, escaped: {html}"
    );
    assert!(
        html.contains("<pp-slot id=\"s2\">Panic: This section could not be loaded.</pp-slot>"),
        "{html}"
    );
    assert!(
        html.contains("<pp-slot id=\"s3\">Timeout: This section took too long to load.</pp-slot>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_public_error_wrapped_in_another_is_still_shown() {
    #[derive(Debug)]
    struct Wrapper(crate::PublicError);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let page = shell(1).section(telling("s0", async {
        Err(Wrapper(crate::PublicError::new("Try again later")).into())
    }));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(html.contains("Error: Try again later"), "{html}");
}

#[tokio::test]
async fn infallible_loaders_and_ok_need_no_annotation() {
    async fn plain() -> Text {
        text("plain value")
    }
    let owned = String::from("owned");
    let page = shell(2)
        .section(Section::infallible("s0", text("loading"), plain()))
        .section(Section::new("s1", text("loading"), async move {
            let parsed: u32 = "7".parse()?;
            crate::ok(text(format!("{owned} {parsed}")))
        }));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(
        html.contains("<pp-slot id=\"s0\">plain value</pp-slot>"),
        "{html}"
    );
    assert!(
        html.contains("<pp-slot id=\"s1\">owned 7</pp-slot>"),
        "{html}"
    );
}

#[test]
fn a_slot_typo_names_the_slot_and_the_unplaced_section() {
    let page = Page::new(Shell {
        slots: vec![slot("stock"), slot("news")],
    })
    .section(Section::new("stocks", text(""), async {
        Ok::<_, BoxError>(text(""))
    }))
    .section(Section::new("news", text(""), async {
        Ok::<_, BoxError>(text(""))
    }));
    let err = render(page, Mode::OutOfOrder).err().expect("an error");
    assert!(
        matches!(&err, Error::UnknownSlot { slot, unplaced } if slot == "stock" && unplaced == &["stocks"]),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("did you mean \"stocks\"?"),
        "{err}"
    );
}

#[tokio::test]
async fn sections_ready_at_shell_time_are_written_in_place() {
    let ready = |i: usize| async move { Ok::<_, BoxError>(text(format!("ready {i}"))) };
    let page = shell(2)
        .section(Section::new("s0", text("loading 0"), ready(0)))
        .section(Section::new("s1", text("loading 1"), ready(1)));
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    assert_eq!(chunks.len(), 1, "one chunk: {chunks:?}");
    assert_eq!(
        chunks[0],
        "<html><body><div><pp-slot id=\"s0\">ready 0</pp-slot></div>\
         <div><pp-slot id=\"s1\">ready 1</pp-slot></div></body></html>"
    );
    assert!(!chunks[0].contains("<script") && !chunks[0].contains("<template"));
}

#[tokio::test]
async fn ready_and_pending_sections_mix_in_the_shell() {
    let (tx, rx) = oneshot::channel::<String>();
    let page = shell(2)
        .section(Section::new("s0", text("loading 0"), async {
            Ok::<_, BoxError>(text("ready 0"))
        }))
        .section(Section::new("s1", text("loading 1"), async move {
            rx.await.map(text)
        }));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("<pp-slot id=\"s0\">ready 0</pp-slot>"),
        "{shell}"
    );
    assert!(shell.contains("<?start name=\"s1\"><p>") || shell.contains("loading 1"));
    assert!(!shell.contains("loading 0"));
    assert!(is_pending(&mut body));
    tx.send("ready 1".into()).unwrap();
    let rest = collect_all(body).await.concat();
    assert!(
        rest.contains("<template for=\"s1\">ready 1</template>"),
        "{rest}"
    );
    assert!(!rest.contains("s0"));
}

#[tokio::test]
async fn nested_sections_ready_at_shell_time_are_in_place_too() {
    let page = shell(1).section(Section::new("s0", text("loading"), async {
        let inner = Section::new("inner", text("loading inner"), async {
            Ok::<_, BoxError>(text("inner ready"))
        });
        Ok::<_, BoxError>(
            Fragment::new(Shell {
                slots: vec![slot("inner")],
            })
            .section(inner),
        )
    }));
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(
        chunks[0].contains(
            "<pp-slot id=\"s0\"><html><body><div><pp-slot id=\"inner\">inner ready</pp-slot>"
        ),
        "{chunks:?}"
    );
    assert!(!chunks[0].contains("loading"));
}

#[tokio::test]
async fn every_mode_ends_in_the_same_dom_with_sections_in_place() {
    let page = |(tx, rx): (oneshot::Sender<String>, oneshot::Receiver<String>)| {
        let page = shell(3)
            .section(Section::new("s0", text("loading 0"), async {
                Ok::<_, BoxError>(text("ready 0"))
            }))
            .section(Section::new("s1", text("loading 1"), async move {
                rx.await.map(text)
            }))
            .section(Section::new("s2", text("loading 2"), async {
                Err::<Text, _>(std::io::Error::other("down"))
            }));
        (page, tx)
    };
    let mut doms = Vec::new();
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        let (page, tx) = page(oneshot::channel());
        let mut body = render(page, mode).unwrap();
        let first = if mode == Mode::Buffered {
            String::new()
        } else {
            next_text(&mut body).await
        };
        tx.send("ready 1".into()).unwrap();
        let html = first + &collect_all(body).await.concat();
        doms.push(apply_late_chunks(&html));
    }
    assert_eq!(doms[0], doms[1]);
    assert_eq!(doms[1], doms[2]);
    assert!(doms[0].contains(&format!(
        "<pp-slot id=\"s2\">{}</pp-slot>",
        wire::DEFAULT_ERROR
    )));
}

#[tokio::test(start_paused = true)]
async fn a_shell_budget_writes_what_resolves_in_time_in_place() {
    let start = tokio::time::Instant::now();
    let page = timed_page(&[20, 300]).shell_budget(Duration::from_millis(100));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100),
        "the shell waits the budget"
    );
    assert!(
        shell.contains("<pp-slot id=\"s0\">ready 0</pp-slot>"),
        "{shell}"
    );
    assert!(shell.contains("loading 1"), "{shell}");
    let late = next_text(&mut body).await;
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert!(
        late.contains("<template for=\"s1\">ready 1</template>"),
        "{late}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shell_budget_ends_when_every_section_resolved() {
    let start = tokio::time::Instant::now();
    let page = timed_page(&[20, 40]).shell_budget(Duration::from_millis(100));
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(40),
        "not the whole budget"
    );
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(!chunks[0].contains("loading"));
}

#[tokio::test(start_paused = true)]
async fn a_section_failing_or_timing_out_within_the_budget_shows_its_error_in_place() {
    let start = tokio::time::Instant::now();
    let page = shell(2)
        .section(
            Section::new(
                "s0",
                text("loading 0"),
                std::future::pending::<Result<Text, BoxError>>(),
            )
            .timeout(Duration::from_millis(30)),
        )
        .section(Section::new("s1", text("loading 1"), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<Text, _>(std::io::Error::other("down"))
        }))
        .shell_budget(Duration::from_millis(100));
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(chunks[0].contains(&format!(
        "<pp-slot id=\"s0\">{}</pp-slot>",
        wire::DEFAULT_TIMEOUT
    )));
    assert!(chunks[0].contains(&format!(
        "<pp-slot id=\"s1\">{}</pp-slot>",
        wire::DEFAULT_ERROR
    )));
}

#[tokio::test(start_paused = true)]
async fn in_order_holds_its_first_chunk_for_the_budget_too() {
    let start = tokio::time::Instant::now();
    let page = timed_page(&[50, 300]).shell_budget(Duration::from_millis(100));
    let mut body = render(page, Mode::InOrder).unwrap();
    let first = next_text(&mut body).await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert!(
        first.contains("<pp-slot id=\"s0\">ready 0</pp-slot>"),
        "{first}"
    );
    assert!(
        !first.contains("s1"),
        "in order stops before the pending section: {first}"
    );
}

#[derive(Template)]
#[template(
    source = "<html><body><!-- </body> -->{{ s }}</body>\n<!-- was </body> -->\n</html>",
    ext = "html"
)]
struct CommentedBodyEndShell {
    s: Slot,
}

#[tokio::test]
async fn a_closing_body_tag_in_a_comment_does_not_take_the_late_sections() {
    let chunks = shell_then_late("s0", CommentedBodyEndShell { s: slot("s0") }).await;
    assert_eq!(
        chunks.last().unwrap(),
        "</body>\n<!-- was </body> -->\n</html>",
        "the tail starts at the real closing tag: {chunks:?}"
    );
    let html = chunks.concat();
    assert_eq!(
        apply_late_chunks(&html),
        "<html><body><!-- </body> --><pp-slot id=\"s0\">ready</pp-slot></body>\n<!-- was </body> -->\n</html>",
        "the late section lands in the body, not in a comment"
    );
}

/// A page of three channel-driven sections where s2 shows after s0 and s1
/// after s2.
fn chained_page() -> (Page, Vec<oneshot::Sender<String>>) {
    let mut senders = Vec::new();
    let mut page = shell(3);
    for (i, after) in [(0, None), (1, Some("s2")), (2, Some("s0"))] {
        let (tx, rx) = oneshot::channel::<String>();
        senders.push(tx);
        let mut section = Section::new(format!("s{i}"), text(format!("loading {i}")), async move {
            rx.await.map(text)
        });
        if let Some(after) = after {
            section = section.after(after);
        }
        page = page.section(section);
    }
    (page, senders)
}

/// Every chunk available now, without waiting.
fn drain(body: &mut Body, chunks: &mut Vec<String>) {
    while let Some(Some(chunk)) = body.next().now_or_never() {
        chunks.push(unpadded(
            String::from_utf8(chunk.unwrap().to_vec()).unwrap(),
        ));
    }
}

/// The index of the first chunk in which section `i`'s content appears.
fn chunk_of(chunks: &[String], i: usize) -> usize {
    chunks
        .iter()
        .position(|chunk| chunk.contains(&format!("ready {i}")))
        .unwrap_or_else(|| panic!("ready {i} in {chunks:?}"))
}

#[tokio::test]
async fn reveal_order_holds_in_every_mode_and_resolve_order() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        let mut doms = Vec::new();
        for order in orders {
            let (page, mut senders) = chained_page();
            let mut body = render(page, mode).unwrap();
            let mut chunks = Vec::new();
            drain(&mut body, &mut chunks);
            let mut senders: Vec<_> = senders.drain(..).map(Some).collect();
            for i in order {
                senders[i]
                    .take()
                    .unwrap()
                    .send(format!("ready {i}"))
                    .unwrap();
                drain(&mut body, &mut chunks);
            }
            chunks.extend(collect_all(body).await);
            let (s0, s1, s2) = (
                chunk_of(&chunks, 0),
                chunk_of(&chunks, 1),
                chunk_of(&chunks, 2),
            );
            assert!(s0 <= s2 && s2 <= s1, "{mode:?} {order:?}: {chunks:?}");
            let html = chunks.concat();
            if mode == Mode::OutOfOrder {
                let at = |i: usize| html.find(&format!("<template for=\"s{i}\">")).unwrap();
                assert!(at(0) < at(2) && at(2) < at(1), "{order:?}: {html}");
            }
            doms.push(apply_late_chunks(&html));
        }
        assert!(
            doms.windows(2).all(|pair| pair[0] == pair[1]),
            "{mode:?}: same DOM"
        );
    }
}

#[tokio::test]
async fn a_section_ready_before_the_one_it_follows_is_not_written_in_place() {
    let (tx, rx) = oneshot::channel::<String>();
    let page = shell(2)
        .section(Section::new("s0", text("loading 0"), async move {
            rx.await.map(text)
        }))
        .section(
            Section::new("s1", text("loading 1"), async {
                Ok::<_, BoxError>(text("ready 1"))
            })
            .after("s0"),
        );
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("loading 1") && !shell.contains("ready 1"),
        "{shell}"
    );
    assert!(is_pending(&mut body), "s1 is held while s0 is pending");
    tx.send("ready 0".into()).unwrap();
    let next = next_text(&mut body).await;
    let (s0, s1) = (
        next.find("for=\"s0\"").unwrap(),
        next.find("for=\"s1\"").unwrap(),
    );
    assert!(s0 < s1, "one chunk, s0 first: {next}");
}

#[tokio::test(start_paused = true)]
async fn a_followed_section_that_times_out_still_releases_its_follower() {
    let start = tokio::time::Instant::now();
    let page = shell(2)
        .section(
            Section::new(
                "s0",
                text("loading 0"),
                std::future::pending::<Result<Text, BoxError>>(),
            )
            .timeout(Duration::from_millis(200)),
        )
        .section(
            Section::new("s1", text("loading 1"), async {
                Ok::<_, BoxError>(text("ready 1"))
            })
            .after("s0"),
        );
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    let next = next_text(&mut body).await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert!(
        next.contains(wire::DEFAULT_TIMEOUT) && next.contains("ready 1"),
        "{next}"
    );
}

#[test]
fn an_unknown_reveal_target_or_a_cycle_fails_before_any_byte() {
    let section = |id: &str| Section::new(id, text(""), async { Ok::<_, BoxError>(text("")) });
    let unknown = shell(1).section(section("s0").after("price"));
    let err = render(unknown, Mode::OutOfOrder).err().expect("an error");
    assert!(
        matches!(&err, Error::UnknownRevealTarget { section, after } if section == "s0" && after == "price"),
        "{err:?}"
    );
    let cycle = shell(2)
        .section(section("s0").after("s1"))
        .section(section("s1").after("s0"));
    let err = render(cycle, Mode::InOrder).err().expect("an error");
    assert!(
        matches!(&err, Error::RevealCycle(ids) if ids.contains("s0") && ids.contains("s1")),
        "{err:?}"
    );
    let itself = shell(1).section(section("s0").after("s0"));
    assert!(matches!(
        render(itself, Mode::Buffered).err(),
        Some(Error::RevealCycle(_))
    ));
}

#[tokio::test]
async fn a_deadline_too_far_for_the_clock_is_no_deadline() {
    let page = timed_page(&[0]).deadline(Duration::MAX);
    let html = collect_all(render(page, Mode::OutOfOrder).unwrap())
        .await
        .concat();
    assert!(html.contains("ready 0"), "{html}");
}

/// Text of `len` bytes that counts how often it is rendered.
struct Counting {
    len: usize,
    renders: Renders,
}

type Renders = std::rc::Rc<std::cell::Cell<usize>>;

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.renders.set(self.renders.get() + 1);
        f.write_str(&"x".repeat(self.len))
    }
}

#[derive(Template)]
#[template(source = "<p>{{ body|safe }}</p>", ext = "html")]
struct Big {
    body: Counting,
}

/// Section `s{i}`, of `len` bytes counted in `renders`, resolving after
/// `delay` of tokio time (at once for none).
fn counted(i: usize, len: usize, delay: Option<Duration>, renders: &Renders) -> Section {
    let body = Counting {
        len,
        renders: renders.clone(),
    };
    Section::infallible(format!("s{i}"), text(format!("loading {i}")), async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        Big { body }
    })
}

/// A page of `n` sections of `len` bytes each, ready at once, counting
/// their renders.
fn big_page(n: usize, len: usize) -> (Page, Renders) {
    let renders = Renders::default();
    let page = (0..n).fold(shell(n), |page, i| {
        page.section(counted(i, len, None, &renders))
    });
    (page, renders)
}

/// Section `s0`, resolved by sending its text.
fn s0_by_channel() -> (Section, oneshot::Sender<String>) {
    let (tx, rx) = oneshot::channel::<String>();
    let section = Section::new("s0", text("loading 0"), async move { rx.await.map(text) });
    (section, tx)
}

#[tokio::test]
async fn a_page_of_large_sections_ready_at_once_goes_in_pieces_each_rendered_when_reached() {
    const LEN: usize = 100 * 1024;
    for mode in [Mode::OutOfOrder, Mode::InOrder] {
        let (page, renders) = big_page(8, LEN);
        let mut body = render(page, mode).unwrap();
        let first = next_text(&mut body).await;
        assert_eq!(first.len(), PIECE, "{mode:?}");
        assert_eq!(
            renders.get(),
            1,
            "{mode:?}: only the section in the first piece"
        );
        let mut chunks = vec![first];
        while let Some(chunk) = body.next().await {
            let chunk = String::from_utf8(chunk.unwrap().to_vec()).unwrap();
            assert!(chunk.len() <= PIECE, "{mode:?}: a chunk of {}", chunk.len());
            chunks.push(chunk);
        }
        assert_eq!(renders.get(), 8, "{mode:?}");
        let html = chunks.concat();
        assert_eq!(html.matches(&"x".repeat(LEN)).count(), 8, "{mode:?}");
        assert!(html.ends_with("</body></html>"), "{mode:?}");
    }
}

#[tokio::test]
async fn a_buffered_page_is_still_one_chunk_however_large() {
    let (page, renders) = big_page(4, 100 * 1024);
    let chunks = collect_all(render(page, Mode::Buffered).unwrap()).await;
    assert_eq!(chunks.len(), 1);
    assert_eq!(renders.get(), 4);
}

#[tokio::test(start_paused = true)]
async fn sections_waiting_for_the_shell_budget_hold_their_data_not_their_markup() {
    let renders = Renders::default();
    let never = Section::new(
        "s4",
        text("loading 4"),
        std::future::pending::<Result<Text, BoxError>>(),
    );
    let delay = Some(Duration::from_millis(10));
    let page = (0..4)
        .fold(shell(5).section(never), |page, i| {
            page.section(counted(i, 10, delay, &renders))
        })
        .shell_budget(Duration::from_millis(100));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let early = tokio::time::timeout(Duration::from_millis(50), body.next()).await;
    assert!(early.is_err(), "the shell waits for its budget");
    assert_eq!(renders.get(), 0, "resolved, held, not rendered");
    let shell = next_text(&mut body).await;
    assert_eq!(renders.get(), 4);
    assert_eq!(shell.matches("<p>xxxxxxxxxx</p>").count(), 4, "{shell}");
    assert!(shell.contains("loading 4"), "{shell}");
}

#[tokio::test]
async fn sections_waiting_for_an_earlier_slot_in_order_are_rendered_when_their_turn_comes() {
    let (s0, tx) = s0_by_channel();
    let renders = Renders::default();
    let page = (1..4).fold(shell(4).section(s0), |page, i| {
        page.section(counted(i, 10, None, &renders))
    });
    let mut body = render(page, Mode::InOrder).unwrap();
    let first = next_text(&mut body).await;
    assert!(first.ends_with("<div>"), "{first}");
    assert!(is_pending(&mut body));
    assert_eq!(renders.get(), 0, "held as data while s0 loads");
    tx.send("ready 0".into()).unwrap();
    let rest = collect_all(body).await.concat();
    assert_eq!(renders.get(), 3);
    assert!(
        rest.starts_with("<pp-slot id=\"s0\">ready 0</pp-slot>"),
        "{rest}"
    );
}

/// A section whose loader renders `len` bytes of markup up front.
fn rendered_ahead(id: &str, len: usize) -> Section {
    let html = "y".repeat(len);
    Section::new(id, text("…"), async move {
        Ok::<_, BoxError>(Fragment::new(text(html)))
    })
}

#[tokio::test]
async fn markup_rendered_ahead_past_the_cap_is_not_held_in_order() {
    let (s0, tx) = s0_by_channel();
    // s1 and s2 resolve by shell time, which takes the held markup to the
    // cap; s3 resolves after it.
    let page = shell(4)
        .section(s0)
        .section(rendered_ahead("s1", 200))
        .section(rendered_ahead("s2", 200))
        .section(rendered_ahead("s3", 200).error(text("over the cap")))
        .max_held_bytes(300);
    let mut body = render(page, Mode::InOrder).unwrap();
    next_text(&mut body).await;
    assert!(is_pending(&mut body));
    tx.send("ready 0".into()).unwrap();
    let rest = collect_all(body).await.concat();
    assert_eq!(rest.matches(&"y".repeat(200)).count(), 2, "{rest}");
    assert!(
        rest.contains("<pp-slot id=\"s3\">over the cap</pp-slot>"),
        "{rest}"
    );
}

#[tokio::test]
async fn a_section_held_for_its_reveal_order_goes_out_once_the_cap_is_reached() {
    let (s0, tx) = s0_by_channel();
    let page = shell(2)
        .section(s0)
        .section(rendered_ahead("s1", 200).after("s0"))
        .max_held_bytes(100);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(!shell.contains("yyy"), "{shell}");
    let late = next_text(&mut body).await;
    assert!(
        late.contains("<template for=\"s1\">") && late.contains(&"y".repeat(200)),
        "s1 went out before s0: {late}"
    );
    assert!(is_pending(&mut body));
    tx.send("ready 0".into()).unwrap();
    let rest = collect_all(body).await.concat();
    assert!(rest.contains("<template for=\"s0\">ready 0"), "{rest}");
}

#[tokio::test]
async fn a_shell_budget_ends_once_the_markup_held_reaches_the_cap() {
    let page = shell(2)
        .section(rendered_ahead("s0", 200))
        .section(Section::new(
            "s1",
            text("loading 1"),
            std::future::pending::<Result<Text, BoxError>>(),
        ))
        .shell_budget(Duration::from_secs(3600))
        .max_held_bytes(100);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = tokio::time::timeout(Duration::from_secs(5), next_text(&mut body))
        .await
        .expect("the shell did not wait out its budget");
    assert!(
        shell.contains(&"y".repeat(200)) && shell.contains("loading 1"),
        "{shell}"
    );
}

#[tokio::test]
async fn a_section_ready_before_its_client_finished_is_written_in_every_mode() {
    // Without an order between "a section resolved" and "the client
    // finished", the page would end either way, a toss each time.
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        for _ in 0..32 {
            let client = std::rc::Rc::new(crate::client::ClientSide::default());
            client.finish();
            let page = shell(2)
                .section(Section::new("s0", text("loading 0"), async {
                    Ok::<_, BoxError>(text("ready 0"))
                }))
                .section(Section::new(
                    "s1",
                    text("loading 1"),
                    std::future::pending::<Result<Text, BoxError>>(),
                ));
            let body = render_for_client(page, mode, Some(client)).unwrap();
            let html = collect_all(body).await.concat();
            assert!(html.contains("ready 0"), "{mode:?}: {html}");
            assert!(html.contains(wire::DEFAULT_TIMEOUT), "{mode:?}: {html}");
        }
    }
}

#[test]
fn a_data_block_id_used_twice_or_by_a_section_is_named_as_a_data_block() {
    let pending = || std::future::pending::<Result<Text, BoxError>>();
    for page in [
        shell(1)
            .section(Section::new("s0", text("…"), pending()))
            .data("s0", &1),
        shell(0).data("d", &1).data("d", &2),
    ] {
        let err = render(page, Mode::OutOfOrder).err().expect("unsound");
        assert!(matches!(err, Error::DuplicateDataId(_)), "{err}");
        assert!(err.to_string().starts_with("data block id"), "{err}");
    }
}

/// The first chunk as sent, padding and all.
async fn first_chunk(body: &mut Body) -> String {
    let chunk = body.next().await.expect("a chunk").expect("no error");
    String::from_utf8(chunk.to_vec()).expect("utf-8")
}

#[tokio::test]
async fn a_short_first_chunk_is_padded_to_the_sniffing_buffer_when_sections_follow() {
    for mode in [Mode::OutOfOrder, Mode::InOrder] {
        let (page, senders) = channel_page(2);
        let mut body = render(page, mode).unwrap();
        let first = first_chunk(&mut body).await;
        assert_eq!(first.len(), wire::SNIFF_BYTES, "{mode:?}: {first}");
        let padding = &first[first.rfind("<!--").unwrap()..];
        assert!(
            padding.ends_with("-->"),
            "{mode:?}: ends with one comment: {first}"
        );
        assert!(padding[4..padding.len() - 3].bytes().all(|b| b == b' '));
        assert_eq!(unpadded(first.clone()).len() + padding.len(), first.len());
        for tx in senders {
            tx.send("ready".into()).unwrap();
        }
        let rest = collect_all_raw(body).await.concat();
        assert!(
            !rest.contains("<!--"),
            "{mode:?}: only the first chunk is padded: {rest}"
        );
    }
}

#[tokio::test]
async fn a_first_chunk_of_the_sniffing_buffer_or_more_is_sent_as_it_is() {
    let long = "l".repeat(wire::SNIFF_BYTES);
    for mode in [Mode::OutOfOrder, Mode::InOrder] {
        let (tx, rx) = oneshot::channel::<String>();
        let page = shell(1).section(Section::new("s0", text(&*long), async move {
            rx.await.map(text)
        }));
        let mut body = render(page, mode).unwrap();
        let first = first_chunk(&mut body).await;
        // In order, the first chunk ends before the slot, so its loading
        // markup is not in it: the shell alone is short, and padded.
        if mode == Mode::OutOfOrder {
            assert!(first.len() > wire::SNIFF_BYTES, "{first}");
            assert!(!first.contains("<!--"), "not padded: {first}");
        } else {
            assert_eq!(first.len(), wire::SNIFF_BYTES, "{first}");
        }
        tx.send("ready".into()).unwrap();
        collect_all(body).await;
    }
}

#[tokio::test]
async fn a_page_that_ends_with_its_first_chunk_is_not_padded() {
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        let page = shell(1).section(Section::new("s0", text("loading"), async {
            Ok::<_, BoxError>(text("ready"))
        }));
        let chunks = collect_all_raw(render(page, mode).unwrap()).await;
        assert_eq!(chunks.len(), 1, "{mode:?}: {chunks:?}");
        assert!(chunks[0].len() < wire::SNIFF_BYTES, "{mode:?}: {chunks:?}");
        assert!(!chunks[0].contains("<!--"), "{mode:?}: {chunks:?}");
    }
    // Buffered, even while sections are pending when it starts.
    let (page, senders) = channel_page(2);
    let body = render(page, Mode::Buffered).unwrap();
    for tx in senders {
        tx.send("ready".into()).unwrap();
    }
    let chunks = collect_all_raw(body).await;
    assert!(!chunks.concat().contains("<!--"), "{chunks:?}");
}

/// Every chunk as sent, padding and all.
async fn collect_all_raw(mut body: Body) -> Vec<String> {
    let mut chunks = Vec::new();
    while let Some(chunk) = body.next().await {
        chunks.push(String::from_utf8(chunk.unwrap().to_vec()).unwrap());
    }
    chunks
}
mod cache;
mod list;
