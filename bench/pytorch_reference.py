"""PyTorch side of the throughput comparison (issue: beat the PyTorch reference on the same GPU).

Builds the three audio models with timm (stem replaced by Conv2d(1, C, (2, 16), stride (2, 16)) as the paper does),
optionally with every 7x7 depthwise conv replaced by DCLS-Gauss (23x23 grid, 26 elements, P/SIG shared per stage),
the DCLS construction written from ../shared/spec/dcls.md in the package's style (a dense grid x elements intermediate),
then measures training and inference samples/s at batch 64 on 1x128x1001 inputs.

    python3 bench/pytorch_reference.py [--models convnext,convformer,fastvit] [--batch 64] [--steps 20] [--bf16]

Prints one JSON object per configuration on stdout.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import timm


class DclsGauss2d(nn.Module):
    """Depthwise DCLS-Gauss conv; P and SIG may be shared with an owner layer (paper appendix B)."""

    def __init__(self, channels, kernel_count=26, dks=23, bias=True, owner=None):
        super().__init__()
        self.channels, self.k, self.dks = channels, kernel_count, dks
        self.weight = nn.Parameter(torch.randn(channels, 1, kernel_count) * 0.02)
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        if owner is None:
            self.P = nn.Parameter((torch.randn(2, channels, 1, kernel_count) * 0.5).clamp(-(dks // 2), dks // 2))
            self.SIG = nn.Parameter(torch.full((2, channels, 1, kernel_count), 0.23))
            self.owner = None
        else:
            self.owner = [owner]  # a list keeps the owner out of this module's parameters

    def spacings(self):
        src = self if self.owner is None else self.owner[0]
        return src.P, src.SIG

    def kernel(self):
        P, SIG = self.spacings()
        d = self.dks
        grid = torch.arange(d, device=P.device, dtype=P.dtype)
        p = P + d // 2
        s = SIG.abs() + 0.27
        gi = torch.exp(-0.5 * ((grid.view(-1, 1, 1, 1) - p[0]) / s[0]) ** 2)  # [D, C, 1, K]
        gj = torch.exp(-0.5 * ((grid.view(-1, 1, 1, 1) - p[1]) / s[1]) ** 2)
        g = gi.unsqueeze(1) * gj.unsqueeze(0)  # [D, D, C, 1, K]: the package's dense intermediate
        g = g / (g.sum(dim=(0, 1), keepdim=True) + 1e-7)
        k = (g * self.weight).sum(-1)  # [D, D, C, 1]
        return k.permute(2, 3, 0, 1)

    def forward(self, x):
        return F.conv2d(x, self.kernel(), self.bias, padding=self.dks // 2, groups=self.channels)


def replace_depthwise(model):
    widest, owner = 0, None
    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, nn.Conv2d) and child.groups == child.in_channels == child.out_channels \
                    and child.kernel_size == (7, 7) and child.stride == (1, 1):
                if child.out_channels > widest:
                    widest = child.out_channels
                    new = DclsGauss2d(child.out_channels, bias=child.bias is not None)
                    owner = new
                else:
                    new = DclsGauss2d(child.out_channels, bias=child.bias is not None, owner=owner)
                setattr(mod, cname, new)
    return model


def build(family, dcls):
    if family == "convnext":
        m = timm.create_model("convnext_tiny", num_classes=527, in_chans=1)
        m.stem[0] = nn.Conv2d(1, 96, (2, 16), stride=(2, 16))
    elif family == "convformer":
        m = timm.create_model("convformer_s18", num_classes=527, in_chans=1)
        m.stem.conv = nn.Conv2d(1, 64, (2, 16), stride=(2, 16), bias=False)
    else:
        m = timm.create_model("fastvit_sa24", num_classes=527, in_chans=1)
        m.stem = nn.Conv2d(1, 64, (2, 16), stride=(2, 16), bias=False)
    return replace_depthwise(m) if dcls else m


def measure(family, dcls, batch, steps, bf16):
    torch.manual_seed(0)
    dev = "cuda"
    m = build(family, dcls).to(dev)
    params = sum(p.numel() for p in m.parameters())
    x = torch.randn(batch, 1, 128, 1001, device=dev)
    y = torch.rand(batch, 527, device=dev)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.05)
    ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else (lambda: torch.autocast("cuda", enabled=False))

    def train_step():
        with ctx():
            loss = F.binary_cross_entropy_with_logits(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    m.train()
    for _ in range(3):
        train_step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        train_step()
    torch.cuda.synchronize()
    train = batch * steps / (time.perf_counter() - t)

    m.eval()
    with torch.no_grad():
        for _ in range(3):
            with ctx():
                m(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            with ctx():
                m(x)
        torch.cuda.synchronize()
        infer = batch * steps / (time.perf_counter() - t)
    return {"family": family, "dcls": dcls, "params": params, "batch": batch, "bf16": bf16,
            "train_samples_per_s": train, "infer_samples_per_s": infer, "device": torch.cuda.get_device_name()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="convnext,convformer,fastvit")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    for fam in a.models.split(","):
        for dcls in (False, True):
            print(json.dumps(measure(fam, dcls, a.batch, a.steps, a.bf16)), flush=True)
