//! Delivery over QUIC with pinned mutual TLS: one connection per round, one bidirectional
//! stream per report.

use std::net::SocketAddr;
use std::time::Duration;

use quietcount_keys::Identity;
use quietcount_protocol::Fingerprint;
use quietcount_protocol::wire::MAX_FRAME_BYTES;

use crate::outbox::Transport;

/// Why a delivery round could not run at all (entries stay pending).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The coordinator's address did not resolve.
    #[error("cannot resolve coordinator address {address}: {reason}")]
    Resolve {
        /// `HOST:PORT` from the configuration.
        address: String,
        /// Why.
        reason: String,
    },
    /// The coordinator could not be reached or refused the connection.
    #[error(
        "coordinator {address} unreachable: {reason}; reports stay in the outbox and will be retried"
    )]
    Unreachable {
        /// `HOST:PORT`.
        address: String,
        /// Why.
        reason: String,
    },
    /// The local TLS or QUIC endpoint could not be set up.
    #[error("cannot set up the QUIC client: {0}")]
    Setup(String),
    /// Some reports were not delivered in this round.
    #[error(
        "{pending} report(s) not delivered yet ({refused} refused); see `quietcount-node status`"
    )]
    Incomplete {
        /// Still pending.
        pending: usize,
        /// Refused for good in this round.
        refused: usize,
    },
}

/// A QUIC connection to the coordinator.
#[derive(Debug)]
pub struct QuicTransport {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
}

impl QuicTransport {
    /// Resolves `address` and connects with the site identity, pinning the coordinator keys.
    pub async fn connect(
        address: &str,
        identity: &Identity,
        pinned: &[Fingerprint],
        timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host(address)
            .await
            .map_err(|e| DeliveryError::Resolve {
                address: address.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        let Some(remote) = resolved.first().copied() else {
            return Err(DeliveryError::Resolve {
                address: address.to_owned(),
                reason: "no addresses".into(),
            });
        };
        let bind: SocketAddr = if remote.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let config = quietcount_keys::tls::client_config(identity, pinned)
            .map_err(|e| DeliveryError::Setup(e.to_string()))?;
        let mut endpoint =
            quinn::Endpoint::client(bind).map_err(|e| DeliveryError::Setup(e.to_string()))?;
        endpoint.set_default_client_config(config);
        let unreachable = |reason: String| DeliveryError::Unreachable {
            address: address.to_owned(),
            reason,
        };
        let connecting = endpoint
            .connect(remote, quietcount_keys::tls::SERVER_NAME)
            .map_err(|e| unreachable(e.to_string()))?;
        let connection = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                endpoint.close(0u32.into(), b"");
                return Err(unreachable(e.to_string()));
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
            endpoint,
            connection,
        })
    }

    /// Closes the connection and waits for the close to be sent.
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

impl Transport for QuicTransport {
    async fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, String> {
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| format!("opening a stream: {e}"))?;
        send.write_all(&request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        send.finish().map_err(|e| format!("sending: {e}"))?;
        recv.read_to_end(MAX_FRAME_BYTES)
            .await
            .map_err(|e| format!("reading the response: {e}"))
    }
}
