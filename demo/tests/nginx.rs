//! Progressive delivery through a real nginx reverse proxy on 127.0.0.1,
//! configured as `docs/deploying.md` recommends, compressing with gzip itself:
//! without the pages' `X-Accel-Buffering: no`, nginx would hold every
//! section until the page ends.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Server, get, get_decoding};

/// A section is never early, and is late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

/// nginx running in the foreground with its own prefix; stopped on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstream`, or `None` when nginx is not
    /// installed and the test command did not ask for it.
    fn start(upstream: SocketAddr) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("PAGEPIPE_REQUIRE_NGINX").is_none(),
                "nginx is required but not installed"
            );
            eprintln!("skipped: nginx is not installed (scripts/test installs it)");
            return None;
        };
        let prefix = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let template = include_str!("nginx/nginx.conf");
        let conf = template
            .replace("{PREFIX}", prefix.path().to_str().unwrap())
            .replace("{LISTEN}", &addr.to_string())
            .replace("{UPSTREAM}", &upstream.to_string());
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx {
            child,
            addr,
            _prefix: prefix,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its worker too; SIGKILL would orphan it.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sections_arrive_at_their_delays_through_nginx() {
    let server = Server::start();
    let Some(nginx) = Nginx::start(server.addr) else {
        return;
    };
    let response = get(nginx.addr, "/bench?delays=100,600,300&bytes=16").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let (shell_at, shell) = &response.chunks[0];
    assert!(
        *shell_at < Duration::from_millis(100),
        "shell at {shell_at:?}"
    );
    assert!(String::from_utf8_lossy(shell).contains("loading 1"));
    let arrivals: Vec<_> = ["s0", "s2", "s1"]
        .iter()
        .map(|id| {
            response
                .arrival_of(&format!("<template for=\"{id}\">"))
                .expect(id)
        })
        .collect();
    for (arrived, due) in arrivals.iter().zip([100, 300, 600]) {
        let due = Duration::from_millis(due);
        assert!(
            *arrived >= due && *arrived < due + SLACK,
            "due {due:?}, arrived {arrived:?}"
        );
    }
    assert!(response.text().ends_with("</html>"));
}

#[tokio::test]
async fn sections_compressed_by_nginx_still_arrive_at_their_delays() {
    let server = Server::start();
    let Some(nginx) = Nginx::start(server.addr) else {
        return;
    };
    let needles: Vec<String> = (0..3).map(|i| format!("section {i} ready")).collect();
    let target = "/bench?delays=100,600,300&bytes=16";
    let decoded = get_decoding(nginx.addr, target, "gzip", &needles).await;
    for (arrived, due) in decoded.arrivals.iter().zip([100, 600, 300]) {
        let arrived = arrived.expect("every section decoded");
        let due = Duration::from_millis(due);
        assert!(
            arrived >= due && arrived < due + SLACK,
            "due {due:?}, decoded at {arrived:?}"
        );
    }
    assert!(decoded.text.ends_with("</html>"));
}

#[tokio::test]
async fn media_ranges_pass_through_nginx() {
    let server = Server::start();
    let Some(nginx) = Nginx::start(server.addr) else {
        return;
    };
    let response = crate::util::get_with(nginx.addr, "/stream-video", "Range: bytes=0-1\r\n").await;
    assert_eq!(response.status, 206);
    assert_eq!(response.body().len(), 2);
    assert!(
        response
            .header("content-range")
            .unwrap()
            .starts_with("bytes 0-1/")
    );
}
