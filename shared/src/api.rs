//! Types the server, the CLI and the browser exchange as JSON.

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::space::Space;

/// The headline numbers of a space (`proard space show --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSummary {
    pub name: String,
    /// Exact number of distinct subnets, as a decimal string (it exceeds 2⁶⁴).
    pub subnets: String,
    pub macs_min: u64,
    pub macs_max: u64,
    pub params_min: u64,
    pub params_max: u64,
    pub encoding_dim: usize,
}

impl SpaceSummary {
    /// MACs and parameters grow with every choice, so the smallest and the largest arch bound
    /// the whole space.
    pub fn of(space: &Space) -> SpaceSummary {
        let cost = |arch: &Arch| space.subnet(arch).expect("extreme archs are valid").cost();
        let (min, max) = (cost(&space.smallest_arch()), cost(&space.largest_arch()));
        SpaceSummary {
            name: space.name().to_owned(),
            subnets: space.subnet_count().to_string(),
            macs_min: min.macs,
            macs_max: max.macs,
            params_min: min.params,
            params_max: max.params,
            encoding_dim: space.encoding_dim(),
        }
    }
}

/// One sampled arch with its cost (`proard space sample --json`, one per line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampledArch {
    pub arch: Arch,
    pub macs: u64,
    pub params: u64,
}
