//! Channel re-organisation for the expand phases (docs/method.md, "Middle-channel reorganisation").
//!
//! Before a phase unlocks smaller expand ratios, each block's middle channels are sorted by
//! importance (L1 norm of the weights that read them), so that the first-k channels a small
//! ratio keeps are the most important ones. With `stage > 0` the channels the previous
//! phase's smallest ratio used stay in front (only re-sorted among themselves): tiers of
//! channels, between the widths of successive ratios, keep their order.
//! Permuting a block's middle channels consistently leaves the largest subnet's function intact.

use burn::module::Param;
use burn::prelude::*;
use proard_shared::space::{MbV3Space, ResNetSpace};

use super::layers::DynConv2d;
use super::mbv3::DynMbV3;
use super::resnet::DynResNet;
use super::{Network, Supernet};

/// Channel order by descending importance, tiers first: with the mid widths of the ratios
/// (descending) `w_0 > w_1 > …`, channels in `[w_{i+1}, w_i)` rank after those in `[0, w_{i+1})`
/// for every `i < stage`.
pub fn importance_order(
    importance: &[f32],
    tier_widths_desc: &[usize],
    stage: usize,
) -> Vec<usize> {
    let tier = |channel: usize| {
        // Number of tier boundaries (among the first `stage + 1` widths) at or below `channel`.
        tier_widths_desc.iter().take(stage + 1).filter(|w| channel >= **w).count()
    };
    let mut order: Vec<usize> = (0..importance.len()).collect();
    let rank = |c: usize| if stage > 0 { tier(c) } else { 0 };
    order.sort_by(|&a, &b| {
        rank(a).cmp(&rank(b)).then(importance[b].total_cmp(&importance[a])).then(a.cmp(&b))
    });
    order
}

/// L1 norm of a conv weight [out, in, k, k] per input channel.
fn input_importance(weight: &Param<Tensor<4>>) -> Vec<f32> {
    let [_, c_in, _, _] = weight.dims();
    weight
        .val()
        .abs()
        .sum_dim(0)
        .sum_dim(2)
        .sum_dim(3)
        .reshape([c_in])
        .try_into_vec_as::<f32>()
        .expect("f32 weights")
}

fn index(order: &[usize], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(
        TensorData::new(order.iter().map(|i| *i as i32).collect(), [order.len()]),
        device,
    )
}

fn permute_conv(conv: DynConv2d, dim: usize, order: &Tensor<1, Int>) -> DynConv2d {
    DynConv2d { weight: conv.weight.map(|w| w.select(dim, order.clone())), ..conv }
}

impl Supernet {
    /// Sorts every block's middle channels by importance, protecting the channels of the
    /// `stage` previous smallest ratios (0 = plain sort).
    pub fn reorganize_middle_channels(self, stage: usize) -> Supernet {
        let Supernet { space, config, network } = self;
        let network = match (network, &space) {
            (Network::ResNet(n), proard_shared::Space::ResNet(s)) => {
                Network::ResNet(reorganize_resnet(n, s, stage))
            }
            (Network::MobileNetV3(n), proard_shared::Space::MobileNetV3(s)) => {
                Network::MobileNetV3(reorganize_mbv3(n, s, stage))
            }
            _ => unreachable!("a supernet is built from its own space"),
        };
        Supernet { space, config, network }
    }
}

fn reorganize_resnet(net: DynResNet, space: &ResNetSpace, stage: usize) -> DynResNet {
    // Tier widths of each physical block: its stage's mid widths at the largest width.
    let tiers: Vec<Vec<usize>> = (0..space.stages.len())
        .flat_map(|s| {
            let max_out = *space.stage_widths(s).iter().max().expect("widths are non-empty");
            let widths: Vec<usize> = space.stages[s]
                .expand_ratios
                .iter()
                .rev()
                .map(|e| ResNetSpace::mid_width(max_out, *e) as usize)
                .collect();
            std::iter::repeat_n(widths, space.stage_blocks(s))
        })
        .collect();
    let DynResNet { stem1, stem2, stem3, blocks, classifier, dropout } = net;
    let blocks = blocks
        .into_iter()
        .zip(&tiers)
        .map(|(mut b, tiers)| {
            let device = b.conv3.weight.device();
            // conv3 reads conv2's output channels: sort them by conv3's weights on them.
            let order =
                index(&importance_order(&input_importance(&b.conv3.weight), tiers, stage), &device);
            b.conv3 = permute_conv(b.conv3, 1, &order);
            b.bn2 = b.bn2.permuted(&order);
            b.conv2 = permute_conv(b.conv2, 0, &order);
            // conv2 reads conv1's output channels.
            let order =
                index(&importance_order(&input_importance(&b.conv2.weight), tiers, stage), &device);
            b.conv2 = permute_conv(b.conv2, 1, &order);
            b.bn1 = b.bn1.permuted(&order);
            b.conv1 = permute_conv(b.conv1, 0, &order);
            b
        })
        .collect();
    DynResNet { stem1, stem2, stem3, blocks, classifier, dropout }
}

fn reorganize_mbv3(net: DynMbV3, space: &MbV3Space, stage: usize) -> DynMbV3 {
    // Tier widths of each physical block: its mid widths at its input width.
    let tiers: Vec<Vec<usize>> = (0..space.stages.len())
        .flat_map(|s| {
            let st = &space.stages[s];
            (0..space.stage_blocks(s)).map(move |b| {
                let c_in = if b == 0 { space.stage_in_width(s) } else { st.width };
                st.expand_ratios
                    .iter()
                    .rev()
                    .map(|e| MbV3Space::mid_width(c_in, *e) as usize)
                    .collect()
            })
        })
        .collect();
    let DynMbV3 {
        stem,
        stem_bn,
        first_block,
        blocks,
        final_expand,
        final_expand_bn,
        feature_mix,
        classifier,
        dropout,
    } = net;
    let blocks = blocks
        .into_iter()
        .zip(&tiers)
        .map(|(mut b, tiers)| {
            let device = b.project.weight.device();
            // The projection reads the depthwise output: sort the middle channels by it.
            let order = index(
                &importance_order(&input_importance(&b.project.weight), tiers, stage),
                &device,
            );
            b.project = permute_conv(b.project, 1, &order);
            b.depthwise_bn = b.depthwise_bn.permuted(&order);
            b.depthwise.weight = b.depthwise.weight.map(|w| w.select(0, order.clone()));
            if let Some(mut se) = b.se.take() {
                se.expand.weight = se.expand.weight.map(|w| w.select(0, order.clone()));
                se.expand.bias = se.expand.bias.map(|w| w.select(0, order.clone()));
                se.reduce.weight = se.reduce.weight.map(|w| w.select(1, order.clone()));
                // SE hidden units, by the expand conv's weights on them (no protection).
                let hidden =
                    index(&importance_order(&input_importance(&se.expand.weight), &[], 0), &device);
                se.expand.weight = se.expand.weight.map(|w| w.select(1, hidden.clone()));
                se.reduce.weight = se.reduce.weight.map(|w| w.select(0, hidden.clone()));
                se.reduce.bias = se.reduce.bias.map(|w| w.select(0, hidden.clone()));
                b.se = Some(se);
            }
            b.expand_bn = b.expand_bn.map(|bn| bn.permuted(&order));
            b.expand = b.expand.map(|conv| permute_conv(conv, 0, &order));
            b
        })
        .collect();
    DynMbV3 {
        stem,
        stem_bn,
        first_block,
        blocks,
        final_expand,
        final_expand_bn,
        feature_mix,
        classifier,
        dropout,
    }
}

#[cfg(test)]
mod tests {
    use super::importance_order;

    #[test]
    fn plain_sort_is_by_descending_importance() {
        assert_eq!(importance_order(&[0.1, 0.9, 0.5, 0.7], &[4, 2], 0), [1, 3, 2, 0]);
    }

    #[test]
    fn protected_channels_stay_in_front() {
        // Widths 6 > 4 > 2 (ratios descending). Stage 1 keeps channels 0..4 (the previous
        // phase's smallest ratio) ahead of 4..6, each tier sorted by importance.
        let importance = [0.1, 0.2, 0.3, 0.4, 0.9, 0.8];
        assert_eq!(importance_order(&importance, &[6, 4, 2], 1), [3, 2, 1, 0, 4, 5]);
        // Stage 2 also keeps 0..2 ahead of 2..4.
        assert_eq!(importance_order(&importance, &[6, 4, 2], 2), [1, 0, 3, 2, 4, 5]);
    }
}
