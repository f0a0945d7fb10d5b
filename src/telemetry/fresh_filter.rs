//! A per-layer filter that is asked about every span and event, never only once per callsite.
//!
//! tracing-subscriber hands a per-layer filter's decision to its layer through a thread-local
//! that the next `enabled` call overwrites. A callsite whose interest is cached as `always` skips
//! `enabled`, so its layer reads whatever the last `enabled` call on the thread left there. The
//! `log` bridge makes such calls without an event after them: sqlx asks `log_enabled!` about each
//! PostgreSQL NOTICE, and when no layer wants the notice its "disabled" marks stay behind and the
//! next always-enabled line (the warning that authentication is off) reached no layer at all
//! (tokio-rs/tracing#2519). Capping the interest at `sometimes` makes every span and event ask
//! `enabled` first, which writes fresh marks; callsites no filter wants stay `never`.

use tracing::{Event, Metadata, span, subscriber::Interest};
use tracing_subscriber::{
    filter::LevelFilter,
    layer::{Context, Filter},
};

/// `F`, with its callsite interest capped at `sometimes`.
#[derive(Debug, Clone)]
pub(super) struct FreshFilter<F>(pub(super) F);

impl<S, F: Filter<S>> Filter<S> for FreshFilter<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, cx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx);
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx);
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx);
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx);
    }
}
