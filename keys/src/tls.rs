//! Pinned mutual TLS for QUIC (to be written).
