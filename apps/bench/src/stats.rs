//! Figures: latencies of one block, and a figure's spread over the blocks of a run.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `sorted`, nearest rank.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One figure measured once per block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figure {
    pub values: Vec<f64>,
}

impl Figure {
    pub(crate) fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    pub(crate) fn median(&self) -> f64 {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub(crate) fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn max(&self) -> f64 {
        self.values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Prints `label: median (min–max) unit, n blocks`.
pub(crate) fn print(label: &str, figure: &Figure, unit: &str) {
    println!(
        "  {label:<52} {:>10} {unit:<9} (min {} – max {}, {} blocks)",
        fmt(figure.median()),
        fmt(figure.min()),
        fmt(figure.max()),
        figure.values.len()
    );
}

/// A target check line: `target: <text> → met / MISSED`.
pub(crate) fn verdict(id: &str, text: &str, met: bool) {
    println!(
        "  {id} target {text}: {}",
        if met { "met" } else { "MISSED" }
    );
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// What a closed-loop load produced in one block.
#[derive(Debug, Default)]
pub(crate) struct Load {
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latencies of the successful calls, sorted.
    pub latencies: Vec<Duration>,
}

impl Load {
    pub(crate) fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn p99_ms(&self) -> f64 {
        millis(percentile(&self.latencies, 99.0))
    }
}
