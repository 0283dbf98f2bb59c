//! The simulator's random numbers: SplitMix64, written out here so a run is reproduced exactly
//! by its seed, whatever version of a random-number crate the workspace resolves.

/// One stream of pseudo-random numbers.
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A stream that depends on `seed` and `name`: each tenant draws from its own streams, so
    /// adding a tenant or changing the policy does not change another tenant's arrivals (the
    /// runs compared in a benchmark see the same light-tenant queries).
    pub fn for_stream(seed: u64, name: &str, purpose: &str) -> Self {
        // FNV-1a over the names, mixed with the seed.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes().chain([0]).chain(purpose.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut stream = Self::new(seed ^ hash);
        // Decorrelates seeds that differ in few bits.
        stream.next_u64();
        stream
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut first = Random::for_stream(7, "light", "arrivals");
        let mut again = Random::for_stream(7, "light", "arrivals");
        let mut other = Random::for_stream(7, "heavy", "arrivals");
        let a: Vec<u64> = (0..4).map(|_| first.next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|_| again.next_u64()).collect();
        let c: Vec<u64> = (0..4).map(|_| other.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_exponential_has_its_mean() {
        let mut random = Random::new(1);
        let samples = 200_000;
        let mean = (0..samples).map(|_| random.exponential(5.0)).sum::<f64>() / samples as f64;
        assert!((mean - 5.0).abs() < 0.1, "mean {mean}");
    }
}
