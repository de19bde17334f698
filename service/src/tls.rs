//! Pinned mutual TLS 1.3 for QUIC.
//!
//! No web PKI and no host names: each side presents a self-signed certificate (made with
//! `rcgen`) for its Ed25519 identity key, and each side decides by key alone.
//! - The client (a site) accepts the server only if the server key's fingerprint is one of the
//!   pinned coordinator fingerprints (current and, during a rotation, next).
//! - The server (the coordinator) accepts a client only if its key belongs to a currently
//!   enrolled, unrevoked site, as its [`SiteDirectory`] says during the handshake.
//!
//! Traps avoided, each with a test below:
//! - Session resumption would skip the client-certificate verifier: the server keeps no
//!   session cache and sends no tickets, and the client never resumes.
//! - 0-RTT data can be replayed: early data is off on both sides (the config is built by hand,
//!   not with `quinn::ServerConfig::with_single_cert`, which turns it on).
//! - In TLS 1.3 a client believes it is connected before the server has checked its
//!   certificate: only a signed receipt ever proves that a report was accepted.
//!
//! Only TLS 1.3, only Ed25519 signatures, the `ring` provider named explicitly.

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;
use quietcount_protocol::wire::ALPN;
use quietcount_protocol::{Fingerprint, SiteId, fingerprint_of};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use quietcount_keys::Identity;

/// The server name clients pass to `Endpoint::connect`. It is not checked: keys are.
pub const SERVER_NAME: &str = "quietcount-coordinator";

/// Errors building a TLS configuration (never a peer's fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate for the identity key could not be made.
    #[error("cannot make the TLS certificate: {0}")]
    Certificate(String),
    /// rustls or quinn refused the configuration.
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// Who may connect: the coordinator's view of enrolled, unrevoked site keys.
///
/// Called during every handshake, so it must answer from memory, quickly.
pub trait SiteDirectory: Send + Sync + fmt::Debug + 'static {
    /// The site this key currently speaks for, if it is enrolled and not revoked.
    fn site_for_key(&self, key: &VerifyingKey) -> Option<SiteId>;
}

/// The QUIC client configuration of a site: its identity as client certificate, and the
/// coordinator pinned by fingerprint.
pub fn client_config(
    identity: &Identity,
    pinned_coordinators: &[Fingerprint],
) -> Result<quinn::ClientConfig, TlsError> {
    let (cert, key) = certificate(identity, Validity::default())?;
    let tls = client_tls(Some((cert, key)), pinned_coordinators, false)?;
    quic_client(tls)
}

/// The QUIC server configuration of the coordinator: its identity as server certificate, and
/// client certificates required and checked against `sites` during the handshake.
pub fn server_config(
    identity: &Identity,
    sites: Arc<dyn SiteDirectory>,
) -> Result<quinn::ServerConfig, TlsError> {
    let (cert, key) = certificate(identity, Validity::default())?;
    let provider = provider();
    let verifier = EnrolledSiteVerifier {
        sites,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![cert], key)
        .map_err(config_error)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No resumption: a resumed session would skip the client-certificate verifier.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    // No 0-RTT: early data can be replayed.
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(config_error)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.migration(false);
    Ok(server)
}

/// The Ed25519 key the peer of an established connection authenticated with.
pub fn peer_key(connection: &quinn::Connection) -> Option<VerifyingKey> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs.first().and_then(|cert| ed25519_key_of(cert).ok())
}

/// The Ed25519 public key in a certificate.
pub fn ed25519_key_of(cert: &CertificateDer<'_>) -> Result<VerifyingKey, rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| bad_certificate(CertificateError::BadEncoding))?;
    let spki = parsed.subject_public_key_info();
    VerifyingKey::from_public_key_der(spki.as_ref())
        .map_err(|_| bad_certificate(CertificateError::BadEncoding))
}

/// How long a certificate is valid. Certificates are remade from the identity key at every
/// start, so the key's life is governed by enrolment and revocation, not by this window.
#[derive(Debug, Clone, Copy)]
struct Validity {
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            not_before: (2024, 1, 1),
            not_after: (2124, 1, 1),
        }
    }
}

fn certificate(
    identity: &Identity,
    validity: Validity,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    let der = identity.pkcs8_der();
    let pkcs8 = PrivatePkcs8KeyDer::from(der.as_slice());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let (y, m, d) = validity.not_before;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = validity.not_after;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("quietcount {}", identity.fingerprint()),
    );
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())),
    ))
}

fn client_tls(
    auth: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    pinned: &[Fingerprint],
    allow_resumption: bool,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let verifier = PinnedCoordinatorVerifier {
        pinned: pinned.to_vec(),
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut tls = match auth {
        Some((cert, key)) => builder
            .with_client_auth_cert(vec![cert], key)
            .map_err(config_error)?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    if !allow_resumption {
        tls.resumption = rustls::client::Resumption::disabled();
        tls.enable_early_data = false;
    } else {
        tls.enable_early_data = true;
    }
    Ok(tls)
}

fn quic_client(tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, TlsError> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(config_error)?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks a self-signed certificate: well formed, self-signature valid, within its validity
/// window at `now`, usable for `usage`, and no intermediates.
fn check_self_signed(
    cert: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    algorithms: &WebPkiSupportedAlgorithms,
    usage: webpki::KeyUsage,
) -> Result<VerifyingKey, rustls::Error> {
    if !intermediates.is_empty() {
        return Err(bad_certificate(CertificateError::UnknownIssuer));
    }
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| bad_certificate(CertificateError::BadEncoding))?;
    let anchor = webpki::anchor_from_trusted_cert(cert)
        .map_err(|_| bad_certificate(CertificateError::BadEncoding))?;
    parsed
        .verify_for_usage(algorithms.all, &[anchor], &[], now, usage, None, None)
        .map_err(|e| match e {
            webpki::Error::CertExpired { .. } => bad_certificate(CertificateError::Expired),
            webpki::Error::CertNotValidYet { .. } => bad_certificate(CertificateError::NotValidYet),
            _ => bad_certificate(CertificateError::BadSignature),
        })?;
    ed25519_key_of(cert)
}

fn verify_ed25519_tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ));
    }
    rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
}

/// The client's check of the server: its key must be pinned.
/// The handshake-signature methods both verifiers share: TLS 1.3 with Ed25519 only (QUIC has
/// no TLS 1.2), checked against the verifier's `algorithms`.
macro_rules! ed25519_tls13_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::Tls13RequiredForQuic,
            ))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_ed25519_tls13(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
    };
}

#[derive(Debug)]
struct PinnedCoordinatorVerifier {
    pinned: Vec<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCoordinatorVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = check_self_signed(
            end_entity,
            intermediates,
            now,
            &self.algorithms,
            webpki::KeyUsage::server_auth(),
        )?;
        if self.pinned.contains(&fingerprint_of(&key)) {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(server = %fingerprint_of(&key), "coordinator key is not the pinned one");
            Err(bad_certificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    ed25519_tls13_signatures!();
}

/// The server's check of a client: its key must belong to an enrolled, unrevoked site.
#[derive(Debug)]
struct EnrolledSiteVerifier {
    sites: Arc<dyn SiteDirectory>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for EnrolledSiteVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let key = check_self_signed(
            end_entity,
            intermediates,
            now,
            &self.algorithms,
            webpki::KeyUsage::client_auth(),
        )?;
        match self.sites.site_for_key(&key) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => {
                tracing::warn!(key = %fingerprint_of(&key), "handshake refused: key is not an enrolled, unrevoked site");
                Err(bad_certificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    ed25519_tls13_signatures!();
}

fn bad_certificate(error: CertificateError) -> rustls::Error {
    rustls::Error::InvalidCertificate(error)
}

fn config_error(error: impl fmt::Display) -> TlsError {
    TlsError::Config(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// A directory whose enrolment can change during a test.
    #[derive(Debug, Default)]
    struct TestDirectory(Mutex<HashMap<[u8; 32], SiteId>>);

    impl TestDirectory {
        fn enroll(&self, id: &Identity, site: &str) {
            self.0
                .lock()
                .unwrap()
                .insert(id.verifying_key().to_bytes(), SiteId::new(site).unwrap());
        }
        fn revoke(&self, id: &Identity) {
            self.0
                .lock()
                .unwrap()
                .remove(&id.verifying_key().to_bytes());
        }
    }

    impl SiteDirectory for TestDirectory {
        fn site_for_key(&self, key: &VerifyingKey) -> Option<SiteId> {
            self.0.lock().unwrap().get(&key.to_bytes()).cloned()
        }
    }

    /// A server that answers every stream's bytes with "ok:" + the site it authenticated.
    fn start_server(
        identity: &Identity,
        directory: Arc<TestDirectory>,
    ) -> (quinn::Endpoint, SocketAddr) {
        let config = server_config(identity, directory.clone()).unwrap();
        let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let directory = directory.clone();
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    let site = peer_key(&connection).and_then(|k| directory.site_for_key(&k));
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let _ = recv.read_to_end(1024).await;
                        let answer =
                            format!("ok:{}", site.as_ref().map(|s| s.as_str()).unwrap_or("?"));
                        let _ = send.write_all(answer.as_bytes()).await;
                        let _ = send.finish();
                    }
                });
            }
        });
        (endpoint, addr)
    }

    fn client_endpoint(config: quinn::ClientConfig) -> quinn::Endpoint {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        endpoint
    }

    /// Connects and does one request/response; the answer only if the whole exchange works.
    async fn round_trip(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Option<String> {
        let attempt = async {
            let connection = endpoint.connect(addr, SERVER_NAME).ok()?.await.ok()?;
            let (mut send, mut recv) = connection.open_bi().await.ok()?;
            send.write_all(b"ping").await.ok()?;
            send.finish().ok()?;
            let bytes = recv.read_to_end(1024).await.ok()?;
            connection.close(0u32.into(), b"done");
            String::from_utf8(bytes).ok()
        };
        tokio::time::timeout(Duration::from_secs(5), attempt)
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn enrolled_site_and_pinned_coordinator_connect() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&coordinator, directory);
        let client = client_endpoint(client_config(&site, &[coordinator.fingerprint()]).unwrap());
        assert_eq!(round_trip(&client, addr).await.as_deref(), Some("ok:hn-01"));
    }

    #[tokio::test]
    async fn next_coordinator_key_may_be_pinned_for_rotation() {
        let current = Identity::from_seed([1; 32]);
        let next = Identity::from_seed([9; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&next, directory);
        let pinned = [current.fingerprint(), next.fingerprint()];
        let client = client_endpoint(client_config(&site, &pinned).unwrap());
        assert_eq!(round_trip(&client, addr).await.as_deref(), Some("ok:hn-01"));
    }

    #[tokio::test]
    async fn unknown_site_key_is_refused() {
        let coordinator = Identity::from_seed([1; 32]);
        let stranger = Identity::from_seed([3; 32]);
        let (_server, addr) = start_server(&coordinator, Arc::new(TestDirectory::default()));
        let client =
            client_endpoint(client_config(&stranger, &[coordinator.fingerprint()]).unwrap());
        assert_eq!(round_trip(&client, addr).await, None);
    }

    #[tokio::test]
    async fn revoked_site_key_is_refused() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&coordinator, directory.clone());
        let client = client_endpoint(client_config(&site, &[coordinator.fingerprint()]).unwrap());
        assert!(round_trip(&client, addr).await.is_some());
        directory.revoke(&site);
        assert_eq!(round_trip(&client, addr).await, None);
    }

    #[tokio::test]
    async fn server_with_the_wrong_key_is_refused() {
        let impostor = Identity::from_seed([4; 32]);
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&impostor, directory);
        let client = client_endpoint(client_config(&site, &[coordinator.fingerprint()]).unwrap());
        let connecting = client.connect(addr, SERVER_NAME).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .unwrap();
        assert!(
            result.is_err(),
            "a client must not connect to an unpinned server"
        );
    }

    #[tokio::test]
    async fn client_without_certificate_is_refused() {
        let coordinator = Identity::from_seed([1; 32]);
        let (_server, addr) = start_server(&coordinator, Arc::new(TestDirectory::default()));
        let tls = client_tls(None, &[coordinator.fingerprint()], false).unwrap();
        let client = client_endpoint(quic_client(tls).unwrap());
        assert_eq!(round_trip(&client, addr).await, None);
    }

    #[tokio::test]
    async fn expired_certificate_is_refused() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&coordinator, directory);
        let expired = Validity {
            not_before: (2000, 1, 1),
            not_after: (2001, 1, 1),
        };
        let tls = client_tls(
            Some(certificate(&site, expired).unwrap()),
            &[coordinator.fingerprint()],
            false,
        )
        .unwrap();
        let client = client_endpoint(quic_client(tls).unwrap());
        assert_eq!(round_trip(&client, addr).await, None);
    }

    /// A client that tries to resume (and send 0-RTT) cannot skip the certificate check: the
    /// server issues no tickets, so after revocation the next handshake is a full one, and fails.
    #[tokio::test]
    async fn resumption_and_zero_rtt_cannot_bypass_revocation() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let directory = Arc::new(TestDirectory::default());
        directory.enroll(&site, "hn-01");
        let (_server, addr) = start_server(&coordinator, directory.clone());
        let tls = client_tls(
            Some(certificate(&site, Validity::default()).unwrap()),
            &[coordinator.fingerprint()],
            true,
        )
        .unwrap();
        let client = client_endpoint(quic_client(tls).unwrap());
        assert!(round_trip(&client, addr).await.is_some());
        // Give any (wrongly issued) session ticket time to arrive.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = client.connect(addr, SERVER_NAME).unwrap();
        assert!(
            second.into_0rtt().is_err(),
            "the server must never allow 0-RTT"
        );
        directory.revoke(&site);
        assert_eq!(round_trip(&client, addr).await, None);
    }

    #[test]
    fn certificate_carries_the_identity_key() {
        let site = Identity::from_seed([2; 32]);
        let (cert, _) = certificate(&site, Validity::default()).unwrap();
        assert_eq!(ed25519_key_of(&cert).unwrap(), site.verifying_key());
    }
}
