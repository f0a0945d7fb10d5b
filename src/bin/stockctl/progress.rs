//! The import's progress bar: rows, rows per second and time left, on a terminal only.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `rows` rows, hidden when stderr is not a terminal (pipes and logs stay clean).
pub(crate) fn bar(rows: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(rows);
    if let Ok(style) = ProgressStyle::with_template(
        "{wide_bar} {human_pos}/{human_len} rows  {per_sec}  {eta} left",
    ) {
        bar.set_style(style);
    }
    bar
}
