//! The one QUIC site transport: a site connects to its coordinator with pinned mutual TLS
//! ([`crate::tls::client_config`]) and sends each request frame on its own bidirectional
//! stream, reading the response frame back. The node delivers reports through it, and the
//! coordinator's tests and ingest bench use it as their site client.

use std::net::SocketAddr;
use std::time::Duration;

use quietcount_keys::Identity;
use quietcount_protocol::Fingerprint;
use quietcount_protocol::wire::{MAX_FRAME_BYTES, Request, Response};

use crate::tls;

/// Why a connection or an exchange failed. Messages name addresses and QUIC errors only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The coordinator's address did not resolve.
    #[error("cannot resolve coordinator address {address}: {reason}")]
    Resolve {
        /// `HOST:PORT` as given.
        address: String,
        /// Why.
        reason: String,
    },
    /// The coordinator could not be reached or refused the connection.
    #[error("coordinator {address} unreachable: {reason}")]
    Unreachable {
        /// `HOST:PORT` (or the socket address) connected to.
        address: String,
        /// Why.
        reason: String,
    },
    /// The local TLS or QUIC endpoint could not be set up.
    #[error("cannot set up the QUIC client: {0}")]
    Setup(String),
    /// The coordinator closed the connection because it does not accept this site's key: the
    /// key is not enrolled, or was revoked. Retrying changes nothing until the province enrols
    /// the site's key.
    #[error(
        "the coordinator {address} does not accept this site's key: it is not (or no longer) \
         enrolled there; ask the province to enrol this site's key"
    )]
    KeyNotAccepted {
        /// `HOST:PORT` (or the socket address) connected to.
        address: String,
        /// The TLS alert the coordinator sent.
        alert: u8,
    },
    /// A stream could not be opened.
    #[error("opening a stream: {0}")]
    Open(String),
    /// The request could not be sent, and no response came back.
    #[error("sending: {0}")]
    Send(String),
    /// The response could not be read.
    #[error("reading the response: {0}")]
    Receive(String),
    /// The request could not be encoded.
    #[error("encoding the request: {0}")]
    Encode(String),
    /// The response frame did not decode.
    #[error("malformed response: {0}")]
    Decode(String),
}

/// A QUIC connection from a site to a coordinator, authenticated both ways.
#[derive(Debug)]
pub struct SiteConnection {
    address: String,
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
}

impl SiteConnection {
    /// Resolves `address` (`HOST:PORT`) and connects with the site `identity`, accepting only
    /// a coordinator whose key is one of `pinned`, within `timeout`.
    pub async fn connect(
        address: &str,
        identity: &Identity,
        pinned: &[Fingerprint],
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host(address)
            .await
            .map_err(|e| TransportError::Resolve {
                address: address.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        let Some(remote) = resolved.first().copied() else {
            return Err(TransportError::Resolve {
                address: address.to_owned(),
                reason: "no addresses".into(),
            });
        };
        Self::connect_to(address, remote, identity, pinned, timeout).await
    }

    /// Connects to the coordinator at the socket address `remote` (no name resolution).
    pub async fn connect_addr(
        remote: SocketAddr,
        identity: &Identity,
        pinned: &[Fingerprint],
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        Self::connect_to(&remote.to_string(), remote, identity, pinned, timeout).await
    }

    async fn connect_to(
        address: &str,
        remote: SocketAddr,
        identity: &Identity,
        pinned: &[Fingerprint],
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let bind: SocketAddr = if remote.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let config = tls::client_config(identity, pinned)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let mut endpoint =
            quinn::Endpoint::client(bind).map_err(|e| TransportError::Setup(e.to_string()))?;
        endpoint.set_default_client_config(config);
        let unreachable = |reason: String| TransportError::Unreachable {
            address: address.to_owned(),
            reason,
        };
        let connecting = endpoint
            .connect(remote, tls::SERVER_NAME)
            .map_err(|e| unreachable(e.to_string()))?;
        let connection = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                endpoint.close(0u32.into(), b"");
                return Err(match refused_key_alert(&e) {
                    Some(alert) => TransportError::KeyNotAccepted {
                        address: address.to_owned(),
                        alert,
                    },
                    None => unreachable(e.to_string()),
                });
            }
            Err(_) => {
                endpoint.close(0u32.into(), b"");
                return Err(unreachable(format!(
                    "no answer within {} s",
                    timeout.as_secs()
                )));
            }
        };
        tracing::debug!(%remote, "connected to coordinator");
        Ok(Self {
            address: address.to_owned(),
            endpoint,
            connection,
        })
    }

    /// Sends `request` and decodes the coordinator's response.
    pub async fn request(&self, request: &Request) -> Result<Response, TransportError> {
        let frame = request
            .encode()
            .map_err(|e| TransportError::Encode(e.to_string()))?;
        self.send_frame(&frame).await
    }

    /// Sends raw request bytes (a frame, or anything a test wants to try) on a new stream and
    /// decodes the response.
    pub async fn send_frame(&self, frame: &[u8]) -> Result<Response, TransportError> {
        let bytes = self.exchange(frame).await?;
        Response::decode(&bytes).map_err(|e| TransportError::Decode(e.to_string()))
    }

    /// Sends raw request bytes on a new bidirectional stream, finishes it, and returns the raw
    /// response bytes (at most [`MAX_FRAME_BYTES`]).
    ///
    /// The coordinator may answer (with a refusal) before it has read everything, and then
    /// stops reading: a failed write is an error only if no response can be read either.
    pub async fn exchange(&self, frame: &[u8]) -> Result<Vec<u8>, TransportError> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| self.explain(TransportError::Open(e.to_string())))?;
        let written = match send.write_all(frame).await {
            Ok(()) => send.finish().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match (recv.read_to_end(MAX_FRAME_BYTES).await, written) {
            (Ok(bytes), _) => Ok(bytes),
            (Err(_), Err(write)) => Err(self.explain(TransportError::Send(write))),
            (Err(read), Ok(())) => Err(self.explain(TransportError::Receive(read.to_string()))),
        }
    }

    /// `error`, unless the connection was closed because the coordinator refused this site's
    /// key (TLS 1.3 checks a client's certificate after the client's side of the handshake,
    /// so that refusal surfaces here, at the first request).
    fn explain(&self, error: TransportError) -> TransportError {
        match self
            .connection
            .close_reason()
            .as_ref()
            .and_then(refused_key_alert)
        {
            Some(alert) => TransportError::KeyNotAccepted {
                address: self.address.clone(),
                alert,
            },
            None => error,
        }
    }

    /// Opens a stream and sends one byte without finishing it (how a slow or hostile site
    /// behaves; for tests of the coordinator's limits).
    pub async fn open_idle_stream(
        &self,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), TransportError> {
        let (mut send, recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| TransportError::Open(e.to_string()))?;
        send.write_all(&[0xa1])
            .await
            .map_err(|e| TransportError::Send(e.to_string()))?;
        Ok((send, recv))
    }

    /// The underlying QUIC connection (tests inspect its state and close reason).
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Closes the connection and waits until the close has been sent.
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

/// The TLS alert of a connection the coordinator closed because it refused the client's
/// certificate (bad, unsupported, revoked, expired or unknown certificate, unknown CA, access
/// denied, certificate required). Only a close sent by the peer counts: an alert this side sent
/// (a coordinator key that is not the pinned one) is another matter.
fn refused_key_alert(error: &quinn::ConnectionError) -> Option<u8> {
    const CERTIFICATE_ALERTS: [u8; 8] = [42, 43, 44, 45, 46, 48, 49, 116];
    let quinn::ConnectionError::ConnectionClosed(close) = error else {
        return None;
    };
    let code = u64::from(close.error_code);
    let alert = u8::try_from(code.checked_sub(0x100)?).ok()?;
    CERTIFICATE_ALERTS.contains(&alert).then_some(alert)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ed25519_dalek::VerifyingKey;
    use quietcount_protocol::SiteId;
    use quietcount_protocol::wire::{Blob, RefusalCode};

    use super::*;
    use crate::tls::{SiteDirectory, server_config};

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Every key is enrolled as site `hn-01`.
    #[derive(Debug)]
    struct EveryoneIsHn01;

    impl SiteDirectory for EveryoneIsHn01 {
        fn site_for_key(&self, _key: &VerifyingKey) -> Option<SiteId> {
            SiteId::new("hn-01").ok()
        }
    }

    /// A coordinator stand-in: accepts a submitted envelope with its bytes reversed as the
    /// "receipt", and refuses anything that is not a request as malformed.
    fn start_coordinator(identity: &Identity) -> (quinn::Endpoint, SocketAddr) {
        let config = server_config(identity, Arc::new(EveryoneIsHn01)).unwrap();
        let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let bytes = recv.read_to_end(MAX_FRAME_BYTES).await.unwrap_or_default();
                        let response = match Request::decode(&bytes) {
                            Ok(Request::Submit { envelope }) => Response::Accepted {
                                receipt: Blob(envelope.0.iter().rev().copied().collect()),
                                duplicate: false,
                                stored_envelope: None,
                                time: None,
                            },
                            Ok(Request::Fetch { .. }) | Err(_) => Response::Refused {
                                code: RefusalCode::Malformed,
                                message: "not a submission".into(),
                                head: None,
                                time: None,
                            },
                        };
                        let _ = send.write_all(&response.encode().unwrap()).await;
                        let _ = send.finish();
                    }
                });
            }
        });
        (endpoint, addr)
    }

    #[tokio::test]
    async fn a_request_gets_its_response_on_its_own_stream() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let (_server, addr) = start_coordinator(&coordinator);
        let connection = SiteConnection::connect(
            &addr.to_string(),
            &site,
            &[coordinator.fingerprint()],
            TIMEOUT,
        )
        .await
        .unwrap();
        for envelope in [vec![1u8, 2, 3], vec![9u8; 1000]] {
            let request = Request::Submit {
                envelope: Blob(envelope.clone()),
            };
            let expected: Vec<u8> = envelope.iter().rev().copied().collect();
            assert_eq!(
                connection.request(&request).await.unwrap(),
                Response::Accepted {
                    receipt: Blob(expected),
                    duplicate: false,
                    stored_envelope: None,
                    time: None,
                }
            );
        }
        // Raw frames go through unchanged, and the raw answer can be read undecoded.
        assert!(matches!(
            connection.send_frame(b"garbage").await.unwrap(),
            Response::Refused {
                code: RefusalCode::Malformed,
                ..
            }
        ));
        let raw = connection.exchange(b"garbage").await.unwrap();
        assert!(matches!(
            Response::decode(&raw).unwrap(),
            Response::Refused { .. }
        ));
        assert!(connection.connection().close_reason().is_none());
        connection.close().await;
    }

    #[tokio::test]
    async fn a_coordinator_with_another_key_is_unreachable() {
        let coordinator = Identity::from_seed([1; 32]);
        let impostor = Identity::from_seed([3; 32]);
        let site = Identity::from_seed([2; 32]);
        let (_server, addr) = start_coordinator(&impostor);
        let error =
            SiteConnection::connect_addr(addr, &site, &[coordinator.fingerprint()], TIMEOUT)
                .await
                .unwrap_err();
        assert!(
            matches!(&error, TransportError::Unreachable { address, .. } if *address == addr.to_string()),
            "{error}"
        );
    }

    /// No key is enrolled.
    #[derive(Debug)]
    struct NobodyIsEnrolled;

    impl SiteDirectory for NobodyIsEnrolled {
        fn site_for_key(&self, _key: &VerifyingKey) -> Option<SiteId> {
            None
        }
    }

    #[tokio::test]
    async fn a_site_whose_key_the_coordinator_refuses_is_told_so() {
        let coordinator = Identity::from_seed([1; 32]);
        let site = Identity::from_seed([2; 32]);
        let config = server_config(&coordinator, Arc::new(NobodyIsEnrolled)).unwrap();
        let server = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let accepting = server.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let _ = incoming.await;
            }
        });
        let request = Request::Submit {
            envelope: Blob(vec![1, 2, 3]),
        };
        // TLS 1.3 checks the client's certificate after the client's side of the handshake:
        // the refusal may come at connect or at the first request.
        let error =
            match SiteConnection::connect_addr(addr, &site, &[coordinator.fingerprint()], TIMEOUT)
                .await
            {
                Err(error) => error,
                Ok(connection) => connection.request(&request).await.unwrap_err(),
            };
        assert!(
            matches!(error, TransportError::KeyNotAccepted { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("not (or no longer) enrolled"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_address_without_a_port_does_not_resolve() {
        let site = Identity::from_seed([2; 32]);
        let error = SiteConnection::connect("localhost", &site, &[], TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, TransportError::Resolve { address, .. } if address == "localhost"),
            "{error}"
        );
    }
}
