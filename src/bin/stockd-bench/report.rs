//! Latency histograms and the summary line each scenario prints.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies in microseconds, up to a minute.
pub(crate) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Prints one scenario's throughput and latency percentiles (CSV-friendly `key=value` pairs).
pub(crate) fn print(
    scenario: &str,
    clients: usize,
    elapsed: Duration,
    ops: u64,
    units: u64,
    h: &Histogram<u64>,
) {
    let secs = elapsed.as_secs_f64();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "scenario={scenario} clients={clients} seconds={secs:.1} calls={ops} calls_per_s={:.1} units_per_s={:.1} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2}",
        ops as f64 / secs,
        units as f64 / secs,
        ms(0.5),
        ms(0.99),
        ms(0.999),
    );
}
