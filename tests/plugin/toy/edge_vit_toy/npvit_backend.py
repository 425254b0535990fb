"""The ``numpy_vit`` runtime: a timm VisionTransformer (class token, no distillation token)
forward pass in NumPy, from a ``.npvit`` folder made by :mod:`edge_vit_toy.npvit_format`.

This file is a runner backend: it is copied beside the runner on a device as
``edge_vit_backend_numpy_vit.py`` and loaded there by name, so it imports nothing but NumPy
(and the standard library), and declares what the runner reads from a backend.
"""

import json
import math
import os

NAME = "numpy_vit"
MODULE = "numpy"
DISTS = ("numpy",)
INSTALL_HINT = "pip install numpy"
FORMATS = ("npvit",)
WEIGHTS, CONFIG = "weights.npz", "config.json"  # the files of a .npvit folder


def _erf(x):
    """Abramowitz-Stegun 7.1.26 (absolute error < 1.5e-7): NumPy has no erf."""
    import numpy as np

    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _layer_norm(x, w, b, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / (var + eps) ** 0.5 * w + b


def read_config(path):
    with open(os.path.join(str(path), CONFIG)) as fh:
        return json.load(fh)


def load(path):
    """A callable: NCHW float32 batch -> logits, from a .npvit folder."""
    import numpy as np

    with np.load(os.path.join(str(path), WEIGHTS), allow_pickle=False) as data:
        p = {k: data[k].astype(np.float32) for k in data.files}
    config = read_config(path)
    heads, patch = [int(h) for h in config["num_heads"]], int(config["patch_size"])
    w_embed = p["patch_embed.proj.weight"]
    dim = w_embed.shape[0]
    w_embed = w_embed.reshape(dim, -1).T

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def forward(x):
        x = np.asarray(x, dtype=np.float32)
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h // patch, patch, w // patch, patch).transpose(0, 2, 4, 1, 3, 5)
        x = tokens.reshape(b, (h // patch) * (w // patch), -1) @ w_embed + p["patch_embed.proj.bias"]
        cls = np.broadcast_to(p["cls_token"], (b, 1, dim))
        x = np.concatenate([cls, x], axis=1) + p["pos_embed"]
        for i, n_heads in enumerate(heads):
            k = f"blocks.{i}."
            y = _layer_norm(x, p[k + "norm1.weight"], p[k + "norm1.bias"])
            qkv = y @ p[k + "attn.qkv.weight"].T + p[k + "attn.qkv.bias"]
            n = x.shape[1]
            qkv = qkv.reshape(b, n, 3, n_heads, -1).transpose(2, 0, 3, 1, 4)
            q, kk, v = qkv[0], qkv[1], qkv[2]
            attn = softmax(q @ kk.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]))
            y = (attn @ v).transpose(0, 2, 1, 3).reshape(b, n, -1)
            x = x + y @ p[k + "attn.proj.weight"].T + p[k + "attn.proj.bias"]
            y = _layer_norm(x, p[k + "norm2.weight"], p[k + "norm2.bias"])
            y = y @ p[k + "mlp.fc1.weight"].T + p[k + "mlp.fc1.bias"]
            y = 0.5 * y * (1.0 + _erf(y / math.sqrt(2.0)))
            x = x + y @ p[k + "mlp.fc2.weight"].T + p[k + "mlp.fc2.bias"]
        x = _layer_norm(x, p["norm.weight"], p["norm.bias"])[:, 0]
        return x @ p["head.weight"].T + p["head.bias"]

    return forward


def open_model(args):
    """The runner's call: what a timed loop needs, as a dict of the runner's Backend fields."""
    import numpy as np

    forward = load(args.artifact)  # the runner turns a failure here into one line
    shape = [int(v) for v in read_config(args.artifact)["input_shape"]]
    return {"runtime": NAME, "version": np.__version__, "run": forward,
            "prepare": lambda x: x, "shape": shape, "dtype": "float32", "device": "CPU",
            "threads": args.threads, "precision": "fp32",
            "options": {"implementation": "edge_vit_toy.npvit_backend"}}
