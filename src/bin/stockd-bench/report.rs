//! Latency histograms and the one `scenario=… key=value …` line each scenario prints on stdout.

use std::{collections::BTreeMap, fmt::Display, time::Duration};

use hdrhistogram::Histogram;

use crate::{
    LoadShape,
    drive::{self, KindStats},
};

/// Latencies in microseconds, up to a minute.
pub(crate) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// A result line, built key by key.
pub(crate) struct Line(Vec<(String, String)>);

impl Line {
    /// Starts the line of `scenario`.
    pub(crate) fn new(scenario: &str) -> Self {
        Self(vec![("scenario".to_owned(), scenario.to_owned())])
    }

    /// Appends `key=value`.
    pub(crate) fn put(&mut self, key: &str, value: impl Display) -> &mut Self {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    /// Appends a per-second figure with one decimal.
    pub(crate) fn rate(&mut self, key: &str, count: u64, elapsed: Duration) -> &mut Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.put(key, format!("{:.1}", count as f64 / secs))
    }

    /// Appends `{prefix}p50_ms`, `p99_ms`, `p999_ms` and `max_ms`.
    pub(crate) fn latency(&mut self, prefix: &str, h: &Histogram<u64>) -> &mut Self {
        let ms = |micros: u64| format!("{:.2}", micros as f64 / 1000.0);
        self.put(&format!("{prefix}p50_ms"), ms(h.value_at_quantile(0.5)));
        self.put(&format!("{prefix}p99_ms"), ms(h.value_at_quantile(0.99)));
        self.put(&format!("{prefix}p999_ms"), ms(h.value_at_quantile(0.999)));
        self.put(&format!("{prefix}max_ms"), ms(h.max()))
    }

    /// The fields every load scenario has: shape, calls, throughput, latency, refusals, errors,
    /// and in an open-loop run how late the generator itself sent (`send_late_p50_ms`…), which the
    /// latency includes.
    pub(crate) fn common(
        &mut self,
        shape: &LoadShape,
        connections: usize,
        elapsed: Duration,
        total: &KindStats,
    ) -> &mut Self {
        self.put("clients", shape.clients);
        self.put("connections", connections);
        if let Some(rate) = drive::scheduled_rate(shape) {
            self.put("offered_per_s", format!("{rate:.1}"));
        }
        self.put("seconds", format!("{:.1}", elapsed.as_secs_f64()));
        self.put("calls", total.calls());
        self.rate("calls_per_s", total.calls(), elapsed);
        self.latency("", &total.latency);
        if let Some(lateness) = &total.send_lateness {
            self.latency("send_late_", lateness);
        }
        self.put("refused", total.refused.values().sum::<u64>());
        self.put("errors", total.error_count());
        if !total.errors.is_empty() {
            self.put("error_codes", joined(&total.errors));
        }
        self
    }

    /// Prints the line on stdout.
    pub(crate) fn print(&self) {
        let text: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}", text.join(" "));
    }
}

/// `A:1,B:2`, or `-` when empty.
pub(crate) fn joined(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(",")
}
