//! Weighted max-min fair shares ("water filling") and Jain's fairness index.

/// Each tenant's fair share of `capacity`, given its demand and weight: capacity is split in
/// proportion to weight, a tenant that wants less than its split gets its demand, and what it
/// leaves is split again among the others, until every tenant is satisfied or capacity is gone.
pub fn max_min_fair_shares(capacity: f64, demands: &[f64], weights: &[i64]) -> Vec<f64> {
    debug_assert_eq!(demands.len(), weights.len(), "one weight per demand");
    let mut shares = vec![0.0; demands.len()];
    let mut unsatisfied: Vec<usize> = (0..demands.len()).filter(|&i| demands[i] > 0.0).collect();
    let mut remaining = capacity.max(0.0);
    while !unsatisfied.is_empty() && remaining > 1e-12 {
        let total_weight: f64 = unsatisfied.iter().map(|&i| weights[i].max(1) as f64).sum();
        let per_weight = remaining / total_weight;
        let (satisfied, still): (Vec<usize>, Vec<usize>) = unsatisfied
            .iter()
            .partition(|&&i| demands[i] - shares[i] <= per_weight * weights[i].max(1) as f64);
        if satisfied.is_empty() {
            for &i in &still {
                shares[i] += per_weight * weights[i].max(1) as f64;
            }
            break;
        }
        for &i in &satisfied {
            remaining -= demands[i] - shares[i];
            shares[i] = demands[i];
        }
        unsatisfied = still;
    }
    shares
}

/// Jain's index (Σx)² / (n·Σx²): 1 when every `x` is equal, 1/n when one takes everything.
pub fn jain_index(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let sum_of_squares: f64 = values.iter().map(|x| x * x).sum();
    if values.is_empty() || sum_of_squares == 0.0 {
        return 1.0;
    }
    sum * sum / (values.len() as f64 * sum_of_squares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_tenant_gets_its_demand_and_the_heavy_one_the_rest() {
        let shares = max_min_fair_shares(8.0, &[0.8, 64.0], &[1, 1]);
        assert!((shares[0] - 0.8).abs() < 1e-9);
        assert!((shares[1] - 7.2).abs() < 1e-9);
    }

    #[test]
    fn backlogged_tenants_split_by_weight() {
        let shares = max_min_fair_shares(9.0, &[100.0, 100.0, 1.0], &[2, 1, 1]);
        assert!((shares[2] - 1.0).abs() < 1e-9);
        assert!((shares[0] - 16.0 / 3.0).abs() < 1e-9);
        assert!((shares[1] - 8.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn jain_ranges_from_one_over_n_to_one() {
        assert!((jain_index(&[1.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        assert!((jain_index(&[1.0, 0.0]) - 0.5).abs() < 1e-12);
    }
}
