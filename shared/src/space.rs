//! Search spaces: the layout of a dynamic supernet and the choices each of its subnets makes.
//!
//! Two families, as in the ProARD reference: ResNet with bottleneck blocks and MobileNetV3 with
//! inverted-bottleneck (MBConv) blocks, both laid out for CIFAR-sized inputs (no stride-2 stem,
//! no max-pool). A space is plain data (TOML or JSON through serde); [`Space::validate`] checks
//! everything a subnet needs to be buildable and names the offending field when it is not.
//! Channel counts derived from the space are computed here, once, for every other module.

use serde::{Deserialize, Serialize};

use crate::channels::{make_divisible, round_half_even};

/// A search space: which supernet, and which subnets can be cut from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Space {
    /// Dynamic ResNet with bottleneck blocks (reference `DYNResNets_Cifar`).
    #[serde(rename = "resnet")]
    ResNet(ResNetSpace),
    /// Dynamic MobileNetV3 (reference `DYNMobileNetV3_Cifar`).
    #[serde(rename = "mbv3")]
    MobileNetV3(MbV3Space),
}

/// Input and output shape every family shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Io {
    /// Square input resolution in pixels.
    pub image_size: u32,
    /// Colour channels of the input (3 for RGB).
    pub in_channels: u32,
    /// Number of classes the classifier predicts.
    pub n_classes: u32,
}

/// ResNet family: a stem of up to three 3×3 convs, then stages of bottleneck blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetSpace {
    pub name: String,
    pub io: Io,
    pub stem: ResNetStem,
    pub stages: Vec<ResNetStage>,
}

/// conv 3×3 (in → mid) → [residual conv 3×3 (mid → mid), skippable] → conv 3×3 (mid → out),
/// all stride 1. `out = make_divisible(base_width · w)`, `mid = make_divisible(out // 2)`;
/// the arch picks the mid width with `w[0]` and the out width with `w[1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetStem {
    pub base_width: u32,
    pub width_mults: Vec<f64>,
    /// Allowed values of `d[0]`. The residual conv runs only when `d[0]` equals the largest
    /// value (the reference rule), so `[0, 2]` means {skipped, kept} and `[2]` means always kept.
    pub residual_depths: Vec<u32>,
}

/// A stage of bottleneck blocks sharing one width: 1×1 (in → mid) → 3×3 stride s (mid → mid)
/// → 1×1 (mid → out), plus a shortcut. The first block of a stage has a projection shortcut
/// (1×1 conv, stride s, and BN); the others an identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetStage {
    /// Output width before the width multiplier (256, 512, 1024, 2048 in ResNet-50).
    pub base_width: u32,
    pub stride: u32,
    /// Blocks that always run.
    pub base_depth: u32,
    /// Extra blocks on top of `base_depth` an arch may keep (`d[1..]`).
    pub depths: Vec<u32>,
    /// Width multipliers (`w[2..]` are indices into this list).
    pub width_mults: Vec<f64>,
    /// Bottleneck ratios: `mid = make_divisible(round(out · e))` (`e` per block).
    pub expand_ratios: Vec<f64>,
}

/// MobileNetV3 family: stem conv, one fixed MBConv block, stages of dynamic MBConv blocks, head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3Space {
    pub name: String,
    pub io: Io,
    pub stem: MbV3Stem,
    pub first_block: MbV3FirstBlock,
    pub stages: Vec<MbV3Stage>,
    pub head: MbV3Head,
}

/// 3×3 conv (in → width) + BN + activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3Stem {
    pub width: u32,
    pub stride: u32,
    pub activation: Activation,
}

/// Fixed MBConv with expand ratio 1: depthwise k×k + BN + act → 1×1 project + BN, stride 1,
/// identity shortcut when its width equals the stem's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3FirstBlock {
    pub width: u32,
    pub kernel_size: u32,
    pub activation: Activation,
}

/// A stage of dynamic MBConv blocks: 1×1 expand (in → mid), BN, act → depthwise k×k stride s,
/// BN, act → \[SE] → 1×1 project (mid → out), BN; `mid = make_divisible(round(in · e))`.
/// Only the first block strides; the others have an identity shortcut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3Stage {
    pub width: u32,
    pub stride: u32,
    pub activation: Activation,
    /// Squeeze-and-excitation after the depthwise conv (hidden width `make_divisible(mid // 4)`).
    pub se: bool,
    /// Number of blocks an arch may keep (`d`), absolute.
    pub depths: Vec<u32>,
    /// Depthwise kernel sizes (`ks` per block), odd.
    pub kernel_sizes: Vec<u32>,
    /// Expansion ratios (`e` per block), at least 1.
    pub expand_ratios: Vec<f64>,
}

/// final 1×1 expand (last → final_expand_width) + BN + h-swish → global average pool →
/// 1×1 feature mix (→ feature_width, no bias, no BN) + h-swish → linear classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3Head {
    pub final_expand_width: u32,
    pub feature_width: u32,
}

/// Non-linearities used by the MobileNetV3 family (ResNet uses ReLU throughout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// x · relu6(x + 3) / 6.
    HSwish,
}

/// Which family a space (or an arch) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    #[serde(rename = "resnet")]
    ResNet,
    #[serde(rename = "mbv3")]
    MobileNetV3,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::ResNet => "resnet",
            Family::MobileNetV3 => "mbv3",
        })
    }
}

/// Why a space could not be read or is not a valid space.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpaceError {
    #[error("not a valid space description: {0}")]
    Parse(String),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> SpaceError {
    SpaceError::Invalid { field: field.into(), problem: problem.into() }
}

impl Space {
    /// Parses a TOML space description and validates it.
    pub fn from_toml(text: &str) -> Result<Space, SpaceError> {
        let space: Space = toml::from_str(text).map_err(|e| SpaceError::Parse(e.to_string()))?;
        space.validate()?;
        Ok(space)
    }

    /// Parses a JSON space description and validates it.
    pub fn from_json(text: &str) -> Result<Space, SpaceError> {
        let space: Space =
            serde_json::from_str(text).map_err(|e| SpaceError::Parse(e.to_string()))?;
        space.validate()?;
        Ok(space)
    }

    /// The space as TOML, in the form [`Space::from_toml`] reads.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a space always serialises to TOML")
    }

    pub fn name(&self) -> &str {
        match self {
            Space::ResNet(s) => &s.name,
            Space::MobileNetV3(s) => &s.name,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Space::ResNet(_) => Family::ResNet,
            Space::MobileNetV3(_) => Family::MobileNetV3,
        }
    }

    pub fn io(&self) -> &Io {
        match self {
            Space::ResNet(s) => &s.io,
            Space::MobileNetV3(s) => &s.io,
        }
    }

    /// Checks every constraint a buildable supernet needs; the error names the field.
    pub fn validate(&self) -> Result<(), SpaceError> {
        match self {
            Space::ResNet(s) => s.validate(),
            Space::MobileNetV3(s) => s.validate(),
        }
    }
}

impl Io {
    fn validate(&self) -> Result<(), SpaceError> {
        if self.image_size < 2 {
            return Err(invalid("io.image_size", "must be at least 2 pixels"));
        }
        if self.in_channels == 0 {
            return Err(invalid("io.in_channels", "must be at least 1"));
        }
        if self.n_classes < 2 {
            return Err(invalid("io.n_classes", "a classifier needs at least 2 classes"));
        }
        Ok(())
    }
}

/// Output side of a "same"-padded conv: `floor((h + 2·(k/2) − k) / s) + 1` = `ceil(h / s)`
/// for odd kernels.
pub fn strided_size(size: u32, stride: u32) -> u32 {
    size.div_ceil(stride)
}

fn check_name(name: &str) -> Result<(), SpaceError> {
    if name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    Ok(())
}

fn check_stride(field: &str, stride: u32) -> Result<(), SpaceError> {
    if stride != 1 && stride != 2 {
        return Err(invalid(field, format!("stride {stride} is not supported (use 1 or 2)")));
    }
    Ok(())
}

fn check_width(field: &str, width: u32) -> Result<(), SpaceError> {
    if width == 0 || !width.is_multiple_of(crate::channels::CHANNEL_DIVISOR) {
        return Err(invalid(
            field,
            format!(
                "width {width} must be a positive multiple of {}",
                crate::channels::CHANNEL_DIVISOR
            ),
        ));
    }
    Ok(())
}

/// A choice list must be non-empty and strictly increasing (so every choice has one slot).
fn check_choices<T: PartialOrd + std::fmt::Debug>(
    field: &str,
    list: &[T],
) -> Result<(), SpaceError> {
    if list.is_empty() {
        return Err(invalid(field, "choice list must not be empty"));
    }
    if list.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(field, format!("choices must be strictly increasing, got {list:?}")));
    }
    Ok(())
}

fn check_positive_f64(field: &str, list: &[f64], min: f64, what: &str) -> Result<(), SpaceError> {
    if let Some(bad) = list.iter().find(|v| !v.is_finite() || **v < min) {
        return Err(invalid(field, format!("{what} {bad} must be a finite number ≥ {min}")));
    }
    Ok(())
}

/// A kernel larger than this never touches a pixel with its outer taps (only padding).
fn check_kernel_fits(field: &str, kernel: u32, input_size: u32) -> Result<(), SpaceError> {
    if kernel / 2 >= input_size {
        return Err(invalid(
            field,
            format!(
                "kernel {kernel}×{kernel} on a {input_size}×{input_size} feature map: its outer taps \
                 would only ever see padding (need kernel ≤ {})",
                2 * input_size - 1
            ),
        ));
    }
    Ok(())
}

impl ResNetSpace {
    fn validate(&self) -> Result<(), SpaceError> {
        check_name(&self.name)?;
        self.io.validate()?;
        let stem = &self.stem;
        if stem.base_width == 0 {
            return Err(invalid("stem.base_width", "must be positive"));
        }
        check_choices("stem.width_mults", &stem.width_mults)?;
        check_positive_f64(
            "stem.width_mults",
            &stem.width_mults,
            f64::MIN_POSITIVE,
            "width multiplier",
        )?;
        check_choices("stem.residual_depths", &stem.residual_depths)?;
        if stem.residual_depths.len() > 2 {
            return Err(invalid(
                "stem.residual_depths",
                "at most two values: the stem's residual conv is either skipped or kept",
            ));
        }
        if self.stages.is_empty() {
            return Err(invalid("stages", "a space needs at least one stage"));
        }
        let mut size = self.io.image_size;
        check_kernel_fits("stem", 3, size)?;
        for (i, stage) in self.stages.iter().enumerate() {
            let field = |f: &str| format!("stages[{i}].{f}");
            if stage.base_width == 0 {
                return Err(invalid(field("base_width"), "must be positive"));
            }
            check_stride(&field("stride"), stage.stride)?;
            check_choices(&field("depths"), &stage.depths)?;
            if stage.base_depth == 0 && stage.depths[0] == 0 {
                return Err(invalid(
                    field("depths"),
                    "with base_depth 0 the smallest depth choice must keep at least one block",
                ));
            }
            check_choices(&field("width_mults"), &stage.width_mults)?;
            check_positive_f64(
                &field("width_mults"),
                &stage.width_mults,
                f64::MIN_POSITIVE,
                "width multiplier",
            )?;
            check_choices(&field("expand_ratios"), &stage.expand_ratios)?;
            check_positive_f64(
                &field("expand_ratios"),
                &stage.expand_ratios,
                f64::MIN_POSITIVE,
                "expand ratio",
            )?;
            check_kernel_fits(&format!("stages[{i}]"), 3, size)?;
            size = strided_size(size, stage.stride);
        }
        Ok(())
    }

    /// Stem output widths, one per width multiplier.
    pub fn stem_out_widths(&self) -> Vec<u32> {
        self.stem
            .width_mults
            .iter()
            .map(|w| make_divisible(f64::from(self.stem.base_width) * w))
            .collect()
    }

    /// Stem middle widths (`make_divisible(out // 2)`), one per width multiplier.
    pub fn stem_mid_widths(&self) -> Vec<u32> {
        self.stem_out_widths().iter().map(|out| make_divisible(f64::from(out / 2))).collect()
    }

    /// Output widths of stage `s`, one per width multiplier.
    pub fn stage_widths(&self, s: usize) -> Vec<u32> {
        let stage = &self.stages[s];
        stage.width_mults.iter().map(|w| make_divisible(f64::from(stage.base_width) * w)).collect()
    }

    /// Bottleneck width of a block with output width `out` and ratio `e`.
    pub fn mid_width(out: u32, e: f64) -> u32 {
        make_divisible(round_half_even(f64::from(out) * e))
    }

    /// Physical blocks of stage `s` (`base_depth + max(depths)`).
    pub fn stage_blocks(&self, s: usize) -> usize {
        let stage = &self.stages[s];
        (stage.base_depth + stage.depths.last().copied().unwrap_or(0)) as usize
    }

    /// Physical blocks of the whole supernet.
    pub fn total_blocks(&self) -> usize {
        (0..self.stages.len()).map(|s| self.stage_blocks(s)).sum()
    }

    /// Index of the first physical block of stage `s`.
    pub fn stage_offset(&self, s: usize) -> usize {
        (0..s).map(|t| self.stage_blocks(t)).sum()
    }

    /// Whether `d0` keeps the stem's residual conv (it must equal the largest allowed value).
    pub fn stem_residual_kept(&self, d0: u32) -> bool {
        self.stem.residual_depths.last() == Some(&d0)
    }
}

impl MbV3Space {
    fn validate(&self) -> Result<(), SpaceError> {
        check_name(&self.name)?;
        self.io.validate()?;
        check_width("stem.width", self.stem.width)?;
        check_stride("stem.stride", self.stem.stride)?;
        let mut size = self.io.image_size;
        check_kernel_fits("stem", 3, size)?;
        size = strided_size(size, self.stem.stride);
        check_width("first_block.width", self.first_block.width)?;
        if self.first_block.kernel_size.is_multiple_of(2) {
            return Err(invalid("first_block.kernel_size", "kernel sizes must be odd"));
        }
        check_kernel_fits("first_block.kernel_size", self.first_block.kernel_size, size)?;
        if self.stages.is_empty() {
            return Err(invalid("stages", "a space needs at least one stage"));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let field = |f: &str| format!("stages[{i}].{f}");
            check_width(&field("width"), stage.width)?;
            check_stride(&field("stride"), stage.stride)?;
            check_choices(&field("depths"), &stage.depths)?;
            if stage.depths[0] == 0 {
                return Err(invalid(field("depths"), "every stage keeps at least one block"));
            }
            check_choices(&field("kernel_sizes"), &stage.kernel_sizes)?;
            if let Some(k) = stage.kernel_sizes.iter().find(|k| k.is_multiple_of(2)) {
                return Err(invalid(field("kernel_sizes"), format!("kernel size {k} must be odd")));
            }
            check_choices(&field("expand_ratios"), &stage.expand_ratios)?;
            check_positive_f64(&field("expand_ratios"), &stage.expand_ratios, 1.0, "expand ratio")?;
            // The largest kernel runs on the stage's input (first block) and, after the
            // stride, on the stage's output (later blocks): both must fit.
            let largest = *stage.kernel_sizes.last().expect("checked non-empty");
            check_kernel_fits(&field("kernel_sizes"), largest, size)?;
            size = strided_size(size, stage.stride);
            if stage.depths.last() > Some(&1) {
                check_kernel_fits(&field("kernel_sizes"), largest, size)?;
            }
        }
        check_width("head.final_expand_width", self.head.final_expand_width)?;
        check_width("head.feature_width", self.head.feature_width)?;
        Ok(())
    }

    /// Physical blocks of stage `s` (its largest depth choice).
    pub fn stage_blocks(&self, s: usize) -> usize {
        self.stages[s].depths.last().copied().unwrap_or(0) as usize
    }

    /// Physical dynamic blocks of the whole supernet.
    pub fn total_blocks(&self) -> usize {
        (0..self.stages.len()).map(|s| self.stage_blocks(s)).sum()
    }

    /// Index of the first physical block of stage `s`.
    pub fn stage_offset(&self, s: usize) -> usize {
        (0..s).map(|t| self.stage_blocks(t)).sum()
    }

    /// Input width of stage `s` (the previous stage's width, or the first block's).
    pub fn stage_in_width(&self, s: usize) -> u32 {
        if s == 0 { self.first_block.width } else { self.stages[s - 1].width }
    }

    /// Expanded width of an MBConv with input width `input` and ratio `e`.
    pub fn mid_width(input: u32, e: f64) -> u32 {
        make_divisible(round_half_even(f64::from(input) * e))
    }

    /// Hidden width of the SE module on `channels` channels.
    pub fn se_width(channels: u32) -> u32 {
        make_divisible(f64::from(channels / 4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{PRESET_NAMES, preset};

    #[test]
    fn presets_round_trip_through_toml_and_json() {
        for name in PRESET_NAMES {
            let space = preset(name).unwrap();
            assert_eq!(Space::from_toml(&space.to_toml()).unwrap(), space, "{name} via TOML");
            let json = serde_json::to_string(&space).unwrap();
            assert_eq!(Space::from_json(&json).unwrap(), space, "{name} via JSON");
        }
    }

    /// The TOML of `preset` with one line replaced.
    fn edited(preset_name: &str, from: &str, to: &str) -> Result<Space, SpaceError> {
        let text = preset(preset_name).unwrap().to_toml();
        assert!(text.contains(from), "{from:?} not in\n{text}");
        Space::from_toml(&text.replacen(from, to, 1))
    }

    fn problem(result: Result<Space, SpaceError>) -> String {
        result.expect_err("the edit must be rejected").to_string()
    }

    #[test]
    fn bad_spaces_are_rejected_naming_the_field() {
        let cases = [
            (
                "resnet-mini",
                "expand_ratios = [0.2, 0.25, 0.35]",
                "expand_ratios = []",
                "stages[0].expand_ratios: choice list must not be empty",
            ),
            (
                "resnet-mini",
                "depths = [0, 1, 2]",
                "depths = [0, 2, 1]",
                "stages[0].depths: choices must be strictly increasing",
            ),
            (
                "resnet-mini",
                "stride = 2",
                "stride = 3",
                "stages[0].stride: stride 3 is not supported",
            ),
            (
                "resnet-mini",
                "residual_depths = [0, 2]",
                "residual_depths = [0, 1, 2]",
                "stem.residual_depths: at most two values",
            ),
            (
                "resnet-mini",
                "width_mults = [0.65, 0.8, 1.0]",
                "width_mults = [-1.0, 0.8, 1.0]",
                "stem.width_mults: width multiplier -1 must be",
            ),
            (
                "mbv3-mini",
                "kernel_sizes = [3, 5, 7]",
                "kernel_sizes = [3, 4, 7]",
                "stages[0].kernel_sizes: kernel size 4 must be odd",
            ),
            (
                "mbv3-mini",
                "width = 24",
                "width = 20",
                "stages[0].width: width 20 must be a positive multiple of 8",
            ),
            (
                "mbv3-mini",
                "expand_ratios = [3.0, 4.0, 6.0]",
                "expand_ratios = [0.5, 4.0, 6.0]",
                "stages[0].expand_ratios: expand ratio 0.5 must be",
            ),
            (
                "mbv3-mini",
                "depths = [1, 2, 3]",
                "depths = [0, 2, 3]",
                "stages[0].depths: every stage keeps at least one block",
            ),
            (
                "mbv3-mini",
                "n_classes = 10",
                "n_classes = 1",
                "io.n_classes: a classifier needs at least 2 classes",
            ),
            (
                "mbv3-mini",
                "image_size = 32",
                "image_size = 8",
                "stages[1].kernel_sizes: kernel 7×7 on a 2×2 feature map",
            ),
        ];
        for (name, from, to, expected) in cases {
            let message = problem(edited(name, from, to));
            assert!(message.starts_with(expected), "{from} → {to}: got {message:?}");
        }
    }

    #[test]
    fn malformed_descriptions_say_what_is_wrong() {
        let message = problem(edited("resnet-mini", "base_depth = 1", "base_depht = 1"));
        assert!(message.contains("unknown field `base_depht`"), "{message}");
        let message = problem(edited("resnet-mini", "family = \"resnet\"", "family = \"vit\""));
        assert!(message.contains("unknown variant `vit`"), "{message}");
        let message = problem(Space::from_toml("name = [unclosed"));
        assert!(message.starts_with("not a valid space description"), "{message}");
    }

    #[test]
    fn cifar_stride_schedule_fits_the_largest_kernels() {
        // mbv3-cifar runs 7×7 depthwise convs on the 4×4 maps of its last stage: allowed,
        // every tap can reach a pixel. Two more stride-2 stages would not be.
        let Space::MobileNetV3(mut s) = preset("mbv3-cifar").unwrap() else { unreachable!() };
        assert!(s.validate().is_ok());
        s.stages[3].stride = 2;
        let err = Space::MobileNetV3(s).validate().unwrap_err().to_string();
        assert!(err.starts_with("stages[4].kernel_sizes: kernel 7×7 on a 2×2"), "{err}");
    }
}
