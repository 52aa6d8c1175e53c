"""Neural style transfer (Gatys et al.) on a 32x32 synthetic picture, in a few seconds on a CPU.

The feature extractor is a small random CNN (random filters already give usable Gram
statistics for textures); the image itself is the parameter that Adam optimises.
"""

import numpy as np

import pydlk
from pydlk import functional as F
from pydlk import nn, optim

pydlk.manual_seed(0)
S = 32
yy, xx = np.mgrid[0:S, 0:S] / (S - 1)
# content: a bright disc on a smooth gradient; style: diagonal colour stripes
disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.08).astype(np.float32)
content = np.stack([0.3 + 0.6 * disc, 0.2 + 0.5 * xx, 0.4 * yy + 0.2 * disc])[None]
stripes = np.sin(12 * (xx + yy))
style = np.stack([0.5 + 0.5 * stripes, 0.5 - 0.5 * stripes, 0.5 + 0.3 * np.cos(20 * xx)])[None]
content, style = content.astype(np.float32), style.astype(np.float32)

layers = nn.ModuleList(
    [
        nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)),
        nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()),
    ]
)
for p in layers.parameters():
    p.requires_grad_(False)


def features(x):
    out = []
    for layer in layers:
        x = layer(x)
        out.append(x)
    return out


with pydlk.no_grad():
    content_target = features(pydlk.tensor(content))[2].detach().numpy()
    style_grams = [F.gram_matrix(f).detach().numpy() for f in features(pydlk.tensor(style))]

image = nn.Parameter(content.copy())
opt = optim.Adam([image], lr=0.02)
style_weight = 1e4
first = best = None
for it in range(60):
    feats = features(image)
    c_loss = F.content_loss(feats[2], content_target)
    s_loss = sum(F.style_loss(f, g) for f, g in zip(feats, style_grams))
    loss = c_loss + style_weight * s_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    with pydlk.no_grad():
        image.clamp_(0.0, 1.0)
    total = float(loss)
    first = total if first is None else first
    best = total if best is None else min(best, total)
    if it % 10 == 0 or it == 59:
        print(
            f"iter {it:2d}  content {float(c_loss):.5f}  style {float(s_loss):.3e}  "
            f"total {total:.5f}"
        )
print(f"best total loss {best:.5f} (from {first:.5f} at the start)")
assert best < 0.5 * first, "the style loss should fall"
