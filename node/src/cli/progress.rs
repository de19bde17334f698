//! The progress bar of long imports and simulations, drawn on stderr (and hidden by indicatif
//! itself when stderr is not a terminal).

use quietcount_node::{Progress, RecordKind};

/// Rows above which a progress bar is shown.
pub const PROGRESS_THRESHOLD: u64 = 5_000;

/// A progress callback for the library that draws a bar for large writes.
#[derive(Debug, Default)]
pub struct ProgressBar {
    bar: Option<(RecordKind, indicatif::ProgressBar)>,
}

impl ProgressBar {
    /// Shows `progress`, starting a new bar when the kind of records changes.
    pub fn update(&mut self, progress: Progress) {
        if progress.total <= PROGRESS_THRESHOLD {
            return;
        }
        let same = matches!(&self.bar, Some((kind, _)) if *kind == progress.records);
        if !same {
            self.finish();
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(progress.total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(match progress.records {
                RecordKind::Clients => "clients",
                RecordKind::Events => "service events",
            });
            self.bar = Some((progress.records, bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(progress.done);
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
