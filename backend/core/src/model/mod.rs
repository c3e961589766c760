//! Dynamic supernets in Burn, and the static students exported from them.
//!
//! A subnet is a view: [`Supernet::forward`] takes a resolved [`Subnet`] (from
//! `proard-shared`) and runs the leading slices of the shared weights it names. A [`Student`]
//! is the same network with exactly its own weights, so one forward serves both.
//!
//! Invariants: every forward states its BatchNorm mode ([`Pass`]); attacks run on
//! [`Network::valid`] copies, which carry no parameter gradients; in `Eval` mode every BatchNorm
//! is folded into the convolution before it (one conv, equal up to f32 rounding); MACs are
//! counted from the shapes the layers actually ran on.

pub mod batch_norm;
pub mod check;
pub mod layers;
pub mod mbv3;
pub mod pass;
pub mod reorganize;
pub mod resnet;
pub mod weights;

use burn::prelude::*;
use burn::tensor::Distribution;
use proard_shared::{Arch, ArchError, Space, Subnet};

use crate::noise;
use mbv3::DynMbV3;
pub use pass::{BnMode, Calibration, Pass};
use resnet::DynResNet;

/// Hyper-parameters of a network that are not part of its search space.
#[derive(Config, Debug, PartialEq)]
pub struct NetConfig {
    /// BatchNorm momentum for running statistics (PyTorch convention).
    #[config(default = 0.1)]
    pub bn_momentum: f64,
    #[config(default = 1e-5)]
    pub bn_epsilon: f64,
    /// Learned kernel transforms for smaller depthwise kernels (ProARD) or plain centre crops.
    #[config(default = true)]
    pub kernel_transform: bool,
    /// Dropout before the classifier, in `Train` passes only (the pipeline sets it per stage:
    /// 0.1 in supernet training, 0 for the teacher).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// The layers of a supernet (or of a student), one variant per family.
// One or two live per process; boxing would only add indirection to every forward.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    ResNet(DynResNet),
    MobileNetV3(DynMbV3),
}

impl Network {
    /// Logits [N, classes] of `subnet` for x [N, C, H, W].
    pub fn forward(&self, x: Tensor<4>, subnet: &Subnet, pass: &mut Pass) -> Tensor<2> {
        match (self, subnet) {
            (Network::ResNet(n), Subnet::ResNet(s)) => n.forward(x, s, pass),
            (Network::MobileNetV3(n), Subnet::MobileNetV3(s)) => n.forward(x, s, pass),
            _ => panic!("a subnet of another family than the network"),
        }
    }

    /// The same layers with dropout rate `p` before the classifier (in `Train` passes).
    pub fn with_dropout(self, p: f64) -> Network {
        match self {
            Network::ResNet(mut n) => {
                n.dropout = p;
                Network::ResNet(n)
            }
            Network::MobileNetV3(mut n) => {
                n.dropout = p;
                Network::MobileNetV3(n)
            }
        }
    }

    /// Learnable parameters (every tensor but BatchNorm running statistics): for a student,
    /// what `proard_shared::cost` counts analytically.
    pub fn parameter_count(&self) -> u64 {
        weights::named_tensors(self)
            .iter()
            .filter(|(name, _)| !name.ends_with("running_mean") && !name.ends_with("running_var"))
            .map(|(_, (shape, _))| shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// Writes calibrated statistics into every BatchNorm the calibration saw.
    pub fn write_calibration(&self, calibration: &Calibration) {
        let mut writer = |bn: &batch_norm::DynBatchNorm| {
            if let Some(moments) = calibration.layers.get(&bn.key) {
                bn.write_statistics(moments);
            }
        };
        self.visit_batch_norms(&mut writer);
    }

    /// Calls `f` on every BatchNorm layer.
    pub fn visit_batch_norms(&self, f: &mut dyn FnMut(&batch_norm::DynBatchNorm)) {
        match self {
            Network::ResNet(n) => {
                for l in [Some(&n.stem1), n.stem2.as_ref(), Some(&n.stem3)].into_iter().flatten() {
                    f(&l.bn);
                }
                for b in &n.blocks {
                    for bn in [&b.bn1, &b.bn2, &b.bn3] {
                        f(bn);
                    }
                    if let Some(p) = &b.downsample {
                        f(&p.bn);
                    }
                }
            }
            Network::MobileNetV3(n) => {
                f(&n.stem_bn);
                for b in std::iter::once(&n.first_block).chain(&n.blocks) {
                    if let Some(bn) = &b.expand_bn {
                        f(bn);
                    }
                    f(&b.depthwise_bn);
                    f(&b.project_bn);
                }
                f(&n.final_expand_bn);
            }
        }
    }
}

/// The network a loss or an attack runs: layers and the subnet of them to use — a supernet's
/// sampled subnet, or a student's (or teacher's) own layers.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub network: &'a Network,
    pub subnet: &'a Subnet,
}

impl<'a> View<'a> {
    pub fn new(network: &'a Network, subnet: &'a Subnet) -> View<'a> {
        View { network, subnet }
    }

    /// Logits [N, classes] for x [N, C, H, W] with BatchNorm in `mode`.
    pub fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<2> {
        self.network.forward(x, self.subnet, &mut Pass::new(mode))
    }
}

/// Global average pool: [N, C, H, W] → [N, C].
pub(crate) fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

/// Inverted dropout, only in `Train` passes.
pub(crate) fn dropout(x: Tensor<2>, p: f64, pass: &Pass) -> Tensor<2> {
    if pass.mode != BnMode::Train || p == 0.0 {
        return x;
    }
    let keep = noise::random(x.dims(), Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep / (1.0 - p)
}

/// A dynamic supernet over a space.
#[derive(Debug)]
pub struct Supernet {
    pub space: Space,
    pub config: NetConfig,
    pub network: Network,
}

impl Supernet {
    /// A freshly initialised supernet; seed the noise stream (`noise::seed(s)`) first for a
    /// reproducible initialisation.
    pub fn new(space: Space, config: NetConfig, device: &Device) -> Supernet {
        let network = match &space {
            Space::ResNet(s) => Network::ResNet(DynResNet::new(s, &config, device)),
            Space::MobileNetV3(s) => Network::MobileNetV3(DynMbV3::new(s, &config, device)),
        };
        Supernet { space, config, network }
    }

    /// Resolves an arch of this supernet's space.
    pub fn subnet(&self, arch: &Arch) -> Result<Subnet, ArchError> {
        self.space.subnet(arch)
    }

    pub fn forward(&self, x: Tensor<4>, subnet: &Subnet, pass: &mut Pass) -> Tensor<2> {
        self.network.forward(x, subnet, pass)
    }

    /// Re-estimates the BatchNorm statistics of `subnet` exactly over `batches` (clean images)
    /// and writes them; returns how many images were seen.
    pub fn calibrate(
        &self,
        subnet: &Subnet,
        batches: impl IntoIterator<Item = Tensor<4>>,
    ) -> usize {
        let mut calibration = Calibration::default();
        for batch in batches {
            let n = batch.dims()[0];
            let mut pass = Pass::calibrate();
            self.network.forward(batch, subnet, &mut pass);
            calibration.add(pass, n);
        }
        self.network.write_calibration(&calibration);
        calibration.images
    }

    /// The static student of `arch`: its own weights, kernels and BatchNorm statistics.
    pub fn export(&self, arch: &Arch) -> Result<Student, ArchError> {
        let subnet = self.subnet(arch)?;
        let frozen = self.network.valid();
        let (network, subnet) = match (&frozen, &subnet) {
            (Network::ResNet(n), Subnet::ResNet(s)) => {
                let (net, s) = n.student(s);
                (Network::ResNet(net), Subnet::ResNet(s))
            }
            (Network::MobileNetV3(n), Subnet::MobileNetV3(s)) => {
                let (net, s) = n.student(s);
                (Network::MobileNetV3(net), Subnet::MobileNetV3(s))
            }
            _ => unreachable!("the subnet was resolved from this supernet's space"),
        };
        Ok(Student {
            space_name: self.space.name().to_owned(),
            arch: arch.clone(),
            subnet,
            network,
        })
    }
}

/// A standalone network for one arch, exported from a supernet.
#[derive(Debug)]
pub struct Student {
    pub space_name: String,
    pub arch: Arch,
    /// Its layers, numbered 0.. in the student's own block list.
    pub subnet: Subnet,
    pub network: Network,
}

impl Student {
    pub fn forward(&self, x: Tensor<4>, pass: &mut Pass) -> Tensor<2> {
        self.network.forward(x, &self.subnet, pass)
    }
}
