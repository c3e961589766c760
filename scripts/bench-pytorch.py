#!/usr/bin/env python3
"""The PyTorch side of `proard bench` and `proard model bench`, for side-by-side measurements.

Builds the largest arch of resnet-mini or mbv3-mini as a plain PyTorch network with the same
layers, widths, strides and activations as `proard`'s supernet forward (its MACs and parameter
count are printed: they must equal `proard model check SPACE --json`), and times the same
operations with the same settings on random data:

  pipeline (as `proard bench`):   TRADES step, RSLAD step (attack + losses + backward + SGD),
                                  PGD-20 evaluation (clean + PGD-20), one student's evaluation
                                  (BatchNorm calibration + clean + PGD-20 over the test images)
  model (as `proard model bench`): forward, SGD training step, PGD-10

Not part of the project's tests; needs `torch` (a CPU build is enough):
  python3 scripts/bench-pytorch.py --space resnet-mini --batch 64 --steps 2 \
      --student-images 256 --calibration-images 256 --threads 2
"""

import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_divisible(v, divisor=8):
    """proard_shared::channels::make_divisible (the reference's rule)."""
    rounded = max(divisor, math.floor((v + divisor / 2) / divisor) * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def round_half_even(x):
    return float(round(x))  # Python 3's round is ties-to-even, as in proard_shared


def conv_bn(c_in, c_out, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1),
    )


class Bottleneck(nn.Module):
    """backend/core/src/model/resnet.rs DynBottleneck: 1×1 → 3×3 (stride) → 1×1, projection."""

    def __init__(self, c_in, mid, out, stride, project):
        super().__init__()
        self.conv1 = conv_bn(c_in, mid, 1)
        self.conv2 = conv_bn(mid, mid, 3, stride)
        self.conv3 = conv_bn(mid, out, 1)
        self.downsample = conv_bn(c_in, out, 1, stride) if project else None

    def forward(self, x):
        shortcut = self.downsample(x) if self.downsample is not None else x
        y = F.relu(self.conv1(x))
        y = F.relu(self.conv2(y))
        return F.relu(self.conv3(y) + shortcut)


class ResNetMini(nn.Module):
    """resnet-mini's largest arch: stem 3→16 (+ residual 16→16) → 32, three stages of three
    bottlenecks, widths 64/128/256, expand 0.35, stride 2 each, pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem1 = conv_bn(3, 16, 3)
        self.stem2 = conv_bn(16, 16, 3)
        self.stem3 = conv_bn(16, 32, 3)
        blocks, c_in = [], 32
        for width in (64, 128, 256):
            mid = make_divisible(round_half_even(width * 0.35))
            for b in range(3):
                blocks.append(Bottleneck(c_in, mid, width, 2 if b == 0 else 1, b == 0))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c_in, 10)

    def forward(self, x):
        x = F.relu(self.stem1(x))
        x = x + F.relu(self.stem2(x))
        x = F.relu(self.stem3(x))
        x = self.blocks(x)
        return self.classifier(x.mean((2, 3)))


class Se(nn.Module):
    """layers.rs DynSe: mean → 1×1 (bias) → ReLU → 1×1 (bias) → h-sigmoid → scale."""

    def __init__(self, channels):
        super().__init__()
        hidden = make_divisible(channels // 4)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        s = F.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * F.hardsigmoid(self.expand(s))


class MbConv(nn.Module):
    """mbv3.rs DynMbConv: [1×1 expand, act] → k×k depthwise (stride), act → [SE] → 1×1 project."""

    def __init__(self, c_in, mid, out, kernel, stride, act, se, expand=True):
        super().__init__()
        self.act = act
        self.expand = conv_bn(c_in, mid, 1) if expand else None
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.se = Se(mid) if se else None
        self.project = conv_bn(mid, out, 1)
        self.residual = stride == 1 and c_in == out

    def forward(self, x):
        y = self.act(self.expand(x)) if self.expand is not None else x
        y = self.act(self.depthwise(y))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class MbV3Mini(nn.Module):
    """mbv3-mini's largest arch: stem 3×3 → 16 (h-swish), first block k3 → 16 (ReLU), stages
    24 (s2, ReLU), 40 (s2, h-swish, SE), 64 (s2, h-swish, SE) of three blocks, kernel 7, expand
    6; head 1×1 → 384 (BN, h-swish), pool, 1×1 → 512 (h-swish), linear → 10."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3)
        self.first = MbConv(16, 16, 16, 3, 1, F.relu, False, expand=False)
        blocks, c_in = [], 16
        for width, act, se in ((24, F.relu, False), (40, F.hardswish, True),
                               (64, F.hardswish, True)):
            for b in range(3):
                mid = make_divisible(round_half_even(c_in * 6.0))
                blocks.append(MbConv(c_in, mid, width, 7, 2 if b == 0 else 1, act, se))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.final_expand = conv_bn(c_in, 384, 1)
        self.feature_mix = nn.Conv2d(384, 512, 1, bias=False)
        self.classifier = nn.Linear(512, 10)

    def forward(self, x):
        x = self.first(F.hardswish(self.stem(x)))
        x = F.hardswish(self.final_expand(self.blocks(x)))
        x = F.hardswish(self.feature_mix(x.mean((2, 3), keepdim=True)))
        return self.classifier(x.flatten(1))


SPACES = {"resnet-mini": ResNetMini, "mbv3-mini": MbV3Mini}


def macs_and_params(net):
    """MACs as proard counts them (convs and linear layers) and trainable parameters."""
    macs = [0]

    def count(module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs[0] += output.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            macs[0] += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in net.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net.eval()
        net(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    return macs[0], sum(p.numel() for p in net.parameters())


# ---- the attacks and objectives, as backend/core/src/{attack,objective} run them -------------


def frozen(net):
    """A copy in eval mode whose parameters need no gradient (attack::frozen)."""
    import copy
    copy_ = copy.deepcopy(net).eval()
    for p in copy_.parameters():
        p.requires_grad_(False)
    return copy_


def ascend(x, loss_of, epsilon, step_size, steps, start_std=None):
    """attack::ascend: sign-gradient ascent in the ε-ball, clipped to [0, 1]."""
    if start_std is None:
        adv = x + torch.empty_like(x).uniform_(-epsilon, epsilon)
    else:
        adv = x + start_std * torch.randn_like(x)
    adv = torch.min(torch.max(adv, x - epsilon), x + epsilon).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_of(adv), [adv])
        adv = adv.detach() + step_size * grad.sign()
        adv = torch.min(torch.max(adv, x - epsilon), x + epsilon).clamp(0, 1)
    return adv.detach()


def kl_sum(target_logits, logits):
    """KL(softmax(target) ‖ softmax(logits)), summed over the batch."""
    return F.kl_div(F.log_softmax(logits, 1), F.log_softmax(target_logits, 1),
                    reduction="sum", log_target=True)


def trades_step(student, teacher, x, y, optimizer):
    attack = frozen(student)
    with torch.no_grad():
        clean = attack(x)
    adv = ascend(x, lambda a: kl_sum(clean, attack(a)), 0.031, 0.007, 10, start_std=0.001)
    student.train()
    logits, logits_adv = student(x), student(adv)
    loss = F.cross_entropy(logits, y) + 6.0 * kl_sum(logits, logits_adv) / x.shape[0]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def rslad_step(student, teacher, x, y, optimizer):
    with torch.no_grad():
        target = teacher(x)
    attack = frozen(student)
    adv = ascend(x, lambda a: kl_sum(target, attack(a)), 8 / 255, 2 / 255, 10, start_std=0.001)
    student.train()
    soft = F.softmax(target, 1)

    def term(logits):
        # RSLAD's KL with the reference's 1e-5 smoothing, mean over elements.
        return (soft * (torch.log(soft + 1e-5) - F.log_softmax(logits, 1))).mean()

    loss = 5 / 6 * term(student(adv)) + 1 / 6 * term(student(x))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def pgd(net, x, y, steps):
    return ascend(x, lambda a: F.cross_entropy(net(a), y, reduction="sum"), 8 / 255, 2 / 255,
                  steps)


def evaluate(net, batches):
    """attack::evaluate with PGD-20: clean accuracy and PGD-20 accuracy."""
    frozen_net = frozen(net)
    correct = [0, 0]
    for x, y in batches:
        with torch.no_grad():
            correct[0] += (frozen_net(x).argmax(1) == y).sum().item()
        adv = pgd(frozen_net, x, y, 20)
        with torch.no_grad():
            correct[1] += (frozen_net(adv).argmax(1) == y).sum().item()
    return correct


def calibrate(net, batches):
    """Model::calibrate: BatchNorm statistics recomputed as averages over the images."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        for x in batches:
            net(x)


class Timer:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self.cpu_now()

    @staticmethod
    def cpu_now():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def seconds(self):
        return time.perf_counter() - self.wall

    def utilisation(self):
        return (self.cpu_now() - self.cpu) / self.seconds()


def timed(images, steps, step):
    step()  # warm-up, as proard's benches
    timer = Timer()
    for _ in range(steps):
        step()
    return images * steps / timer.seconds(), timer.utilisation()


def data(n, batch):
    xs = torch.rand(n, 3, 32, 32)
    ys = torch.arange(n) % 10
    return [(xs[i:i + batch], ys[i:i + batch]) for i in range(0, n, batch)]


def pipeline(args, net_class):
    torch.manual_seed(0)
    student, teacher = net_class(), net_class().eval()
    x, y = data(args.batch, args.batch)[0]
    optimizer = torch.optim.SGD(student.parameters(), lr=1e-3)
    report = {}
    for name, step in (("trades_step", trades_step), ("rslad_step", rslad_step)):
        img_s, cpu = timed(args.batch, args.steps,
                           lambda s=step: s(student, teacher, x, y, optimizer))
        report[f"{name}_img_s"], report.setdefault("cpu_utilisation_by_measurement", {})[name] = \
            img_s, cpu
    img_s, cpu = timed(args.batch, args.steps, lambda: evaluate(student, [(x, y)]))
    report["pgd20_eval_img_s"] = img_s
    report["cpu_utilisation_by_measurement"]["pgd20_eval"] = cpu
    timer = Timer()
    calibration = [b[0] for b in data(args.calibration_images, 200)]
    calibrate(student, calibration)
    evaluate(student, data(args.student_images, args.batch))
    report["student_eval_seconds"] = timer.seconds()
    report["cpu_utilisation_by_measurement"]["student_eval"] = timer.utilisation()
    return report


def model(args, net_class):
    torch.manual_seed(0)
    net = net_class()
    x, y = data(args.batch, args.batch)[0]
    evaluation = frozen(net)

    def forward():
        with torch.no_grad():
            evaluation(x)

    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

    def train_step():
        net.train()
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {
        "forward_img_s": timed(args.batch, args.steps, forward)[0],
        "train_step_img_s": timed(args.batch, args.steps, train_step)[0],
        "pgd10_img_s": timed(args.batch, args.steps, lambda: pgd(evaluation, x, y, 10))[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=sorted(SPACES), default="resnet-mini")
    parser.add_argument("--what", choices=["pipeline", "model"], default="pipeline",
                        help="`proard bench` (pipeline) or `proard model bench` (model)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--student-images", type=int, default=256)
    parser.add_argument("--calibration-images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args()
    for name in ("batch", "steps", "student_images", "calibration_images", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    torch.set_num_threads(args.threads)
    net_class = SPACES[args.space]
    macs, params = macs_and_params(net_class())
    whole = Timer()
    report = pipeline(args, net_class) if args.what == "pipeline" else model(args, net_class)
    report.update(space=args.space, torch=torch.__version__, threads=args.threads,
                  batch=args.batch, macs=macs, params=params,
                  cpu_utilisation=whole.utilisation())
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
