//! A real `redis-server` (Debian's package) on a free loopback port, for
//! the tests of the Redis section cache; killed, by its PID, on drop. A
//! missing `redis-server` fails the test: `scripts/test` installs it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own.
pub(crate) struct Redis {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Redis {
    /// Starts one with no persistence, and waits until it accepts
    /// connections (at most 10 s).
    pub(crate) fn start() -> Redis {
        let port = free_port();
        let child = Command::new(binary())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/test installs Debian's package)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let redis = Redis { child, addr };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Stops it at once.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `redis-server` on `PATH` or where Debian puts it.
fn binary() -> &'static str {
    if std::path::Path::new("/usr/bin/redis-server").exists() {
        "/usr/bin/redis-server"
    } else {
        "redis-server"
    }
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
