//! Arch configs: one subnet of a space, in the reference's dictionary format.
//!
//! * ResNet: `{"d": [1 + stages], "e": [physical blocks], "w": [2 + stages]}` — `d[0]` toggles
//!   the stem's residual conv, `d[1..]` are extra blocks per stage, `e` one bottleneck ratio per
//!   physical block, `w` width *indices* (stem mid, stem out, then one per stage).
//!   resnet50-cifar: d\[5], e\[18], w\[6].
//! * MobileNetV3: `{"ks": [blocks], "e": [blocks], "d": [stages]}` — kernel size and expand
//!   ratio per physical block, absolute depth per stage. mbv3-cifar: ks\[20], e\[20], d\[5].
//!
//! Entries of blocks a stage does not keep are ignored by the network (and by the encoding) but
//! must still be valid choices, as in the reference.

use serde::{Deserialize, Serialize};

use crate::space::{Family, MbV3Space, ResNetSpace, Space};

/// One subnet of a space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arch {
    ResNet(ResNetArch),
    MobileNetV3(MbV3Arch),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetArch {
    pub d: Vec<u32>,
    pub e: Vec<f64>,
    pub w: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbV3Arch {
    pub ks: Vec<u32>,
    pub e: Vec<f64>,
    pub d: Vec<u32>,
}

/// Why an arch does not belong to a space.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArchError {
    #[error("not a valid arch: {0}")]
    Parse(String),
    #[error("this is a {arch} arch but the space is a {space} space")]
    WrongFamily { arch: Family, space: Family },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ArchError {
    ArchError::Invalid { field: field.into(), problem: problem.into() }
}

/// Position of `value` in a float choice list (ratios are written as decimals, so compare
/// with a tolerance far below any meaningful difference).
pub(crate) fn float_choice_index(list: &[f64], value: f64) -> Option<usize> {
    list.iter().position(|c| (c - value).abs() < 1e-9)
}

fn check_len<T>(field: &str, values: &[T], expected: usize, what: &str) -> Result<(), ArchError> {
    if values.len() != expected {
        return Err(invalid(
            field,
            format!("expected {expected} values ({what}), got {}", values.len()),
        ));
    }
    Ok(())
}

fn not_a_choice(
    field: String,
    value: impl std::fmt::Display,
    choices: impl std::fmt::Debug,
) -> ArchError {
    invalid(field, format!("{value} is not one of the choices {choices:?}"))
}

impl Arch {
    /// Parses an arch from JSON in the format of its space's family.
    pub fn from_json(space: &Space, text: &str) -> Result<Arch, ArchError> {
        let arch = match space.family() {
            Family::ResNet => serde_json::from_str(text).map(Arch::ResNet),
            Family::MobileNetV3 => serde_json::from_str(text).map(Arch::MobileNetV3),
        }
        .map_err(|e| {
            ArchError::Parse(format!(
                "{e} (a {} arch looks like {})",
                space.family(),
                example(space.family())
            ))
        })?;
        arch.validate(space)?;
        Ok(arch)
    }

    pub fn family(&self) -> Family {
        match self {
            Arch::ResNet(_) => Family::ResNet,
            Arch::MobileNetV3(_) => Family::MobileNetV3,
        }
    }

    /// Checks that every entry is one of the space's choices; the error names the entry.
    pub fn validate(&self, space: &Space) -> Result<(), ArchError> {
        match (space, self) {
            (Space::ResNet(s), Arch::ResNet(a)) => a.validate(s),
            (Space::MobileNetV3(s), Arch::MobileNetV3(a)) => a.validate(s),
            _ => Err(ArchError::WrongFamily { arch: self.family(), space: space.family() }),
        }
    }

    /// The arch as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an arch always serialises")
    }
}

fn example(family: Family) -> &'static str {
    match family {
        Family::ResNet => r#"{"d": [..], "e": [..], "w": [..]}"#,
        Family::MobileNetV3 => r#"{"ks": [..], "e": [..], "d": [..]}"#,
    }
}

impl ResNetArch {
    fn validate(&self, s: &ResNetSpace) -> Result<(), ArchError> {
        let n_stages = s.stages.len();
        check_len("d", &self.d, 1 + n_stages, "stem residual, then extra blocks per stage")?;
        check_len("e", &self.e, s.total_blocks(), "one ratio per physical block")?;
        check_len("w", &self.w, 2 + n_stages, "width indices: stem mid, stem out, then per stage")?;
        if !s.stem.residual_depths.contains(&self.d[0]) {
            return Err(not_a_choice("d[0]".into(), self.d[0], &s.stem.residual_depths));
        }
        for (i, stage) in s.stages.iter().enumerate() {
            if !stage.depths.contains(&self.d[1 + i]) {
                return Err(not_a_choice(
                    format!("d[{}] (stage {i})", 1 + i),
                    self.d[1 + i],
                    &stage.depths,
                ));
            }
            let offset = s.stage_offset(i);
            for b in 0..s.stage_blocks(i) {
                let e = self.e[offset + b];
                if float_choice_index(&stage.expand_ratios, e).is_none() {
                    return Err(not_a_choice(
                        format!("e[{}] (stage {i})", offset + b),
                        e,
                        &stage.expand_ratios,
                    ));
                }
            }
        }
        for (j, w) in self.w.iter().enumerate() {
            let n =
                if j < 2 { s.stem.width_mults.len() } else { s.stages[j - 2].width_mults.len() };
            if *w >= n {
                return Err(invalid(
                    format!("w[{j}]"),
                    format!(
                        "width index {w} is out of range: this width has {n} choices (0..{})",
                        n - 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl MbV3Arch {
    fn validate(&self, s: &MbV3Space) -> Result<(), ArchError> {
        let blocks = s.total_blocks();
        check_len("ks", &self.ks, blocks, "one kernel size per physical block")?;
        check_len("e", &self.e, blocks, "one expand ratio per physical block")?;
        check_len("d", &self.d, s.stages.len(), "one depth per stage")?;
        for (i, stage) in s.stages.iter().enumerate() {
            if !stage.depths.contains(&self.d[i]) {
                return Err(not_a_choice(format!("d[{i}]"), self.d[i], &stage.depths));
            }
            let offset = s.stage_offset(i);
            for b in offset..offset + s.stage_blocks(i) {
                if !stage.kernel_sizes.contains(&self.ks[b]) {
                    return Err(not_a_choice(
                        format!("ks[{b}] (stage {i})"),
                        self.ks[b],
                        &stage.kernel_sizes,
                    ));
                }
                if float_choice_index(&stage.expand_ratios, self.e[b]).is_none() {
                    return Err(not_a_choice(
                        format!("e[{b}] (stage {i})"),
                        self.e[b],
                        &stage.expand_ratios,
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::preset;

    #[test]
    fn largest_and_smallest_are_valid() {
        for name in crate::preset::PRESET_NAMES {
            let space = preset(name).unwrap();
            space.largest_arch().validate(&space).unwrap();
            space.smallest_arch().validate(&space).unwrap();
        }
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let space = preset("resnet50-cifar").unwrap();
        let Arch::ResNet(mut a) = space.largest_arch() else { unreachable!() };
        a.e[5] = 0.3;
        let err = Arch::ResNet(a.clone()).validate(&space).unwrap_err().to_string();
        assert!(err.starts_with("e[5] (stage 1): 0.3 is not one of"), "{err}");
        a.e[5] = 0.25;
        a.w[3] = 3;
        let err = Arch::ResNet(a.clone()).validate(&space).unwrap_err().to_string();
        assert!(err.starts_with("w[3]: width index 3 is out of range"), "{err}");
        a.w[3] = 0;
        a.d[0] = 1;
        let err = Arch::ResNet(a.clone()).validate(&space).unwrap_err().to_string();
        assert!(err.starts_with("d[0]: 1 is not one of the choices [0, 2]"), "{err}");
        a.d.pop();
        let err = Arch::ResNet(a).validate(&space).unwrap_err().to_string();
        assert!(err.starts_with("d: expected 5 values"), "{err}");

        let mbv3 = preset("mbv3-cifar").unwrap();
        assert!(matches!(space.largest_arch().validate(&mbv3), Err(ArchError::WrongFamily { .. })));
        let err = Arch::from_json(&mbv3, r#"{"ks":[7],"e":[6],"d":[4],"w":[1]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `w`"), "{err}");
    }

    #[test]
    fn json_round_trip_in_the_reference_format() {
        let space = preset("mbv3-cifar").unwrap();
        let arch = space.smallest_arch();
        let json = arch.to_json();
        assert!(json.starts_with(r#"{"ks":[3,3,"#), "{json}");
        assert_eq!(Arch::from_json(&space, &json).unwrap(), arch);
        // Integers are accepted for ratios, as the reference writes them for MBV3.
        let ints = json.replace(".0", "");
        assert_eq!(Arch::from_json(&space, &ints).unwrap(), arch);
    }
}
