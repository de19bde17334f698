//! What the command line shows: terminal rendering of the library's results (reports,
//! delivery rounds, status, imports), the progress bar, and the hints that name CLI flags.
//! The library returns plain values; only this module turns them into text for people.

pub mod progress;
pub mod render;
