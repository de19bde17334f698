//! Delivery over QUIC with pinned mutual TLS: one connection per round, one bidirectional
//! stream per report, through the shared site transport of `quietcount-service`.

use std::time::Duration;

use quietcount_keys::Identity;
use quietcount_protocol::Fingerprint;
use quietcount_service::transport::{SiteConnection, TransportError};

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
    /// The coordinator does not accept this site's key (not enrolled, or revoked): retrying
    /// changes nothing until the province enrols it.
    #[error("{0}; reports stay in the outbox until then")]
    KeyNotAccepted(String),
    /// Delivery is held: the coordinator refused this site's key before, and the key has not
    /// changed since. The service does not try again; `submit`, run by staff, does.
    #[error(
        "delivery is held: {0}; reports stay in the outbox, and the service does not retry with \
         this key. Once the province has enrolled it, run `quietcount-node submit`"
    )]
    KeyHeld(String),
    /// The coordinator's certificate is outside its validity window by this computer's clock:
    /// almost always this computer's date is wrong (years behind or ahead).
    #[error(
        "cannot connect to the coordinator {address}: by this computer's clock its certificate \
         is {state}. This computer's date is probably wrong: set its date and time correctly; \
         reports stay in the outbox and will be retried"
    )]
    ClockSuspect {
        /// `HOST:PORT`.
        address: String,
        /// "not valid yet" or "expired".
        state: &'static str,
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

impl From<TransportError> for DeliveryError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Resolve { address, reason } => Self::Resolve { address, reason },
            TransportError::Unreachable { address, reason } => {
                // rustls names the certificate error; said in words staff can act on.
                let state = if reason.contains("NotValidYet") {
                    Some("not valid yet")
                } else if reason.contains("Expired") {
                    Some("expired")
                } else {
                    None
                };
                match state {
                    Some(state) => Self::ClockSuspect { address, state },
                    None => Self::Unreachable { address, reason },
                }
            }
            refused @ TransportError::KeyNotAccepted { .. } => {
                Self::KeyNotAccepted(refused.to_string())
            }
            other => Self::Setup(other.to_string()),
        }
    }
}

/// A QUIC connection to the coordinator: the node's [`Transport`] over the shared
/// [`SiteConnection`].
#[derive(Debug)]
pub struct QuicTransport {
    connection: SiteConnection,
    key_refused: Option<String>,
}

impl QuicTransport {
    /// Resolves `address` and connects with the site identity, pinning the coordinator keys.
    pub async fn connect(
        address: &str,
        identity: &Identity,
        pinned: &[Fingerprint],
        timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        Ok(Self {
            connection: SiteConnection::connect(address, identity, pinned, timeout).await?,
            key_refused: None,
        })
    }

    /// The coordinator's refusal of this site's key, if a request met it. (TLS 1.3 checks the
    /// client's certificate after the client's side of the handshake, so the refusal can
    /// surface at the first request rather than at connect.)
    pub fn key_refused(&self) -> Option<&str> {
        self.key_refused.as_deref()
    }

    /// Closes the connection and waits for the close to be sent.
    pub async fn close(self) {
        self.connection.close().await;
    }
}

impl Transport for QuicTransport {
    async fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, String> {
        self.connection.exchange(&request).await.map_err(|e| {
            let text = e.to_string();
            if matches!(e, TransportError::KeyNotAccepted { .. }) {
                self.key_refused = Some(text.clone());
            }
            text
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_outside_its_window_is_explained_as_a_wrong_clock() {
        for (reason, state) in [
            ("invalid peer certificate: NotValidYet", "not valid yet"),
            ("invalid peer certificate: Expired", "expired"),
        ] {
            let error = DeliveryError::from(TransportError::Unreachable {
                address: "10.0.0.1:4433".into(),
                reason: reason.into(),
            });
            let text = error.to_string();
            assert!(text.contains(state), "{text}");
            assert!(text.contains("set its date and time"), "{text}");
            assert!(!text.contains("NotValidYet"), "{text}");
        }
        let other = DeliveryError::from(TransportError::Unreachable {
            address: "10.0.0.1:4433".into(),
            reason: "timed out".into(),
        });
        assert!(matches!(other, DeliveryError::Unreachable { .. }));
    }
}
