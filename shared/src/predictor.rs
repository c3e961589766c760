//! Accuracy–robustness predictor: an MLP from an arch's one-hot encoding to its clean and
//! robust accuracy (docs/method.md, "Predictor and search").
//!
//! Defaults are the reference's: 6 hidden layers of 400 with ReLU, a bias-free linear output of
//! 2 (accuracy, robustness, as fractions), Adam (lr 1e-3, weight decay 1e-4), loss
//! MSE(acc) + MSE(rob), 50 epochs, batch 256, 80/20 split — here seeded. Runs on any Burn
//! device, in the browser included (flex on the CPU, wgpu on WebGPU).

use burn::module::{Module, Param, ParamId};
use burn::nn::Linear;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::arch::{Arch, ArchError};
use crate::genome::{SeededRng, seeded_rng};
use crate::space::Space;

/// Settings of the predictor and of its training.
#[derive(Config, Debug, PartialEq)]
pub struct PredictorConfig {
    #[config(default = 6)]
    pub hidden_layers: usize,
    #[config(default = 400)]
    pub hidden_width: usize,
    #[config(default = 50)]
    pub epochs: usize,
    #[config(default = 256)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    /// Share of the records held out to measure the predictor.
    #[config(default = 0.2)]
    pub test_fraction: f64,
    /// Seeds the split, the batch order and the initial weights.
    #[config(default = 0)]
    pub seed: u64,
}

/// What the predictor learns from: one evaluated student (extra fields are ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Labelled {
    pub arch: Arch,
    /// Clean accuracy, a fraction.
    pub clean: f64,
    /// PGD-20 accuracy, a fraction.
    pub pgd20: f64,
}

/// Root-mean-square errors of a fitted predictor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Held-out RMSE of the predicted clean accuracy.
    pub rmse_acc: f64,
    /// Held-out RMSE of the predicted PGD-20 accuracy.
    pub rmse_rob: f64,
    pub train_rmse_acc: f64,
    pub train_rmse_rob: f64,
    pub n_train: usize,
    pub n_test: usize,
    /// Every held-out record, measured and predicted (the ProARD paper's Fig. 9).
    pub held_out: Vec<HeldOut>,
}

/// One held-out record: its measured accuracies and the predicted ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub clean: f64,
    pub pgd20: f64,
    pub predicted_clean: f64,
    pub predicted_pgd20: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    #[error("record {index}: {source}")]
    Record { index: usize, source: ArchError },
    #[error(
        "record {index}: accuracies must be fractions in [0, 1], got clean {clean}, pgd20 {pgd20}"
    )]
    Accuracy { index: usize, clean: f64, pgd20: f64 },
    #[error("need at least 2 records to hold some out, got {0}")]
    TooFewRecords(usize),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error(transparent)]
    Arch(#[from] ArchError),
    #[error("predictor weights: {0}")]
    Weights(String),
    #[error("reading the predictions back from the device failed: {0}")]
    Device(String),
}

/// The MLP: `hidden_layers` × (linear + ReLU), then a bias-free linear to 2 outputs.
#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: Vec<Linear>,
    pub output: Linear,
}

impl Mlp {
    /// Initialised as PyTorch's `nn.Linear` (weights and biases ~ U(±1/√inputs)), drawn from
    /// `rng` on the host: every device starts from the same weights (a backend's own RNG differs
    /// per backend).
    pub fn new(
        inputs: usize,
        config: &PredictorConfig,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Mlp {
        Mlp::layers(inputs, config, |inputs, outputs, bias| {
            linear(inputs, outputs, bias, rng, device)
        })
    }

    /// The MLP's shape with lazy parameters for [`Module::load_from`] to replace: loading a
    /// predictor draws (and, on a GPU, uploads) no weights it would throw away. A parameter the
    /// file lacks would be zeros, but such a file is refused.
    fn to_load(inputs: usize, config: &PredictorConfig, device: &Device) -> Mlp {
        fn lazy<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
            let init = move |device: &Device, _| Tensor::zeros(shape, device);
            Param::uninitialized(ParamId::new(), init, device.clone(), true, Shape::new(shape))
        }
        Mlp::layers(inputs, config, |inputs, outputs, bias| Linear {
            weight: lazy([inputs, outputs], device),
            bias: bias.then(|| lazy([outputs], device)),
        })
    }

    /// The layers in order, each made by `linear(inputs, outputs, bias)`.
    fn layers(
        inputs: usize,
        config: &PredictorConfig,
        mut linear: impl FnMut(usize, usize, bool) -> Linear,
    ) -> Mlp {
        let mut width = inputs;
        let hidden = (0..config.hidden_layers)
            .map(|_| {
                let layer = linear(width, config.hidden_width, true);
                width = config.hidden_width;
                layer
            })
            .collect();
        let output = linear(width, 2, false);
        Mlp { hidden, output }
    }

    /// Encodings [N, D] → [N, 2] (accuracy, robustness).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(x, |x, layer| relu(layer.forward(x)));
        self.output.forward(x)
    }
}

/// A `Linear` (weight `[inputs, outputs]`, Burn's layout) drawn from `rng`.
fn linear(
    inputs: usize,
    outputs: usize,
    bias: bool,
    rng: &mut SeededRng,
    device: &Device,
) -> Linear {
    fn draw<const D: usize>(
        shape: [usize; D],
        bound: f64,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Param<Tensor<D>> {
        let data =
            TensorData::random::<f32, _, _>(shape, Distribution::Uniform(-bound, bound), rng);
        Param::from_tensor(Tensor::from_data(data, device))
    }
    let bound = 1.0 / (inputs as f64).sqrt();
    Linear {
        weight: draw([inputs, outputs], bound, rng, device),
        bias: bias.then(|| draw([outputs], bound, rng, device)),
    }
}

/// The fewest archs worth a core of their own in [`Predictor::predict`].
#[cfg(not(target_arch = "wasm32"))]
const MIN_CPU_SHARE: usize = 32;

/// A fitted predictor for one space.
#[derive(Debug)]
pub struct Predictor {
    pub space: Space,
    pub config: PredictorConfig,
    pub mlp: Mlp,
}

fn encodings(space: &Space, archs: &[&Arch], device: &Device) -> Result<Tensor<2>, ArchError> {
    let dim = space.encoding_dim();
    let mut flat = Vec::with_capacity(archs.len() * dim);
    for arch in archs {
        flat.extend(space.encode(arch)?);
    }
    Ok(Tensor::from_data(TensorData::new(flat, [archs.len(), dim]), device))
}

fn targets(records: &[&Labelled], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = records.iter().flat_map(|r| [r.clean as f32, r.pgd20 as f32]).collect();
    Tensor::from_data(TensorData::new(flat, [records.len(), 2]), device)
}

/// Root-mean-square error per output column.
fn rmse(predicted: Tensor<2>, target: Tensor<2>) -> (f64, f64) {
    let mse: Vec<f64> =
        (predicted - target).square().mean_dim(0).try_into_vec_as::<f64>().expect("float tensor");
    (mse[0].sqrt(), mse[1].sqrt())
}

impl Predictor {
    /// Trains a predictor on `records` of `space` on `device` (made autodiff for training).
    pub fn fit(
        space: &Space,
        records: &[Labelled],
        config: &PredictorConfig,
        device: &Device,
    ) -> Result<(Predictor, FitReport), PredictorError> {
        if !(0.0..1.0).contains(&config.test_fraction) || config.batch_size == 0 {
            return Err(PredictorError::Config(
                "test_fraction must be in [0, 1) and batch_size at least 1".into(),
            ));
        }
        for (index, r) in records.iter().enumerate() {
            r.arch.validate(space).map_err(|source| PredictorError::Record { index, source })?;
            if !(0.0..=1.0).contains(&r.clean) || !(0.0..=1.0).contains(&r.pgd20) {
                return Err(PredictorError::Accuracy { index, clean: r.clean, pgd20: r.pgd20 });
            }
        }
        if records.len() < 2 {
            return Err(PredictorError::TooFewRecords(records.len()));
        }
        let mut rng = seeded_rng(config.seed);
        let mut order: Vec<&Labelled> = records.iter().collect();
        order.shuffle(&mut rng);
        let n_test = ((records.len() as f64 * config.test_fraction).round() as usize).max(1);
        let (test, train) = order.split_at(n_test);

        let train_device = device.clone().autodiff();
        let mut mlp = Mlp::new(space.encoding_dim(), config, &mut rng, &train_device);
        let mut optimizer = AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
            .init();
        let x_train =
            encodings(space, &train.iter().map(|r| &r.arch).collect::<Vec<_>>(), &train_device)?;
        let y_train = targets(train, &train_device);
        let mut indices: Vec<i32> = (0..train.len() as i32).collect();
        for _ in 0..config.epochs {
            indices.shuffle(&mut rng);
            for chunk in indices.chunks(config.batch_size) {
                let batch = Tensor::<1, Int>::from_data(
                    TensorData::new(chunk.to_vec(), [chunk.len()]),
                    &train_device,
                );
                let x = x_train.clone().select(0, batch.clone());
                let y = y_train.clone().select(0, batch);
                // MSE(acc) + MSE(rob), as the reference sums the two losses.
                let loss = (mlp.forward(x) - y).square().mean_dim(0).sum();
                let grads = GradientsParams::from_grads(loss.backward(), &mlp);
                mlp = optimizer.step(config.learning_rate, mlp, grads);
            }
        }

        let predictor =
            Predictor { space: space.clone(), config: config.clone(), mlp: mlp.valid() };
        let measure = |part: &[&Labelled]| -> Result<(f64, f64), ArchError> {
            let x = encodings(space, &part.iter().map(|r| &r.arch).collect::<Vec<_>>(), device)?;
            Ok(rmse(predictor.mlp.forward(x), targets(part, device)))
        };
        let (train_rmse_acc, train_rmse_rob) = measure(train)?;
        let (rmse_acc, rmse_rob) = measure(test)?;
        let predicted =
            predictor.predict(&test.iter().map(|r| r.arch.clone()).collect::<Vec<_>>())?;
        let held_out = test
            .iter()
            .zip(predicted)
            .map(|(r, [clean, pgd20])| HeldOut {
                clean: r.clean,
                pgd20: r.pgd20,
                predicted_clean: clean,
                predicted_pgd20: pgd20,
            })
            .collect();
        let report = FitReport {
            rmse_acc,
            rmse_rob,
            train_rmse_acc,
            train_rmse_rob,
            n_train: train.len(),
            n_test: test.len(),
            held_out,
        };
        Ok((predictor, report))
    }

    /// Predicted (accuracy, robustness) of each arch; refuses archs that are not of this
    /// predictor's space.
    pub fn predict(&self, archs: &[Arch]) -> Result<Vec<[f64; 2]>, ArchError> {
        // On the CPU, flex runs a search generation's products (≈100 rows) on one core: each
        // core takes a share of the batch instead.
        #[cfg(not(target_arch = "wasm32"))]
        if self.device() == Device::flex() {
            use rayon::prelude::*;
            let share = archs.len().div_ceil(rayon::current_num_threads()).max(MIN_CPU_SHARE);
            if share < archs.len() {
                let shares: Vec<Vec<[f64; 2]>> = archs
                    .par_chunks(share)
                    .map(|part| self.predict_batch(part))
                    .collect::<Result<_, _>>()?;
                return Ok(shares.concat());
            }
        }
        self.predict_batch(archs)
    }

    /// [`Predictor::predict`] in one batch.
    fn predict_batch(&self, archs: &[Arch]) -> Result<Vec<[f64; 2]>, ArchError> {
        let device = self.device();
        let x = encodings(&self.space, &archs.iter().collect::<Vec<_>>(), &device)?;
        let values: Vec<f64> = self.mlp.forward(x).try_into_vec_as::<f64>().expect("float tensor");
        Ok(values.chunks(2).map(|p| [p[0], p[1]]).collect())
    }

    /// [`Predictor::predict`] reading the result back asynchronously, as WebGPU requires (a
    /// synchronous read-back panics there).
    pub async fn predict_async(&self, archs: &[Arch]) -> Result<Vec<[f64; 2]>, PredictorError> {
        let device = self.device();
        let x = encodings(&self.space, &archs.iter().collect::<Vec<_>>(), &device)?;
        let data = self
            .mlp
            .forward(x)
            .into_data_async()
            .await
            .map_err(|e| PredictorError::Device(e.to_string()))?;
        let values: Vec<f64> =
            data.try_into_vec_as::<f64>().map_err(|e| PredictorError::Device(format!("{e:?}")))?;
        Ok(values.chunks(2).map(|p| [p[0], p[1]]).collect())
    }

    fn device(&self) -> Device {
        self.mlp.output.weight.device()
    }

    /// The predictor as safetensors bytes, with its space and settings in the metadata.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PredictorError> {
        let mut store = SafetensorsStore::from_bytes(None)
            .metadata("proard.kind", "predictor")
            .metadata("proard.space", serde_json::to_string(&self.space).expect("spaces serialise"))
            .metadata(
                "proard.predictor_config",
                serde_json::to_string(&self.config).expect("configs serialise"),
            );
        self.mlp.save_into(&mut store).map_err(|e| PredictorError::Weights(e.to_string()))?;
        store.get_bytes().map_err(|e| PredictorError::Weights(e.to_string()))
    }

    /// Reads a predictor written by [`Predictor::to_bytes`] onto `device`.
    pub fn from_bytes(bytes: Vec<u8>, device: &Device) -> Result<Predictor, PredictorError> {
        let metadata = crate::weights_header::metadata(&bytes).map_err(PredictorError::Weights)?;
        let get = |key: &str| {
            metadata
                .get(key)
                .cloned()
                .ok_or_else(|| PredictorError::Weights(format!("metadata `{key}` is missing")))
        };
        if get("proard.kind")? != "predictor" {
            return Err(PredictorError::Weights("not a predictor file".into()));
        }
        let space: Space = serde_json::from_str(&get("proard.space")?)
            .map_err(|e| PredictorError::Weights(format!("space: {e}")))?;
        space.validate().map_err(|e| PredictorError::Weights(format!("space: {e}")))?;
        let config: PredictorConfig = serde_json::from_str(&get("proard.predictor_config")?)
            .map_err(|e| PredictorError::Weights(format!("settings: {e}")))?;
        let mut mlp = Mlp::to_load(space.encoding_dim(), &config, device);
        let result = mlp
            .load_from(&mut SafetensorsStore::from_bytes(Some(bytes)))
            .map_err(|e| PredictorError::Weights(e.to_string()))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(PredictorError::Weights(format!(
                "tensors do not match: missing {:?}, errors {:?}",
                result.missing, result.errors
            )));
        }
        Ok(Predictor { space, config, mlp })
    }
}

impl crate::search::ArchScorer for Predictor {
    fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]> {
        self.predict(archs).expect("the search only proposes archs of the predictor's space")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::preset;

    /// A known smooth function of the encoding: a fixed weighted sum squashed into (0, 1).
    fn truth(space: &Space, arch: &Arch, salt: f64) -> f64 {
        let x = space.encode(arch).unwrap();
        let s: f64 = x
            .iter()
            .enumerate()
            .map(|(i, v)| f64::from(*v) * ((i as f64 * 0.37 + salt).sin()))
            .sum();
        0.25 + 0.5 / (1.0 + (-0.4 * s).exp())
    }

    fn records(space: &Space, n: usize, seed: u64) -> Vec<Labelled> {
        let mut rng = seeded_rng(seed);
        (0..n)
            .map(|_| {
                let arch = space.sample_arch(&mut rng);
                Labelled {
                    clean: truth(space, &arch, 0.0),
                    pgd20: truth(space, &arch, 1.3) * 0.6,
                    arch,
                }
            })
            .collect()
    }

    #[test]
    fn learns_a_smooth_function_of_the_encoding() {
        let space = preset("resnet-mini").unwrap();
        let data = records(&space, 1000, 1);
        let config =
            PredictorConfig::new().with_hidden_layers(3).with_hidden_width(128).with_epochs(60);
        let (predictor, report) = Predictor::fit(&space, &data, &config, &Device::flex()).unwrap();
        assert_eq!((report.n_train, report.n_test), (800, 200));
        // Targets span about 0.25–0.75 (std ≈ 0.08): held-out RMSE must be far below that.
        assert!(report.rmse_acc < 0.03 && report.rmse_rob < 0.03, "{report:?}");
        // The held-out points are the ones the RMSEs were measured on.
        assert_eq!(report.held_out.len(), report.n_test);
        let rmse = |f: fn(&HeldOut) -> f64| {
            let n = report.held_out.len() as f64;
            (report.held_out.iter().map(|h| f(h).powi(2)).sum::<f64>() / n).sqrt()
        };
        assert!((rmse(|h| h.predicted_clean - h.clean) - report.rmse_acc).abs() < 1e-5);
        assert!((rmse(|h| h.predicted_pgd20 - h.pgd20) - report.rmse_rob).abs() < 1e-5);

        // Fresh archs, never seen, predicted as well.
        let fresh = records(&space, 50, 99);
        let predicted =
            predictor.predict(&fresh.iter().map(|r| r.arch.clone()).collect::<Vec<_>>()).unwrap();
        let err: f64 =
            fresh.iter().zip(&predicted).map(|(r, p)| (r.clean - p[0]).powi(2)).sum::<f64>() / 50.0;
        assert!(err.sqrt() < 0.04, "fresh RMSE {}", err.sqrt());
    }

    #[test]
    fn saved_predictors_predict_the_same_and_refuse_other_spaces() {
        let space = preset("mbv3-mini").unwrap();
        let data = records(&space, 60, 2);
        let config =
            PredictorConfig::new().with_hidden_layers(2).with_hidden_width(32).with_epochs(2);
        let (predictor, _) = Predictor::fit(&space, &data, &config, &Device::flex()).unwrap();
        let archs: Vec<Arch> = data.iter().take(5).map(|r| r.arch.clone()).collect();
        let loaded = Predictor::from_bytes(predictor.to_bytes().unwrap(), &Device::flex()).unwrap();
        assert_eq!(loaded.space, space);
        assert_eq!(loaded.predict(&archs).unwrap(), predictor.predict(&archs).unwrap());
        let read_later = std::pin::pin!(loaded.predict_async(&archs));
        let std::task::Poll::Ready(later) =
            read_later.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        else {
            panic!("the CPU answers at once")
        };
        assert_eq!(later.unwrap(), predictor.predict(&archs).unwrap());

        let other = preset("mbv3-cifar").unwrap().largest_arch();
        let err = predictor.predict(&[other]).unwrap_err().to_string();
        assert!(err.starts_with("ks: expected 9 values"), "{err}");
        assert!(Predictor::from_bytes(b"junk".to_vec(), &Device::flex()).is_err());
    }

    #[test]
    fn a_batch_shared_among_the_cores_predicts_what_one_batch_does() {
        let space = preset("mbv3-cifar").unwrap();
        let config = PredictorConfig::new();
        let device = Device::flex();
        let mlp = Mlp::new(space.encoding_dim(), &config, &mut seeded_rng(0), &device);
        let predictor = Predictor { mlp, space, config };
        let mut rng = seeded_rng(4);
        let mut archs: Vec<Arch> =
            (0..150).map(|_| predictor.space.sample_arch(&mut rng)).collect();
        let shared = predictor.predict(&archs).unwrap();
        let whole = predictor.predict_batch(&archs).unwrap();
        assert_eq!(shared.len(), 150);
        for (s, w) in shared.iter().zip(&whole) {
            // Rows are independent; only the products' blocking may round differently.
            assert!((s[0] - w[0]).abs() < 1e-6 && (s[1] - w[1]).abs() < 1e-6, "{s:?} vs {w:?}");
        }
        // A foreign arch in any share is refused.
        archs[140] = preset("resnet-mini").unwrap().largest_arch();
        assert!(predictor.predict(&archs).is_err());
    }

    #[test]
    fn bad_records_are_named() {
        let space = preset("resnet-mini").unwrap();
        let mut data = records(&space, 10, 3);
        data[4].pgd20 = 37.0; // a percentage where a fraction is expected
        let err =
            Predictor::fit(&space, &data, &PredictorConfig::new(), &Device::flex()).unwrap_err();
        assert!(err.to_string().starts_with("record 4: accuracies must be fractions"), "{err}");
    }
}
