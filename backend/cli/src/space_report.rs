//! Human-readable description of a space, one line per stage (`proard space show`).

use std::fmt::Write;

use proard_shared::api::SpaceSummary;
use proard_shared::cost::{Cost, Part};
use proard_shared::display::{self, group_digits, mparams};
use proard_shared::space::{Activation, MbV3Space, ResNetSpace, strided_size};
use proard_shared::{Arch, Space};

/// MACs as millions with one decimal ("285.2 M"), or thousands below a million ("20.5 k").
pub fn mmacs(macs: u64) -> String {
    if macs >= 1_000_000 {
        format!("{} M", display::mmacs(macs))
    } else {
        format!("{:.1} k", macs as f64 / 1e3)
    }
}

fn list<T: ToString>(values: &[T]) -> String {
    values.iter().map(T::to_string).collect::<Vec<_>>().join("/")
}

fn activation(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "relu",
        Activation::HSwish => "h-swish",
    }
}

/// The full report: headline numbers, then stem, stages and head with their choices and the
/// MACs each part costs in the smallest and in the largest subnet.
pub fn report(space: &Space) -> String {
    let summary = SpaceSummary::of(space);
    let parts = |arch: Arch| space.subnet(&arch).expect("extreme archs are valid").cost_by_part();
    let (small, large) = (parts(space.smallest_arch()), parts(space.largest_arch()));
    let part_macs = |part: Part| {
        let find = |parts: &[(Part, Cost)]| {
            parts.iter().find(|(p, _)| *p == part).map_or(0, |(_, c)| c.macs)
        };
        format!("{} … {}", mmacs(find(&small)), mmacs(find(&large)))
    };
    let io = space.io();
    let mut out = String::new();
    let family = match space {
        Space::ResNet(_) => "ResNet, bottleneck blocks",
        Space::MobileNetV3(_) => "MobileNetV3, inverted-bottleneck blocks",
    };
    let _ = writeln!(out, "{} ({family})", summary.name);
    let _ = writeln!(
        out,
        "input {s}×{s}×{c}, {n} classes",
        s = io.image_size,
        c = io.in_channels,
        n = io.n_classes
    );
    let _ = writeln!(out, "subnets    {}", group_digits(&summary.subnets, ' '));
    let _ = writeln!(out, "MACs       {} … {}", mmacs(summary.macs_min), mmacs(summary.macs_max));
    let _ = writeln!(
        out,
        "params     {} M … {} M",
        mparams(summary.params_min),
        mparams(summary.params_max)
    );
    let _ = writeln!(out, "encoding   {} dims", summary.encoding_dim);
    let _ = writeln!(out, "\nMACs per part, smallest … largest subnet:");
    let rows = match space {
        Space::ResNet(s) => resnet_rows(s),
        Space::MobileNetV3(s) => mbv3_rows(s),
    };
    for (part, text) in rows {
        let label = match part {
            Part::Stem => "stem".to_owned(),
            Part::Stage(i) => format!("stage {}", i + 1),
            Part::Head => "head".to_owned(),
        };
        let _ = writeln!(out, "  {label:<8} {:<22} {text}", part_macs(part));
    }
    out
}

fn resnet_rows(s: &ResNetSpace) -> Vec<(Part, String)> {
    let size = s.io.image_size;
    let mut rows = vec![(
        Part::Stem,
        format!(
            "3×3 convs at {size}×{size}; widths mid {} out {}; residual conv kept when d[0] = {} of {{{}}}",
            list(&s.stem_mid_widths()),
            list(&s.stem_out_widths()),
            s.stem.residual_depths.last().copied().unwrap_or(0),
            s.stem.residual_depths.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        ),
    )];
    let mut size_in = size;
    for (i, st) in s.stages.iter().enumerate() {
        let size_out = strided_size(size_in, st.stride);
        rows.push((
            Part::Stage(i),
            format!(
                "stride {}, {size_in}→{size_out}; blocks {}+{{{}}} ({} physical); widths {}; expand {}",
                st.stride,
                st.base_depth,
                list(&st.depths),
                s.stage_blocks(i),
                list(&s.stage_widths(i)),
                list(&st.expand_ratios),
            ),
        ));
        size_in = size_out;
    }
    let last = s.stages.len() - 1;
    rows.push((
        Part::Head,
        format!(
            "global average pool → linear {} → {}",
            list(&s.stage_widths(last)),
            s.io.n_classes
        ),
    ));
    rows
}

fn mbv3_rows(s: &MbV3Space) -> Vec<(Part, String)> {
    let mut size = strided_size(s.io.image_size, s.stem.stride);
    let mut rows = vec![(
        Part::Stem,
        format!(
            "3×3 conv stride {} → {} ({}), fixed MBConv k{} → {} ({}); {size}×{size}",
            s.stem.stride,
            s.stem.width,
            activation(s.stem.activation),
            s.first_block.kernel_size,
            s.first_block.width,
            activation(s.first_block.activation),
        ),
    )];
    for (i, st) in s.stages.iter().enumerate() {
        let size_out = strided_size(size, st.stride);
        rows.push((
            Part::Stage(i),
            format!(
                "stride {}, {size}→{size_out}; width {}, {}{}; depth {{{}}}; kernel {}; expand {}",
                st.stride,
                st.width,
                activation(st.activation),
                if st.se { ", SE" } else { "" },
                list(&st.depths),
                list(&st.kernel_sizes),
                list(&st.expand_ratios),
            ),
        ));
        size = size_out;
    }
    rows.push((
        Part::Head,
        format!(
            "1×1 → {} → pool → 1×1 → {} → linear → {}",
            s.head.final_expand_width, s.head.feature_width, s.io.n_classes
        ),
    ));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_every_stage() {
        let space = proard_shared::preset::preset("mbv3-cifar").unwrap();
        let text = report(&space);
        for label in
            ["stem", "stage 1", "stage 5", "head", "21 758 655 492 572 485 851", "121 dims"]
        {
            assert!(text.contains(label), "missing {label} in\n{text}");
        }
    }
}
