//! The donor verifier (to be written).
