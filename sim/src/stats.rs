//! Latency distributions (recorded in microseconds, reported in milliseconds) and the verdicts
//! report tables give goals.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A goal's cell in a report table.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            // Three significant digits, up to an hour.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms of the same bounds");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `quantile` (0–1) in milliseconds; 0 with no samples.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    /// `p50 / p99 / max` in milliseconds, for a table cell.
    pub fn summary(&self) -> String {
        format!(
            "{:.0} / {:.0} / {:.0}",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_ms()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_back_in_milliseconds() {
        let mut latencies = Latencies::default();
        for millis in 1..=100 {
            latencies.record(Duration::from_millis(millis));
        }
        assert_eq!(latencies.count(), 100);
        assert!((latencies.quantile_ms(0.5) - 50.0).abs() < 0.1);
        assert!((latencies.quantile_ms(0.99) - 99.0).abs() < 0.1);
        assert!((latencies.max_ms() - 100.0).abs() < 0.1);
    }
}
