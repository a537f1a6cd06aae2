//! A client that goes away cancels the work done for it: the server drops the
//! pending section futures as soon as it sees the connection close.

use std::time::Duration;

use crate::util::{Client, Server};

#[tokio::test]
async fn a_client_that_leaves_mid_page_cancels_its_pending_sections() {
    let server = Server::start_with(&[], &[("RUST_LOG", "pagepipe=debug")]);
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET", "/bench?delays=0,60000,60000", "HTTP/1.1", "")
        .await;
    let response = client.head().await;
    assert_eq!(response.status, 200);
    let shell = client.chunk().await.expect("the shell");
    let shell = String::from_utf8_lossy(&shell);
    assert!(shell.contains("section 0 ready"), "ready at once: in place");
    assert!(shell.contains("loading 1"));
    client.close().await;
    let line = server
        .wait_for_log("pending sections cancelled", Duration::from_secs(5))
        .expect("the server drops the page stream within seconds, not at the 60 s delay");
    assert!(line.contains("pending=2"), "{line}");
}
