//! Small sampling tools: Walker/Vose alias tables, lognormal and Pareto draws, a stable hash.

use rand::Rng;

/// Draws an index with probability proportional to its weight in O(1) (Vose's alias method).
#[derive(Debug, Clone)]
pub struct Alias {
    prob: Vec<f32>,
    alias: Vec<u32>,
}

impl Alias {
    /// `weights` must be non-negative with a positive sum; an empty or all-zero table draws
    /// uniformly (and an empty one always draws 0: callers check emptiness).
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let sum: f64 = weights.iter().sum();
        if n == 0 || sum <= 0.0 || !sum.is_finite() {
            return Self {
                prob: vec![1.0; n.max(1)],
                alias: (0..n.max(1) as u32).collect(),
            };
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut prob = vec![1.0f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        for (i, &p) in scaled.iter().enumerate() {
            if p < 1.0 {
                small.push(i as u32)
            } else {
                large.push(i as u32)
            }
        }
        while let (Some(s), Some(l)) = (small.pop(), large.last().copied()) {
            prob[s as usize] = scaled[s as usize] as f32;
            alias[s as usize] = l;
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { prob, alias }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f32>() < self.prob[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

/// A standard normal draw (Box–Muller).
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A lognormal draw with the given mean and shape σ.
pub fn lognormal_mean<R: Rng + ?Sized>(rng: &mut R, mean: f64, sigma: f64) -> f64 {
    let mu = mean.max(f64::MIN_POSITIVE).ln() - sigma * sigma / 2.0;
    (mu + sigma * normal(rng)).exp()
}

/// Rounds `x` up or down at random so that the expectation is `x`.
pub fn stochastic_round<R: Rng + ?Sized>(rng: &mut R, x: f64) -> u64 {
    let floor = x.floor();
    let extra = u64::from(rng.random::<f64>() < x - floor);
    floor.max(0.0) as u64 + extra
}

/// SplitMix64: a stable 64-bit mix, for values derived from ids without storing them.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in [0, 1) from a hash.
pub fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn alias_draws_follow_the_weights() {
        let alias = Alias::new(&[1.0, 0.0, 3.0, 6.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[alias.sample(&mut rng) as usize] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, expected) in [(0, 0.1), (2, 0.3), (3, 0.6)] {
            let share = f64::from(counts[i]) / 100_000.0;
            assert!((share - expected).abs() < 0.01, "{i}: {share}");
        }
    }

    #[test]
    fn lognormal_has_the_requested_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 200_000;
        let mean = (0..n)
            .map(|_| lognormal_mean(&mut rng, 50.0, 1.0))
            .sum::<f64>()
            / n as f64;
        assert!((mean - 50.0).abs() < 1.5, "{mean}");
    }
}
