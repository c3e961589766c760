//! Helpers the core's integration tests share.

use proard_core::model::Network;

/// Every BatchNorm running mean and variance of `network`, in visiting order.
pub fn running_statistics(network: &Network) -> Vec<Vec<f64>> {
    let mut statistics = Vec::new();
    network.visit_batch_norms(&mut |bn| {
        for state in [&bn.running_mean, &bn.running_var] {
            statistics.push(state.value_sync().try_into_vec_as::<f64>().unwrap());
        }
    });
    statistics
}
