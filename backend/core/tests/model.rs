//! Supernets and students: export equality, executed MACs, BatchNorm modes, slices that
//! train, input gradients without parameter gradients, weights files, re-organisation.

use std::collections::BTreeMap;
use std::sync::Mutex;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use proard_core::model::weights::{
    load_student, load_supernet, named_tensors, save_student, save_supernet,
};
use proard_core::model::{BnMode, NetConfig, Pass, Supernet};
use proard_core::noise;
use proard_shared::genome::seeded_rng;
use proard_shared::preset::preset;
use proard_shared::{Arch, Space, Subnet};

/// The noise stream is one per process: tests that seed it run one at a time.
static RNG: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn images(n: usize, device: &Device) -> Tensor<4> {
    noise::random([n, 3, 32, 32], Distribution::Uniform(0.0, 1.0), device)
}

/// Multiplies every tensor by exp(0.2·N(0,1)) and adds 0.01·N(0,1) to weights and transforms,
/// so that no parameter is at its (often symmetric) initial value: identity kernel transforms
/// and unit BatchNorm scales would hide slicing mistakes.
struct Perturb;

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let scale =
                (noise::random(t.dims(), Distribution::Normal(0.0, 1.0), &t.device()) * 0.2).exp();
            let t = t * scale;
            if D >= 2 {
                t.clone() + noise::random(t.dims(), Distribution::Normal(0.0, 0.01), &t.device())
            } else {
                t
            }
        })
    }
}

/// A supernet with perturbed weights and statistics calibrated for `arch` on random images.
fn prepared(space: Space, arch: &Arch, device: &Device) -> (Supernet, Subnet) {
    let supernet = Supernet::new(space, NetConfig::new(), device);
    let supernet = Supernet { network: supernet.network.map(&mut Perturb), ..supernet };
    let subnet = supernet.subnet(arch).unwrap();
    supernet.calibrate(&subnet, [images(6, device), images(6, device)]);
    (supernet, subnet)
}

fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Export equality, executed = analytic MACs, for `archs` of `space`.
fn check_export_and_macs(space: &Space, archs: &[Arch], batch: usize) {
    let device = Device::flex();
    for arch in archs {
        let (supernet, subnet) = prepared(space.clone(), arch, &device);
        let x = images(batch, &device);
        let mut pass = Pass::eval();
        let from_supernet = supernet.forward(x.clone(), &subnet, &mut pass);
        assert_eq!(
            pass.macs,
            subnet.cost().macs,
            "{}: executed vs analytic MACs for {}",
            space.name(),
            arch.to_json()
        );

        let student = supernet.export(arch).unwrap();
        let mut student_pass = Pass::eval();
        let from_student = student.forward(x, &mut student_pass);
        assert_eq!(student_pass.macs, subnet.cost().macs);
        let diff = max_abs_diff(from_supernet, from_student);
        assert!(diff <= 1e-5, "{}: student differs by {diff} for {}", space.name(), arch.to_json());
        assert_eq!(
            student.network.parameter_count(),
            subnet.cost().params,
            "student parameters = analytic count"
        );
    }
}

#[test]
fn mini_presets_export_exactly_and_count_macs_as_executed() {
    let _guard = lock();
    noise::seed(1);
    for name in ["resnet-mini", "mbv3-mini"] {
        let space = preset(name).unwrap();
        let mut rng = seeded_rng(7);
        let mut archs = vec![space.largest_arch(), space.smallest_arch()];
        archs.extend((0..10).map(|_| space.sample_arch(&mut rng)));
        check_export_and_macs(&space, &archs, 4);
    }
}

#[test]
fn cifar_presets_export_exactly_and_count_macs_as_executed() {
    let _guard = lock();
    noise::seed(2);
    for name in ["mbv3-cifar", "resnet50-cifar"] {
        let space = preset(name).unwrap();
        let archs = vec![space.largest_arch(), space.sample_arch(&mut seeded_rng(3))];
        check_export_and_macs(&space, &archs, 2);
    }
}

#[test]
fn eval_mode_on_an_autodiff_device_uses_and_keeps_running_statistics() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    noise::seed(3);
    let space = preset("mbv3-mini").unwrap();
    let arch = space.largest_arch();
    let (supernet, subnet) = prepared(space, &arch, &device);
    let before = named_tensors(&supernet.network);
    let x = images(4, &device).require_grad();

    let mut pass = Pass::eval();
    let logits = supernet.forward(x.clone(), &subnet, &mut pass);
    let grads = logits.clone().sum().backward();
    assert!(x.grad(&grads).is_some(), "the input gradient exists");
    assert!(before == named_tensors(&supernet.network), "an eval pass wrote nothing");

    // Eval uses running statistics: a batch of one gives the same logits as inside a batch.
    let single = supernet.forward(x.clone().narrow(0, 0, 1), &subnet, &mut Pass::eval());
    assert!(max_abs_diff(single, logits.clone().narrow(0, 0, 1)) < 1e-5);
    // A train pass normalises with the batch's statistics instead, and updates running ones.
    let train = supernet.forward(x, &subnet, &mut Pass::train());
    assert!(max_abs_diff(train, logits) > 1e-3);
    assert!(before != named_tensors(&supernet.network), "a train pass updates running statistics");
}

#[test]
fn calibration_writes_the_exact_mean_and_biased_variance() {
    let _guard = lock();
    let device = Device::flex();
    noise::seed(4);
    let space = preset("resnet-mini").unwrap();
    let arch = space.smallest_arch();
    let supernet = Supernet::new(space, NetConfig::new(), &device);
    let subnet = supernet.subnet(&arch).unwrap();
    let Subnet::ResNet(net) = &subnet else { unreachable!() };
    let batches = [images(5, &device), images(3, &device), images(7, &device)];
    assert_eq!(supernet.calibrate(&subnet, batches.clone()), 15);

    // Direct computation for the first BatchNorm: its input is stem conv1 over all 15 images.
    let proard_core::model::Network::ResNet(n) = &supernet.network else { unreachable!() };
    let all = Tensor::cat(batches.to_vec(), 0);
    let conv = n.stem1.conv.forward(all, net.stem_mid as usize, &mut Pass::eval()); // [15, C, 32, 32]
    let c = net.stem_mid as usize;
    let per_channel = conv.swap_dims(0, 1).reshape([c, 15 * 32 * 32]);
    let (var, mean) = per_channel.var_mean_bias(1);
    let written_mean = n.stem1.bn.running_mean.value_sync().narrow(0, 0, c);
    let written_var = n.stem1.bn.running_var.value_sync().narrow(0, 0, c);
    let close = |a: Tensor<1>, b: Tensor<2>| (a - b.reshape([c])).abs().max().into_scalar::<f32>();
    assert!(close(written_mean, mean) < 1e-5);
    assert!(close(written_var, var) < 1e-5);
}

/// Supernet tensor name → student tensor name, for every tensor the subnet uses.
fn student_names(subnet: &Subnet) -> BTreeMap<String, String> {
    let indices: Vec<usize> = match subnet {
        Subnet::ResNet(n) => n.blocks.iter().map(|b| b.index).collect(),
        Subnet::MobileNetV3(n) => n.blocks.iter().map(|b| b.index).collect(),
    };
    indices
        .iter()
        .enumerate()
        .map(|(i, phys)| (format!("blocks.{phys}."), format!("blocks.{i}.")))
        .collect()
}

#[test]
fn a_training_step_changes_only_the_active_slices() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    noise::seed(5);
    for name in ["resnet-mini", "mbv3-mini"] {
        let space = preset(name).unwrap();
        let arch = space.sample_arch(&mut seeded_rng(11));
        let supernet = Supernet::new(space, NetConfig::new(), &device);
        let subnet = supernet.subnet(&arch).unwrap();
        let student = supernet.export(&arch).unwrap();
        let student_tensors = named_tensors(&student.network);
        let before = named_tensors(&supernet.network);

        let x = images(8, &device);
        let labels = Tensor::<1, Int>::from_ints([0, 1, 2, 3, 4, 5, 6, 7], &device);
        let logits = supernet.forward(x, &subnet, &mut Pass::new(BnMode::Train));
        let loss =
            burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(logits, labels);
        let grads = GradientsParams::from_grads(loss.backward(), &supernet.network);
        let network = SgdConfig::new().init().step(0.5, supernet.network, grads);
        let after = named_tensors(&network);

        let renames = student_names(&subnet);
        let mut changed_any = 0;
        for (name, (shape, old)) in &before {
            let new = &after[name].1;
            let student_name = renames
                .iter()
                .find(|(from, _)| name.starts_with(from.as_str()))
                .map(|(from, to)| name.replacen(from.as_str(), to, 1))
                .unwrap_or_else(|| name.clone());
            let changed: Vec<usize> = (0..old.len()).filter(|i| old[*i] != new[*i]).collect();
            let Some((active, _)) = student_tensors.get(&student_name) else {
                // Unused blocks and layers; kernel transforms have no student counterpart.
                if !name.contains("transforms") {
                    assert!(changed.is_empty(), "{name}: not in the subnet but changed");
                }
                continue;
            };
            changed_any += usize::from(!changed.is_empty());
            // The active region is the leading slice, centred on the last two dims for the
            // depthwise kernel (a centre crop).
            let centred = name.ends_with("depthwise.weight");
            for i in changed {
                let mut rest = i;
                for d in (0..shape.len()).rev() {
                    let coord = rest % shape[d];
                    rest /= shape[d];
                    let offset = if centred && d >= 2 { (shape[d] - active[d]) / 2 } else { 0 };
                    assert!(
                        coord >= offset && coord < offset + active[d],
                        "{name}: element {i} outside the active slice {active:?} changed"
                    );
                }
            }
        }
        assert!(changed_any > student_tensors.len() / 2, "{name}: most active tensors trained");
    }
}

#[test]
fn attacks_get_input_gradients_without_parameter_gradients() {
    let _guard = lock();
    let device = Device::flex().autodiff();
    noise::seed(6);
    let space = preset("resnet-mini").unwrap();
    let supernet = Supernet::new(space.clone(), NetConfig::new(), &device);
    let subnet = supernet.subnet(&space.largest_arch()).unwrap();
    let frozen = supernet.network.valid();
    let x = images(2, &Device::flex()).autodiff().require_grad();
    let grads = frozen.forward(x.clone(), &subnet, &mut Pass::eval()).sum().backward();
    assert!(x.grad(&grads).is_some());
    let proard_core::model::Network::ResNet(n) = &frozen else { unreachable!() };
    assert!(n.stem1.conv.weight.grad(&grads).is_none());
    assert!(n.classifier.weight.grad(&grads).is_none());
}

#[test]
fn weights_files_round_trip_and_refuse_the_wrong_kind() {
    let _guard = lock();
    let device = Device::flex();
    noise::seed(7);
    let dir = tempfile::tempdir().unwrap();
    let space = preset("mbv3-mini").unwrap();
    let arch = space.sample_arch(&mut seeded_rng(2));
    let (supernet, subnet) = prepared(space.clone(), &arch, &device);
    let x = images(2, &device);
    let expected = supernet.forward(x.clone(), &subnet, &mut Pass::eval());

    let path = dir.path().join("supernet.safetensors");
    save_supernet(&supernet, &path).unwrap();
    let loaded = load_supernet(&path, &device).unwrap();
    assert_eq!(loaded.space, space);
    assert_eq!(
        max_abs_diff(loaded.forward(x.clone(), &subnet, &mut Pass::eval()), expected.clone()),
        0.0
    );

    let student = supernet.export(&arch).unwrap();
    let student_path = dir.path().join("student.safetensors");
    save_student(&student, &space, &supernet.config, &[], &student_path).unwrap();
    let loaded = load_student(&student_path, &device).unwrap();
    assert_eq!(loaded.arch, arch);
    assert!(max_abs_diff(loaded.forward(x, &mut Pass::eval()), expected) <= 1e-5);

    let err = load_student(&path, &device).unwrap_err().to_string();
    assert!(err.contains("is a supernet file, not a student file"), "{err}");
    std::fs::write(dir.path().join("junk.safetensors"), b"not a tensor file").unwrap();
    let err = load_supernet(&dir.path().join("junk.safetensors"), &device).unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
}

#[test]
fn reorganising_middle_channels_keeps_the_largest_subnet_and_protects_small_ratios() {
    let _guard = lock();
    let device = Device::flex();
    noise::seed(8);
    for name in ["resnet-mini", "mbv3-mini"] {
        let space = preset(name).unwrap();
        let arch = space.largest_arch();
        let (supernet, subnet) = prepared(space.clone(), &arch, &device);
        let x = images(3, &device);
        let before = supernet.forward(x.clone(), &subnet, &mut Pass::eval());
        let reorganised = supernet.reorganize_middle_channels(0);
        let after = reorganised.forward(x.clone(), &subnet, &mut Pass::eval());
        assert!(
            max_abs_diff(before, after) < 1e-4,
            "{name}: a consistent permutation changes nothing"
        );
    }
}
