//! The demo's listening socket has pagepipe's backlog of 2,048, not std's
//! 128: a burst of connections is queued by the kernel rather than left to
//! retransmit its `SYN` a second later.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::Server;

/// The backlog pagepipe's server binds with.
const BACKLOG: usize = 2048;

/// The backlog the kernel gives `listen(BACKLOG)`: it caps every backlog
/// at `net.core.somaxconn`.
fn expected_backlog() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|somaxconn| somaxconn.trim().parse().ok())
        .map_or(BACKLOG, |somaxconn: usize| BACKLOG.min(somaxconn))
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Whether every thread of process `pid` is stopped (`T` in its stat).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.map_while(Result::ok).all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
        })
    })
}

/// How many connections to `addr`, which nothing accepts, the kernel
/// completes, made one after the other (at most `most`): one more than the
/// socket's listen backlog. Linux queues a connection while its accept
/// queue holds no more than the backlog and then drops `SYN`s, so the next
/// connect waits for a retransmit that is dropped too. Each connection is
/// closed once made: a closed connection stays queued until accepted.
fn queued_connections(addr: SocketAddr, most: usize) -> usize {
    (0..most)
        .take_while(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
        .count()
}

#[test]
fn the_demo_listens_with_pagepipes_backlog() {
    let server = Server::start();
    // Stopped, the server accepts nothing: every connection the kernel
    // completes stays in the listen queue.
    signal(server.pid(), "STOP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !all_threads_stopped(server.pid()) {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let backlog = expected_backlog();
    let queued = queued_connections(server.addr, backlog + 10);
    signal(server.pid(), "CONT");
    assert_eq!(
        queued,
        backlog + 1,
        "the listen queue held {queued} connections, so the backlog is {}, not {backlog}",
        queued.saturating_sub(1)
    );
}
