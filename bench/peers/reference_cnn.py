#!/usr/bin/env python3
"""The benchmark's reference CNN in PyTorch: the peer of `phcc-fed bench train --peer`.

The same network as libs/compute/src/reference-cnn.ts (3x3 convolutions, stride 2 between
stages with TensorFlow's 'same' padding, ReLU, global average pool, a dense layer, softmax
cross-entropy, plain SGD), written as a PyTorch user would (NCHW, nn.Conv2d, torch.optim.SGD).
The TypeScript side hands it a bundle (manifest.json + data.bin: config, our weights by name
and layout, one batch, the learning rate), so both sides train the same numbers; the
equivalence test (apps/cli/src/bench/train-peer.spec.ts) compares parameter count, forward
MACs, the loss, every gradient and one SGD update.

TensorFlow's 'same' padding of a stride-2 convolution on an even side puts its one padded pixel
at the bottom/right; nn.Conv2d(padding=1) would pad both sides and compute a different function,
so the strided layers pad as TensorFlow does, explicitly (one copy of each strided layer's input,
< 1 % of a step).

Never a product dependency: only the benchmark and its test run it (Debian's python3-torch).

Modes:
  reference_cnn.py check BUNDLE_DIR   one JSON line (parameter count, forward MACs, loss) and,
                                      in BUNDLE_DIR, grads.bin and after_step.bin (float32, in
                                      the bundle's weight order and our layouts)
  reference_cnn.py serve BUNDLE_DIR   JSON lines on stdin: {"threads": n, "steps": k} ->
                                      {"seconds": [...], "cpu_seconds": [...]}: k SGD steps'
                                      wall and process CPU times, after one warm-up step
"""

import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from peer_common import load_bundle, serve_steps


class ReferenceCnn(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.strides, self.convs = [], nn.ModuleList()
        in_c = config["inChannels"]
        for i, out_c in enumerate(config["widths"]):
            stride = 1 if i == 0 else 2
            self.strides.append(stride)
            self.convs.append(nn.Conv2d(in_c, out_c, 3, stride=stride, padding=1 if stride == 1 else 0))
            in_c = out_c
        self.dense = nn.Linear(in_c, config["classes"])
        self.mac_log = []  # forward multiply-adds per layer, appended by the hooks
        for module in [*self.convs, self.dense]:
            module.register_forward_hook(self._count_macs)

    def _count_macs(self, module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            self.mac_log.append(output.numel() * module.in_channels * kh * kw)
        else:
            self.mac_log.append(output.numel() * module.in_features)

    @staticmethod
    def same_padding(side, stride, kernel=3):
        """TensorFlow's 'same': ceil(side / stride) outputs, the odd padded pixel after, not before."""
        out = -(-side // stride)
        total = max((out - 1) * stride + kernel - side, 0)
        return total // 2, total - total // 2

    def forward(self, x):  # NCHW
        for conv, stride in zip(self.convs, self.strides):
            if stride == 2:
                before, after = self.same_padding(x.shape[-1], stride)
                x = F.pad(x, (before, after, before, after))
            x = F.relu(conv(x))
        return self.dense(x.mean(dim=(2, 3)))

    def ours(self):
        """(our name, parameter, to ours, from ours): tfjs kernels are [kh, kw, in, out], dense [in, out]."""
        out = []
        for i, conv in enumerate(self.convs):
            out.append((f"conv{i}/kernel", conv.weight, lambda t: t.permute(2, 3, 1, 0), lambda t: t.permute(3, 2, 0, 1)))
        for i, conv in enumerate(self.convs):
            out.append((f"conv{i}/bias", conv.bias, lambda t: t, lambda t: t))
        out.append(("dense/kernel", self.dense.weight, lambda t: t.t(), lambda t: t.t()))
        out.append(("dense/bias", self.dense.bias, lambda t: t, lambda t: t))
        return out

    def load_ours(self, weights):
        with torch.no_grad():
            for name, param, _to, from_ours in self.ours():
                param.copy_(from_ours(weights[name]).contiguous())


def setup(directory):
    bundle = load_bundle(directory)
    model = ReferenceCnn(bundle["config"])
    model.load_ours({name: tensor for name, _shape, tensor in bundle["weights"]})
    x = bundle["arrays"]["x"].permute(0, 3, 1, 2).contiguous()  # ours NHWC -> NCHW
    y = bundle["arrays"]["y"].long()
    optimizer = torch.optim.SGD(model.parameters(), lr=bundle["lr"])

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return model, x, y, step


def write_ours(path, model, pick):
    with open(path, "wb") as f:
        for name, param, to_ours, _from in model.ours():
            f.write(to_ours(pick(param)).contiguous().numpy().astype("<f4").tobytes())


def check(directory):
    model, x, y, step = setup(directory)
    model.mac_log.clear()
    loss = F.cross_entropy(model(x), y)
    macs = sum(model.mac_log)
    loss.backward()
    write_ours(os.path.join(directory, "grads.bin"), model, lambda p: p.grad.detach())
    step()
    write_ours(os.path.join(directory, "after_step.bin"), model, lambda p: p.detach())
    out = {
        "param_count": sum(p.numel() for p in model.parameters()),
        "forward_macs": macs,
        "loss": loss.item(),
    }
    print(json.dumps(out), flush=True)


def serve(directory):
    """Timed SGD steps on request, so the caller can interleave them with its own."""
    torch.set_num_interop_threads(1)
    _model, _x, _y, step = setup(directory)
    serve_steps(lambda _request: step)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "serve"):
        sys.exit("usage: reference_cnn.py check|serve BUNDLE_DIR")
    (check if sys.argv[1] == "check" else serve)(sys.argv[2])
