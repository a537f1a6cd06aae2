//! TLS for tests, shared by the library's and the demo's (each includes
//! this file with `#[path]`): a certificate for `localhost` made on the
//! spot, and a client that trusts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::rustls;
use super::rustls::pki_types::{CertificateDer, ServerName};

/// A certificate for `localhost` and its key, as PEM files in `dir`: their
/// paths, and the certificate for a client to trust.
pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    (cert, key, certified.cert.der().clone())
}

/// A TLS connection to `addr` as `localhost`, trusting `cert`, offering
/// the protocols `alpn`.
pub(crate) async fn connect(
    addr: std::net::SocketAddr,
    cert: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    #[allow(deprecated, reason = "ring's provider, as pagepipe's")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|proto| proto.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}
