//! Ingest loads for simulated shards, drawn from the distributions real fleets show: uniform
//! (every team alike), Zipf (a few teams carry most traffic) and log-normal (most shards quiet,
//! a long tail of busy ones). Seeded, so a run can be repeated.

use clap::ValueEnum;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, LogNormal, Uniform, Zipf};

/// Mean ingest rate of a shard: 512 KiB/s, well under the 5 MiB/s auto-split limit.
pub const MEAN_BYTES_PER_SEC: f64 = 512.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadDistribution {
    Uniform,
    Zipf,
    Lognormal,
}

impl LoadDistribution {
    pub fn describe(self) -> &'static str {
        match self {
            LoadDistribution::Uniform => "uniform (0.5–1.5 × mean)",
            LoadDistribution::Zipf => "Zipf (s = 1.1 over shard ranks)",
            LoadDistribution::Lognormal => "log-normal (σ = 1)",
        }
    }

    /// `count` loads in bytes/s with mean about [`MEAN_BYTES_PER_SEC`], in random order.
    pub fn draw(self, count: usize, seed: u64) -> Vec<i64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut raw: Vec<f64> = match self {
            LoadDistribution::Uniform => {
                let uniform = Uniform::new(0.5, 1.5).expect("a valid range");
                (0..count).map(|_| uniform.sample(&mut rng)).collect()
            }
            LoadDistribution::Zipf => {
                // The shard of rank k gets weight k^-s: the rank's own probability mass.
                let zipf = Zipf::new(count as f64, 1.1).expect("valid Zipf parameters");
                let mut weights = vec![0.0; count];
                for _ in 0..count * 200 {
                    let rank = zipf.sample(&mut rng) as usize;
                    weights[rank.clamp(1, count) - 1] += 1.0;
                }
                weights
            }
            LoadDistribution::Lognormal => {
                let lognormal = LogNormal::new(0.0, 1.0).expect("valid log-normal parameters");
                (0..count).map(|_| lognormal.sample(&mut rng)).collect()
            }
        };
        raw.shuffle(&mut rng);
        let mean = raw.iter().sum::<f64>() / count.max(1) as f64;
        raw.iter()
            .map(|value| (value / mean * MEAN_BYTES_PER_SEC).round() as i64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_distribution_has_the_mean_and_zipf_is_skewed() {
        for distribution in [
            LoadDistribution::Uniform,
            LoadDistribution::Zipf,
            LoadDistribution::Lognormal,
        ] {
            let loads = distribution.draw(200, 7);
            assert_eq!(loads.len(), 200);
            let mean = loads.iter().sum::<i64>() as f64 / 200.0;
            assert!(
                (mean / MEAN_BYTES_PER_SEC - 1.0).abs() < 0.01,
                "{distribution:?}"
            );
            assert_eq!(loads, distribution.draw(200, 7), "seeded");
        }
        let zipf = LoadDistribution::Zipf.draw(200, 7);
        let largest = *zipf.iter().max().unwrap() as f64;
        assert!(
            largest > 10.0 * MEAN_BYTES_PER_SEC,
            "the head shard dominates"
        );
    }
}
