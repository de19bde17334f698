//! What the command line shows: terminal rendering of the library's results (reports,
//! delivery rounds, status, imports; [`import_text`] for the import's grouped findings in
//! English or Vietnamese), the progress bar, and the hints that name CLI flags.
//! The library returns plain values; only this module turns them into text for people.

pub mod import_text;
pub mod progress;
pub mod render;
