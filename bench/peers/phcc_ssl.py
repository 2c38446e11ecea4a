#!/usr/bin/env python3
"""pHCC-SSL re-implemented in PyTorch: the peer `phcc-fed bench model --peer` measures us against.

Written as a researcher would write it in PyTorch (NCHW convolutions, ConvNeXt-V2 blocks that
permute to channels-last for LayerNorm / Linear / GRN, torch.optim.AdamW), but with every detail
of libs/model/src/network and libs/model/src/training reproduced: the masked (dense FCMAE)
encoder, the light decoder, the sample-weighted SSL loss, the region-pooled temporal attention
head, the class-weighted BCE, global-norm clipping and AdamW with decay on kernels only. The
TypeScript side hands it a bundle (a manifest + one float32 file: config, our weights by name,
the batches, the step options) so both sides run from the same weights and data; the equivalence
test (apps/cli/src/bench/peer.spec.ts) compares parameter count, forward MACs, losses, gradients
and one AdamW update.

Never a product dependency: only the benchmark and its test run it, with Debian's python3-torch.

Modes:
  phcc_ssl.py check BUNDLE_DIR   one JSON line (counts, MACs, losses, the skipRows form's loss
                                 and gradient error against the dense form) and, in BUNDLE_DIR,
                                 grads_ssl.bin, grads_finetune.bin, after_ssl_step.bin
                                 (float32, our names' order and layouts)
  phcc_ssl.py serve BUNDLE_DIR   JSON lines on stdin: {"stage": "ssl"|"finetune", "threads": n,
                                 "steps": k, "skipRows": bool} → {"seconds": [...],
                                 "cpu_seconds": [...]}: k steps' wall and process CPU times, after
                                 one warm-up step; skipRows: the SSL step's blocks after their
                                 depthwise conv on the rows that count only, as ours (the
                                 depthwise conv itself stays dense: PyTorch has no sparse one)
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from peer_common import load_bundle, serve_steps

LN_EPS = 1e-6


def stage_layout(config):
    """Same rule as stageLayout (config.ts): halve until the total stride reaches the patch size."""
    layout, stride = [], config["stemStride"]
    for i, (dim, depth) in enumerate(zip(config["dims"], config["depths"])):
        downsample = i > 0 and stride < config["patchSize"]
        if downsample:
            stride *= 2
        layout.append({"dim": dim, "depth": depth, "downsample": downsample})
    return layout


class MacCounter:
    """Multiply-accumulates of Conv2d/Linear layers (hooks) and attention matmuls (counted inline)."""

    def __init__(self):
        self.macs = {"encoder": 0, "decoder": 0, "head": 0}
        self.enabled = False

    def add(self, part, macs):
        if self.enabled:
            self.macs[part] += int(macs)


class Grn(nn.Module):
    """GRN as in layers.ts: sqrt(Σ_hw x² + 1e-12), divided by its channel mean + 1e-6."""

    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x):  # NHWC
        gx = torch.sqrt(x.pow(2).sum(dim=(1, 2), keepdim=True) + 1e-12)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + LN_EPS)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    """ConvNeXt-V2 block: dwconv k×k → LN → Linear ×r → GELU → GRN → Linear, residual."""

    def __init__(self, dim, config):
        super().__init__()
        hidden = round(dim * config["mlpRatio"])
        k = config["kernelSize"]
        self.dwconv = nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.grn = Grn(hidden)
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x, keep=None, skip_rows=False, scored=None):
        """NCHW in and out; keep: [N, 1, R, R]. skip_rows (with keep): everything after the
        depthwise conv on the visible rows only, as ours (applyBlockOnKeptRows; GRN on them as
        [N, kept, 1, C] when every sample keeps as many, else on the map with zeros elsewhere);
        scored ([N, R, R] bool, unmasked blocks): pwconv2 on those rows only. Either way the rows
        left out come out as x alone."""
        h = self.dwconv(x)
        if keep is not None and skip_rows:
            rows = keep[:, 0] > 0
            visible = F.gelu(self.pwconv1(self.norm(h.permute(0, 2, 3, 1)[rows])), approximate="tanh")
            per_sample = rows.view(rows.shape[0], -1).sum(dim=1)
            if bool((per_sample == per_sample[0]).all()):
                kept = int(per_sample[0])
                g = self.grn(visible.view(rows.shape[0], kept, 1, -1)).view(-1, visible.shape[-1])
                h = scatter_rows(self.pwconv2(g), rows)
            else:
                h = rows_only(self.pwconv2, self.grn(scatter_rows(visible, rows)), rows)
            return x + h.permute(0, 3, 1, 2)
        if keep is not None:
            h = h * keep
        h = self.norm(h.permute(0, 2, 3, 1))
        h = F.gelu(self.pwconv1(h), approximate="tanh")
        if keep is not None:
            h = h * keep.permute(0, 2, 3, 1)
        h = self.grn(h)
        h = (rows_only(self.pwconv2, h, scored) if scored is not None else self.pwconv2(h)).permute(0, 3, 1, 2)
        out = x + h
        return out * keep if keep is not None else out


def scatter_rows(values, rows):
    """[V, C] values at the True positions of rows [N, R, R], zero elsewhere: [N, R, R, C]."""
    full = values.new_zeros(*rows.shape, values.shape[-1])
    full[rows] = values
    return full


def rows_only(layer, nhwc, rows):
    """A per-position layer on the True rows of rows [N, R, R] only, zero elsewhere (NHWC)."""
    return scatter_rows(layer(nhwc[rows]), rows)


class PhccSsl(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        c = config
        self.counter = MacCounter()
        # Off: the dense form a PyTorch user writes. On: the masked SSL step's pointwise layers on
        # the rows that count only, as ours does (boolean indexing), for a like-for-like ratio.
        self.skip_rows = False
        self.stem = nn.Conv2d(c["inChannels"], c["dims"][0], c["stemStride"], stride=c["stemStride"])
        self.layout = stage_layout(c)
        self.downs = nn.ModuleList()
        self.stages = nn.ModuleList()
        for i, stage in enumerate(self.layout):
            if i == 0:
                self.downs.append(nn.Identity())
            elif stage["downsample"]:
                self.downs.append(nn.Conv2d(c["dims"][i - 1], stage["dim"], 2, stride=2))
            else:
                self.downs.append(nn.Linear(c["dims"][i - 1], stage["dim"]))
            self.stages.append(nn.ModuleList(Block(stage["dim"], c) for _ in range(stage["depth"])))
        last = c["dims"][-1]
        self.final_norm = nn.LayerNorm(last, eps=LN_EPS)
        d = c["decoderDim"]
        self.patch_pixels = c["patchSize"] ** 2 * c["intensityChannels"]
        self.dec_proj = nn.Linear(last, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.dec_blocks = nn.ModuleList(Block(d, c) for _ in range(c["decoderDepth"]))
        self.dec_pred = nn.Linear(d, self.patch_pixels)
        regions = 3 if c["tokenPooling"] == "regions" else 1
        enc = last * regions
        t = c["tokenDim"]
        self.token_center = nn.Parameter(torch.zeros(enc)) if c["tokenPooling"] == "regions" else None
        self.token_norm = nn.LayerNorm(enc, eps=LN_EPS)
        self.token_proj = nn.Linear(enc, t)
        self.phase_embedding = nn.Parameter(torch.zeros(c["phases"], t))
        self.type_embedding = nn.Parameter(torch.zeros(2, t))
        hidden = round(t * c["attnMlpRatio"])
        self.attn = nn.ModuleList()
        for _ in range(c["attnLayers"]):
            layer = nn.ModuleDict(
                {
                    "norm1": nn.LayerNorm(t, eps=LN_EPS),
                    "q": nn.Linear(t, t),
                    "k": nn.Linear(t, t),
                    "v": nn.Linear(t, t),
                    "out": nn.Linear(t, t),
                    "norm2": nn.LayerNorm(t, eps=LN_EPS),
                    "mlp1": nn.Linear(t, hidden),
                    "mlp2": nn.Linear(hidden, t),
                }
            )
            self.attn.append(layer)
        self.pool_norm = nn.LayerNorm(t, eps=LN_EPS)
        self.fc1 = nn.Linear(t, c["classifierHidden"])
        self.fc2 = nn.Linear(c["classifierHidden"], 1)
        self._hook_macs()

    # ---- weights by our names -------------------------------------------------------------
    def named_layers(self):
        """Our parameter prefix → the module holding it (ours: layers.ts / encoder.ts / head.ts)."""
        layers = {"encoder/stem/conv": self.stem, "encoder/final_norm": self.final_norm}
        for i, stage in enumerate(self.layout):
            name = f"encoder/stage{i + 1}"
            if i > 0:
                layers[f"{name}/down/{'conv' if stage['downsample'] else 'proj'}"] = self.downs[i]
            for b, block in enumerate(self.stages[i]):
                add_block(layers, f"{name}/block{b}", block)
        layers["decoder/proj"] = self.dec_proj
        for b, block in enumerate(self.dec_blocks):
            add_block(layers, f"decoder/block{b}", block)
        layers["decoder/pred"] = self.dec_pred
        layers["head/token_norm"] = self.token_norm
        layers["head/token_proj"] = self.token_proj
        for l, layer in enumerate(self.attn):
            for key, module in layer.items():
                layers[f"head/attn{l}/{key}"] = module
        layers["head/pool_norm"] = self.pool_norm
        layers["head/fc1"] = self.fc1
        layers["head/fc2"] = self.fc2
        return layers

    def parameter_by_name(self):
        """Our name → (torch parameter, ours→torch layout, torch→ours layout)."""
        same = (lambda a: a, lambda a: a)
        out = {"decoder/mask_token": (self.mask_token, *same)}
        out["head/phase_embedding"] = (self.phase_embedding, *same)
        out["head/type_embedding"] = (self.type_embedding, *same)
        if self.token_center is not None:
            out["head/token_center"] = (self.token_center, *same)
        for prefix, module in self.named_layers().items():
            if isinstance(module, nn.Conv2d):
                if module.groups > 1:  # ours [k, k, C, 1] ↔ torch [C, 1, k, k]
                    layout = (lambda a: a.permute(2, 3, 0, 1), lambda a: a.permute(2, 3, 0, 1))
                else:  # ours [k, k, in, out] ↔ torch [out, in, k, k]
                    layout = (lambda a: a.permute(3, 2, 0, 1), lambda a: a.permute(2, 3, 1, 0))
                out[f"{prefix}/kernel"] = (module.weight, *layout)
                out[f"{prefix}/bias"] = (module.bias, *same)
            elif isinstance(module, nn.Linear):  # ours [in, out] ↔ torch [out, in]
                out[f"{prefix}/kernel"] = (module.weight, lambda a: a.t(), lambda a: a.t())
                out[f"{prefix}/bias"] = (module.bias, *same)
            else:  # LayerNorm (weight, bias) or GRN (gamma, beta)
                gamma = module.weight if isinstance(module, nn.LayerNorm) else module.gamma
                beta = module.bias if isinstance(module, nn.LayerNorm) else module.beta
                out[f"{prefix}/gamma"] = (gamma, *same)
                out[f"{prefix}/beta"] = (beta, *same)
        return out

    def load_ours(self, weights):
        table = self.parameter_by_name()
        names = {name for name, _, _ in weights}
        if names != set(table):
            raise SystemExit(
                f"weights do not match the peer network: missing {sorted(set(table) - names)}, "
                f"unknown {sorted(names - set(table))}"
            )
        with torch.no_grad():
            for name, _, values in weights:
                param, to_torch, _ = table[name]
                converted = to_torch(values)
                if tuple(converted.shape) != tuple(param.shape):
                    raise SystemExit(f"{name}: shape {list(converted.shape)} for {list(param.shape)}")
                param.copy_(converted.contiguous())

    # ---- MAC counting ---------------------------------------------------------------------
    def _hook_macs(self):
        for prefix, module in self.named_layers().items():
            part = prefix.split("/")[0]
            if isinstance(module, nn.Conv2d):
                module.register_forward_hook(self._conv_hook(part))
            elif isinstance(module, nn.Linear):
                module.register_forward_hook(self._linear_hook(part))

    def _conv_hook(self, part):
        def hook(module, _inputs, output):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            self.counter.add(part, output.numel() * per_output)

        return hook

    def _linear_hook(self, part):
        def hook(module, _inputs, output):
            self.counter.add(part, output.numel() * module.in_features)

        return hook

    # ---- forward --------------------------------------------------------------------------
    def keep_maps(self, mask):
        """[N, G, G] (1 = masked) → {resolution: keep map [N, 1, R, R]}, as MaskPyramid."""
        keep = (1 - mask).unsqueeze(1)
        grid = mask.shape[1]
        res = self.config["imageSize"] // self.config["stemStride"]
        maps = {}
        while res >= grid:
            factor = res // grid
            maps[res] = keep.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
            res //= 2
        return maps

    def encode(self, x, keep=None):
        """NCHW images → NHWC last-stage features after the final LayerNorm."""
        zero = (lambda t: t * keep[t.shape[2]]) if keep is not None else (lambda t: t)
        x = zero(self.stem(x))
        for i, stage in enumerate(self.layout):
            if i > 0:
                down = self.downs[i]
                if stage["downsample"]:
                    x = zero(down(x))
                elif keep is not None and self.skip_rows:
                    x = rows_only(down, x.permute(0, 2, 3, 1), keep[x.shape[2]][:, 0] > 0).permute(0, 3, 1, 2)
                else:
                    x = zero(down(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
            for block in self.stages[i]:
                x = block(x, keep[x.shape[2]] if keep is not None else None, self.skip_rows)
        return self.final_norm(x.permute(0, 2, 3, 1))

    def reconstruct(self, x, mask, keep):
        features = self.encode(x, keep)
        h = self.dec_proj(features)
        grid_keep = (1 - mask).unsqueeze(-1)
        h = (h * grid_keep + self.mask_token * (1 - grid_keep)).permute(0, 3, 1, 2)
        # Skipping rows as ours: the loss scores the masked patches only, so the last block's
        # pwconv2 and the prediction compute those.
        scored = mask > 0 if self.skip_rows else None
        for j, block in enumerate(self.dec_blocks):
            h = block(h, scored=scored if j == len(self.dec_blocks) - 1 else None)
        h = h.permute(0, 2, 3, 1)
        return rows_only(self.dec_pred, h, scored) if scored is not None else self.dec_pred(h)

    def region_weights(self, images):
        c = self.config
        mask = images[:, c["maskChannel"] : c["maskChannel"] + 1].clamp(0, 1)
        s = images.shape[2]
        g = s // c["patchSize"]
        cell = s // g
        radius = max(1, round(s / 16))
        rim = F.max_pool2d(mask, 2 * radius + 1, 1, radius) - mask
        n = images.shape[0]

        def down(m):
            return F.avg_pool2d(m, cell, cell).reshape(n, g * g, 1)

        maps = torch.cat([down(mask), down(rim), torch.ones(n, g * g, 1)], 2)
        return maps / (maps.sum(1, keepdim=True) + 1e-6)

    def logits(self, images):
        """Phase images [B·T, C, S, S] (phase-major per patient) → logits [B]."""
        c = self.config
        features = self.encode(images)  # [n, g, g, C]
        n, g, _, ch = features.shape
        flat = features.reshape(n, g * g, ch)
        if c["tokenPooling"] == "regions":
            weights = self.region_weights(images)
            pooled = torch.matmul(weights.transpose(1, 2), flat).reshape(n, -1)
            pooled = pooled - self.token_center
        else:
            pooled = flat.mean(1)
        t = c["phases"]
        batch = n // t
        f = self.token_proj(self.token_norm(pooled.reshape(batch, t, -1)))
        tokens = f + self.phase_embedding + self.type_embedding[0]
        if t > 1:
            dynamic = f[:, 1:] - f[:, :-1] + self.phase_embedding[1:] + self.type_embedding[1]
            tokens = torch.cat([tokens, dynamic], 1)
        for layer in self.attn:
            tokens = tokens + self.attention(layer, layer["norm1"](tokens))
            hidden = F.gelu(layer["mlp1"](layer["norm2"](tokens)), approximate="tanh")
            tokens = tokens + layer["mlp2"](hidden)
        pooled = self.pool_norm(tokens.mean(1))
        return self.fc2(F.gelu(self.fc1(pooled), approximate="tanh")).reshape(-1)

    def attention(self, layer, x):
        b, n, d = x.shape
        heads = self.config["heads"]
        dh = d // heads

        def split(t):
            return t.reshape(b, n, heads, dh).transpose(1, 2)

        q, k, v = split(layer["q"](x)), split(layer["k"](x)), split(layer["v"](x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(dh))
        attended = torch.matmul(torch.softmax(scores, -1), v)
        self.counter.add("head", 2 * b * heads * n * n * dh)
        return layer["out"](attended.transpose(1, 2).reshape(b, n, d))


def add_block(layers, prefix, block):
    layers[f"{prefix}/dwconv"] = block.dwconv
    layers[f"{prefix}/norm"] = block.norm
    layers[f"{prefix}/pwconv1"] = block.pwconv1
    layers[f"{prefix}/grn"] = block.grn
    layers[f"{prefix}/pwconv2"] = block.pwconv2


# ---- losses (losses.ts) ------------------------------------------------------------------------


def hardness_weights(per_image, exponent):
    if exponent == 0 or per_image.numel() == 0:
        return torch.ones_like(per_image)
    w = per_image.clamp(min=0).pow(exponent)
    mean = w.mean()
    if not (mean > 0) or not torch.isfinite(mean):
        return torch.ones_like(per_image)
    return w / mean


def ssl_loss(model, images, mask, keep, weighting):
    """Sample-weighted FCMAE loss; images NCHW, mask [N, G, G] (1 = masked)."""
    c = model.config
    p = c["patchSize"]
    prediction = model.reconstruct(images, mask, keep)
    n, _, s, _ = images.shape
    g = s // p
    intensities = images[:, : c["intensityChannels"]]
    patches = (
        intensities.reshape(n, -1, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(n, g, g, -1)
    )
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, unbiased=False, keepdim=True)
    target = (patches - mean) / torch.sqrt(var + 1e-6)
    patch_error = (prediction - target).pow(2).mean(-1)
    weight = mask
    if weighting["tumourWeight"] > 0 and c["maskChannel"] >= 0:
        tumour = images[:, c["maskChannel"] : c["maskChannel"] + 1]
        fraction = F.avg_pool2d(tumour, p, p).squeeze(1)
        weight = weight * (1 + fraction.clamp(0, 1) * weighting["tumourWeight"])
    weight_sum = weight.sum((1, 2)).clamp(min=1e-6)
    image_loss = (patch_error * weight).sum((1, 2)) / weight_sum
    sample = hardness_weights(image_loss.detach(), weighting["hardnessExponent"])
    return (image_loss * sample).mean()


def balanced_bce(logits, labels, weights):
    pos = labels * F.softplus(-logits) * weights["positive"]
    neg = (1 - labels) * F.softplus(logits) * weights["negative"]
    return (pos + neg).mean()


# ---- the training steps (steps.ts, optimizer.ts) -----------------------------------------------


class Stage:
    """One stage's inputs, loss and AdamW over its trainable parameters (as trainableParts)."""

    def __init__(self, model, bundle, stage):
        self.model = model
        self.stage = stage
        opts = bundle["options"]
        c = model.config
        arrays = bundle["arrays"]
        s, ch = c["imageSize"], c["inChannels"]
        if stage == "ssl":
            # The data loader's work (NHWC → NCHW) happens once, outside the timed step.
            self.images = arrays["ssl/images"].reshape(-1, s, s, ch).permute(0, 3, 1, 2).contiguous()
            self.mask = arrays["ssl/mask"].reshape(self.images.shape[0], s // c["patchSize"], -1)
            self.count = self.images.shape[0]
            parts, lr_scale = ("encoder", "decoder"), {"encoder": 1.0, "decoder": 1.0}
        else:
            patients = arrays["finetune/patients"].reshape(-1, s, s, ch)
            self.images = patients.permute(0, 3, 1, 2).contiguous()
            self.labels = arrays["finetune/labels"]
            self.count = self.images.shape[0]
            parts = ("encoder", "head")
            lr_scale = {"encoder": opts["encoderLrScale"], "head": 1.0}
        self.weighting = opts["sslWeighting"]
        self.class_weights = opts["classWeights"]
        self.clip = opts["clipNorm"]
        table = model.parameter_by_name()
        self.names = [name for name, _, _ in bundle["weights"] if name.split("/")[0] in parts]
        self.params = [table[name][0] for name in self.names]
        groups = {}
        for name, param in zip(self.names, self.params):
            decays = param.dim() >= 2 and name.endswith("/kernel")
            key = (name.split("/")[0], decays)
            groups.setdefault(key, []).append(param)
        self.lr = opts["lr"]
        self.optimizer = torch.optim.AdamW(
            [
                {
                    "params": ps,
                    "lr": self.lr * lr_scale[part],
                    "weight_decay": opts["weightDecay"] if decays else 0.0,
                }
                for (part, decays), ps in groups.items()
            ],
            lr=self.lr,
            betas=(opts["beta1"], opts["beta2"]),
            eps=opts["epsilon"],
        )

    def loss(self):
        if self.stage == "ssl":
            keep = self.model.keep_maps(self.mask)
            return ssl_loss(self.model, self.images, self.mask, keep, self.weighting)
        return balanced_bce(self.model.logits(self.images), self.labels, self.class_weights)

    def gradients(self):
        for p in self.params:
            p.grad = None
        loss = self.loss()
        loss.backward()
        for p in self.params:
            if p.grad is None:  # outside this loss's graph: a zero gradient, as ours
                p.grad = torch.zeros_like(p)
        return loss

    def step(self):
        """One optimiser step: gradients, global-norm clip (ours: scale clip/‖g‖ above clip), AdamW."""
        loss = self.gradients()
        if self.clip > 0:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in self.params]))
            if norm > self.clip:
                for p in self.params:
                    p.grad.mul_(self.clip / norm)
        self.optimizer.step()
        return loss


def write_named(path, model, names, tensors):
    table = model.parameter_by_name()
    chunks = [table[name][2](t.detach()).contiguous().reshape(-1).numpy() for name, t in zip(names, tensors)]
    np.concatenate(chunks).astype("<f4").tofile(path)


def check(directory):
    """Equivalence figures for the test: counts, MACs, losses; gradients and one update to files."""
    torch.manual_seed(0)
    bundle = load_bundle(directory)
    model = PhccSsl(bundle["config"])
    model.load_ours(bundle["weights"])
    all_names = [name for name, _, _ in bundle["weights"]]
    table = model.parameter_by_name()
    out = {"param_count": sum(p.numel() for p in model.parameters())}
    ssl = Stage(model, bundle, "ssl")
    finetune = Stage(model, bundle, "finetune")
    model.counter.enabled = True
    with torch.no_grad():
        ssl.loss()
    per_image = {part: macs / ssl.count for part, macs in model.counter.macs.items()}
    model.counter.macs = {part: 0 for part in model.counter.macs}
    with torch.no_grad():
        finetune.loss()
    patients = finetune.count // bundle["config"]["phases"]
    model.counter.enabled = False
    out["encoder_macs"] = per_image["encoder"]
    out["decoder_macs"] = per_image["decoder"]
    out["head_macs"] = model.counter.macs["head"] / patients
    for stage in (ssl, finetune):
        out[f"{stage.stage}_loss"] = float(stage.gradients())
        grads = [table[n][0].grad if n in stage.names else torch.zeros_like(table[n][0]) for n in all_names]
        write_named(os.path.join(directory, f"grads_{stage.stage}.bin"), model, all_names, grads)
    # The row-skipping form (skipRows) gives the dense form's loss and gradients.
    ssl.gradients()
    dense_grads = [p.grad.clone() for p in ssl.params]
    model.skip_rows = True
    out["ssl_skip_rows_loss"] = float(ssl.gradients())
    scale = max(float(g.abs().max()) for g in dense_grads)
    diffs = [float((p.grad - g).abs().max()) for p, g in zip(ssl.params, dense_grads)]
    out["ssl_skip_rows_grad_error"] = max(diffs) / scale
    model.skip_rows = False
    ssl.step()
    write_named(os.path.join(directory, "after_ssl_step.bin"), model, all_names, [table[n][0] for n in all_names])
    print(json.dumps(out), flush=True)


def serve(directory):
    """Timed steps on request, so the caller can interleave them with its own."""
    torch.set_num_interop_threads(1)
    bundle = load_bundle(directory)
    model = PhccSsl(bundle["config"])
    model.load_ours(bundle["weights"])
    stages = {"ssl": Stage(model, bundle, "ssl"), "finetune": Stage(model, bundle, "finetune")}

    def step_for(request):
        model.skip_rows = bool(request.get("skipRows", False))
        return stages[request["stage"]].step

    serve_steps(step_for)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "serve"):
        sys.exit("usage: phcc_ssl.py check|serve BUNDLE_DIR")
    (check if sys.argv[1] == "check" else serve)(sys.argv[2])
