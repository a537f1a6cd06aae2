//! List sections ([`Section::stream`]) as the generator writes them: items
//! sent through channels or timed by paused tokio time.

use std::sync::atomic::AtomicUsize;

use futures_util::stream;
use tokio::sync::mpsc;

use super::*;

/// A page with one list section `list`, fed by the returned sender.
fn list_page(section: impl FnOnce(Section) -> Section) -> (Page, mpsc::UnboundedSender<Item>) {
    list_after(0, section)
}

/// [`list_page`] after `n` slots `s0`… with no section yet.
fn list_after(
    n: usize,
    section: impl FnOnce(Section) -> Section,
) -> (Page, mpsc::UnboundedSender<Item>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let items = received(rx);
    let list = Section::stream("list", text("loading list"), items).end(text("list done"));
    (shell(n).section(section(list)), tx)
}

type Item = Result<Text, BoxError>;

/// The items sent to `rx`, ending when every sender is dropped.
fn received(rx: mpsc::UnboundedReceiver<Item>) -> impl futures_util::Stream<Item = Item> {
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

fn shell(n: usize) -> Page {
    Page::new(Shell {
        slots: (0..n)
            .map(|i| slot(format!("s{i}")))
            .chain(std::iter::once(slot("list")))
            .collect(),
    })
}

fn item(k: usize) -> Item {
    Ok(text(format!("item {k};")))
}

#[tokio::test]
async fn out_of_order_each_item_fills_the_end_of_the_one_before() {
    let (page, tx) = list_page(|list| list);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("<pp-slot id=\"list\"><?start name=\"list\">loading list<?end></pp-slot>"),
        "{shell}"
    );
    assert!(is_pending(&mut body));
    tx.send(item(0)).unwrap();
    let first = next_text(&mut body).await;
    assert!(
        first.ends_with(
            "<template for=\"list\">item 0;<pp-slot id=\"list.1\"><?start name=\"list.1\"><?end></pp-slot></template><script>$pp()</script>"
        ),
        "{first}"
    );
    assert!(is_pending(&mut body), "item 1 has not come");
    tx.send(item(1)).unwrap();
    let second = next_text(&mut body).await;
    assert_eq!(
        second,
        "<template for=\"list.1\">item 1;<pp-slot id=\"list.2\"><?start name=\"list.2\"><?end></pp-slot></template><script>$pp()</script>"
    );
    drop(tx);
    let rest = collect_all(body).await.concat();
    assert!(
        rest.starts_with("<template for=\"list.2\">list done</template>"),
        "{rest}"
    );
    let doc = apply_late_chunks(&(shell + &first + &second + &rest));
    assert!(
        doc.contains("<pp-slot id=\"list\">item 0;<pp-slot id=\"list.1\">item 1;<pp-slot id=\"list.2\">list done</pp-slot></pp-slot></pp-slot>"),
        "{doc}"
    );
    assert!(!doc.contains("loading list"));
}

#[tokio::test]
async fn items_ready_together_share_a_chunk() {
    let (page, tx) = list_page(|list| list);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    for k in 0..3 {
        tx.send(item(k)).unwrap();
    }
    let chunk = next_text(&mut body).await;
    assert!(
        chunk.contains("<template for=\"list\">item 0;item 1;item 2;<pp-slot id=\"list.1\">"),
        "{chunk}"
    );
    assert!(is_pending(&mut body));
}

#[tokio::test]
async fn in_order_items_are_written_in_place_as_they_come() {
    let (page, tx) = list_page(|list| list);
    let mut body = render(page, Mode::InOrder).unwrap();
    let head = next_text(&mut body).await;
    assert!(
        head.ends_with("<div>"),
        "the document up to the list: {head}"
    );
    assert!(is_pending(&mut body));
    tx.send(item(0)).unwrap();
    assert_eq!(next_text(&mut body).await, "<pp-slot id=\"list\">item 0;");
    assert!(is_pending(&mut body));
    tx.send(item(1)).unwrap();
    assert_eq!(next_text(&mut body).await, "item 1;");
    drop(tx);
    assert_eq!(
        collect_all(body).await.concat(),
        "list done</pp-slot></div></body></html>"
    );
}

#[tokio::test]
async fn buffered_the_document_holds_every_item() {
    let items = stream::iter((0..5).map(item));
    let page = shell(0)
        .section(Section::stream("list", text("loading list"), items).end(text("list done")));
    let chunks = collect_all(render(page, Mode::Buffered).unwrap()).await;
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        chunks[0],
        "<html><body><div><pp-slot id=\"list\">item 0;item 1;item 2;item 3;item 4;list done</pp-slot></div></body></html>"
    );
}

#[tokio::test]
async fn an_empty_list_shows_its_end() {
    let items = stream::empty::<Item>();
    let page =
        shell(0).section(Section::stream("list", text("loading list"), items).end(text("none")));
    let html = collect_all(render(page, Mode::OutOfOrder).unwrap())
        .await
        .concat();
    assert!(
        html.contains("<pp-slot id=\"list\">none</pp-slot>"),
        "{html}"
    );
}

#[tokio::test]
async fn items_ready_at_shell_time_are_in_place() {
    let (page, tx) = list_page(|list| list);
    tx.send(item(0)).unwrap();
    tx.send(item(1)).unwrap();
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("<pp-slot id=\"list\">item 0;item 1;<pp-slot id=\"list.1\"><?start name=\"list.1\"><?end></pp-slot></pp-slot>"),
        "{shell}"
    );
    assert!(!shell.contains("loading list"));
    tx.send(item(2)).unwrap();
    assert!(
        next_text(&mut body)
            .await
            .contains("<template for=\"list.1\">item 2;")
    );
}

/// An endless list of 1 KiB items, all ready at once, counting those pulled.
fn endless(pulled: Arc<AtomicUsize>) -> impl futures_util::Stream<Item = Item> {
    stream::iter(0..).map(move |k| {
        pulled.fetch_add(1, Ordering::SeqCst);
        Ok(text(format!("<{k}>{}", "x".repeat(1024))))
    })
}

#[tokio::test]
async fn a_reader_that_stops_stops_the_list() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let page = shell(0).section(Section::stream(
        "list",
        text("loading"),
        endless(pulled.clone()),
    ));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let mut read = 0;
    for _ in 0..4 {
        let chunk = next_text(&mut body).await;
        assert!(
            chunk.len() <= writer::PIECE + 2048,
            "a bounded chunk: {}",
            chunk.len()
        );
        read += chunk.len();
    }
    let after_four = pulled.load(Ordering::SeqCst);
    // Each segment is about 32 items; what was pulled and not read is at
    // most one segment and one piece.
    assert!(
        after_four * 1030 <= read + 2 * (writer::PIECE + 2048),
        "{after_four} items pulled for {read} bytes read"
    );
    // The reader stalls: nothing more is pulled, however long.
    tokio::task::yield_now().await;
    assert_eq!(pulled.load(Ordering::SeqCst), after_four);
    // Every mode pulls only as it writes.
    for mode in [Mode::InOrder, Mode::OutOfOrder] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let page = shell(0).section(Section::stream(
            "list",
            text("loading"),
            endless(pulled.clone()),
        ));
        let mut body = render(page, mode).unwrap();
        let mut read = 0;
        for _ in 0..40 {
            read += next_text(&mut body).await.len();
        }
        let n = pulled.load(Ordering::SeqCst);
        assert!(n > 300, "{mode:?}: the list went on ({n} items)");
        assert!(
            n * 1030 <= read + 2 * (writer::PIECE + 2048),
            "{mode:?}: {n} items pulled for {read} bytes read"
        );
    }
}

#[tokio::test]
async fn an_item_that_fails_ends_the_list_with_its_error_markup() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counted = pulled.clone();
    let items = stream::iter(0..5).map(move |k| {
        counted.fetch_add(1, Ordering::SeqCst);
        if k == 2 {
            Err(crate::PublicError::new("the feed broke").into())
        } else {
            item(k)
        }
    });
    let page = shell(0).section(
        Section::stream("list", text("loading"), items)
            .end(text("list done"))
            .error_with(|failure: &crate::Failure| text(format!("[{}]", failure.message()))),
    );
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert!(
        html.contains("<pp-slot id=\"list\">item 0;item 1;[the feed broke]</pp-slot>"),
        "{html}"
    );
    assert!(!html.contains("list done"));
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        3,
        "nothing pulled after the error"
    );
}

#[tokio::test]
async fn a_stream_that_errors_mid_list_keeps_what_was_sent() {
    let (page, tx) = list_page(|list| list);
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    tx.send(item(0)).unwrap();
    let first = next_text(&mut body).await;
    tx.send(Err(std::io::Error::other("db at 10.0.0.7 gone").into()))
        .unwrap();
    let rest = collect_all(body).await.concat();
    assert!(
        rest.starts_with(&format!(
            "<template for=\"list.1\">{}</template>",
            wire::DEFAULT_ERROR
        )),
        "{rest}"
    );
    assert!(!rest.contains("10.0.0.7"));
    let doc = apply_late_chunks(&(shell + &first + &rest));
    assert!(doc.contains(&format!(
        "<pp-slot id=\"list\">item 0;<pp-slot id=\"list.1\">{}</pp-slot></pp-slot>",
        wire::DEFAULT_ERROR
    )));
}

#[tokio::test]
async fn a_panicking_stream_ends_the_list_with_its_error_markup() {
    let items = stream::iter(0..3).map(|k| {
        if k == 1 {
            panic!("item bug");
        }
        item(k)
    });
    let page =
        shell(0).section(Section::stream("list", text("loading"), items).error(text("[failed]")));
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    // Item 0 was still being gathered with item 1: it is lost with it.
    assert!(
        html.contains("<pp-slot id=\"list\">[failed]</pp-slot>"),
        "{html}"
    );
}

/// Items every 30 ms of tokio time, forever.
fn ticking() -> impl futures_util::Stream<Item = Item> {
    stream::iter(0..).then(|k| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        item(k)
    })
}

#[tokio::test(start_paused = true)]
async fn the_sections_timeout_ends_the_list_with_its_marker() {
    let page = shell(0).section(
        Section::stream("list", text("loading"), ticking())
            .timeout(Duration::from_millis(100))
            .error_with(|failure: &crate::Failure| {
                text(
                    if failure.is_timeout() {
                        "[more later]"
                    } else {
                        "[failed]"
                    }
                    .to_owned(),
                )
            }),
    );
    let started = Instant::now();
    let html = collect_all(render(page, Mode::InOrder).unwrap())
        .await
        .concat();
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert!(
        html.contains("<pp-slot id=\"list\">item 0;item 1;item 2;[more later]</pp-slot>"),
        "{html}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_page_deadline_ends_the_list_with_its_marker() {
    let page = shell(0)
        .section(
            Section::stream("list", text("loading"), ticking()).error_with(
                |failure: &crate::Failure| {
                    text(
                        if failure.is_timeout() {
                            "[more later]"
                        } else {
                            "[failed]"
                        }
                        .to_owned(),
                    )
                },
            ),
        )
        .deadline(Duration::from_millis(70));
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    let doc = apply_late_chunks(&chunks.concat());
    assert!(
        doc.contains("<pp-slot id=\"list\">item 0;<pp-slot id=\"list.1\">item 1;<pp-slot id=\"list.2\">[more later]</pp-slot></pp-slot></pp-slot>"),
        "{doc}"
    );
}

#[tokio::test]
async fn a_list_after_another_section_waits_for_it() {
    let (price_tx, price_rx) = oneshot::channel::<String>();
    let (page, tx) = list_after(1, |list| list.after("s0"));
    let page = page.section(Section::new("s0", text("loading price"), async move {
        price_rx.await.map(text)
    }));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    tx.send(item(0)).unwrap();
    assert!(is_pending(&mut body), "the list waits for the price");
    price_tx.send("€129".into()).unwrap();
    let chunk = next_text(&mut body).await;
    let price = chunk.find("<template for=\"s0\">").expect("the price");
    let list = chunk
        .find("<template for=\"list\">item 0;")
        .expect("the list");
    assert!(price < list, "{chunk}");
    tx.send(item(1)).unwrap();
    assert!(
        next_text(&mut body)
            .await
            .contains("<template for=\"list.1\">item 1;")
    );
}

#[tokio::test(start_paused = true)]
async fn the_shell_budget_takes_the_items_ready_by_then() {
    for mode in [Mode::OutOfOrder, Mode::InOrder] {
        // Items every 30 ms; the shell waits up to 100 ms.
        let page = shell(0)
            .section(Section::stream("list", text("loading"), ticking()).end(text("end")))
            .shell_budget(Duration::from_millis(100));
        let started = Instant::now();
        let mut body = render(page, mode).unwrap();
        let first = next_text(&mut body).await;
        assert_eq!(started.elapsed(), Duration::from_millis(100), "{mode:?}");
        assert!(
            first.contains("<pp-slot id=\"list\">item 0;item 1;item 2;"),
            "{mode:?}: the rows ready by the budget are in place: {first}"
        );
        assert!(!first.contains("item 3;"), "{mode:?}: {first}");
        let next = next_text(&mut body).await;
        assert_eq!(started.elapsed(), Duration::from_millis(120), "{mode:?}");
        match mode {
            Mode::OutOfOrder => {
                assert!(
                    first.contains(
                        "<pp-slot id=\"list.1\"><?start name=\"list.1\"><?end></pp-slot>"
                    )
                );
                assert!(next.contains("<template for=\"list.1\">item 3;"), "{next}");
            }
            _ => assert_eq!(next, "item 3;"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_list_that_ends_within_the_shell_budget_is_one_chunk() {
    let items = stream::iter(0..3).then(|k| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        item(k)
    });
    let page = shell(0)
        .section(Section::stream("list", text("loading"), items).end(text("end")))
        .shell_budget(Duration::from_millis(100));
    let started = Instant::now();
    let chunks = collect_all(render(page, Mode::OutOfOrder).unwrap()).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(30),
        "the shell went out once the list ended"
    );
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(
        chunks[0].contains("<pp-slot id=\"list\">item 0;item 1;item 2;end</pp-slot>"),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_drops_the_stream_at_once() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let (tx, rx) = mpsc::unbounded_channel::<Item>();
    let items = received(rx).map(move |item| {
        let _keep = &flag;
        item
    });
    let page = shell(0).section(Section::stream("list", text("loading"), items));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    next_text(&mut body).await;
    tx.send(item(0)).unwrap();
    next_text(&mut body).await;
    assert!(is_pending(&mut body));
    assert!(
        !dropped.load(Ordering::SeqCst),
        "pulled while the client reads"
    );
    drop(body);
    assert!(dropped.load(Ordering::SeqCst), "dropped with the response");
}

/// An item with a section of its own, `votes{k}`, resolved by `rx`.
fn voted(k: usize, rx: oneshot::Receiver<String>) -> Result<Fragment, BoxError> {
    let item = Fragment::new(Shell {
        slots: vec![slot(format!("votes{k}"))],
    });
    Ok(
        item.section(Section::new(format!("votes{k}"), text("…"), async move {
            rx.await.map(text)
        })),
    )
}

#[tokio::test]
async fn an_items_own_sections_fill_in_as_they_resolve() {
    let (tx0, rx0) = oneshot::channel();
    let (tx1, rx1) = oneshot::channel();
    let items = stream::iter([voted(0, rx0), voted(1, rx1)]);
    let page = shell(0).section(Section::stream("list", text("loading"), items).end(text("end")));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("<pp-slot id=\"votes1\"><?start name=\"votes1\">…<?end></pp-slot>"),
        "both items were ready: {shell}"
    );
    tx1.send("3 votes".into()).unwrap();
    let late = next_text(&mut body).await;
    assert!(
        late.contains("<template for=\"votes1\">3 votes</template>"),
        "{late}"
    );
    tx0.send("no votes".into()).unwrap();
    let rest = collect_all(body).await.concat();
    let doc = apply_late_chunks(&(shell + &late + &rest));
    assert!(
        doc.contains("<pp-slot id=\"votes0\">no votes</pp-slot>"),
        "{doc}"
    );
    assert!(
        doc.contains("<pp-slot id=\"votes1\">3 votes</pp-slot>"),
        "{doc}"
    );
    assert!(doc.contains("end</pp-slot>"), "{doc}");
}
