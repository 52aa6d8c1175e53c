"""One whole training step of a small GPT (2 pre-norm blocks, d_model 256, 4 heads, causal
scaled_dot_product_attention, GELU MLP, tied-free LM head over 512 tokens; batch 16 x 128
tokens): forward, cross-entropy, backward, AdamW. The same script runs on pydlk and on torch
(``lib`` is either module), same threads. No NumPy row: the per-op benchmarks carry those.
The same step under each library's CPU autocast (bf16 products, float32 master weights) in a
group of its own. Also the embedding backward against NumPy's ``np.add.at`` and torch."""

import numpy as np

import pydlk
import pydlk.functional as F

V, T, D, H, L, B = 512, 128, 256, 4, 2, 16
GROUP = f"GPT train step ({L} blocks, d {D}, batch {B}x{T})"
GROUP_AC = f"GPT train step under autocast bf16 ({L} blocks, d {D}, batch {B}x{T})"


def _gpt(lib):
    nn, fn = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
            q, k, v = (z.view(b, t, H, d // H).transpose(1, 2) for z in (q, k, v))
            y = fn.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(b, t, d))
            return x + self.out(fn.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(T, D)
            self.blocks = nn.ModuleList([Block() for _ in range(L)])
            self.ln, self.head = nn.LayerNorm(D), nn.Linear(D, V, bias=False)

        def forward(self, idx, targets):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1]))
            for blk in self.blocks:
                x = blk(x)
            logits = self.head(self.ln(x))
            return fn.cross_entropy(logits.view(-1, V), targets.view(-1))

    return GPT()


def _step(lib, rng, autocast=False):
    lib.manual_seed(0)
    model = _gpt(lib)
    opt = lib.optim.AdamW(model.parameters(), lr=3e-4)
    idx = lib.tensor(rng.integers(0, V, (B, T)))
    tgt = lib.tensor(rng.integers(0, V, (B, T)))

    def step():
        opt.zero_grad(set_to_none=True)
        with lib.autocast(device_type="cpu", dtype=lib.bfloat16, enabled=autocast):
            loss = model(idx, tgt)
        loss.backward()
        opt.step()

    step()
    return step


def test_gpt_step_pydlk(benchmark, rng):
    benchmark.group = GROUP
    benchmark(_step(pydlk, rng))


def test_gpt_step_torch(benchmark, rng, torch):
    benchmark.group = GROUP
    benchmark(_step(torch, rng))


def test_gpt_step_autocast_pydlk(benchmark, rng):
    benchmark.group = GROUP_AC
    benchmark(_step(pydlk, rng, autocast=True))


def test_gpt_step_autocast_torch(benchmark, rng, torch):
    benchmark.group = GROUP_AC
    benchmark(_step(torch, rng, autocast=True))


# ----------------------------------------------------------------------------- embedding backward

EMB = f"embedding backward ({B * T} rows of {D}, {V} weights)"


def _emb(rng):
    return rng.standard_normal((B * T, D)).astype(np.float32), rng.integers(0, V, B * T)


def test_embedding_backward_pydlk(benchmark, rng):
    benchmark.group = EMB
    dy, idx = _emb(rng)
    w = pydlk.zeros(V, D, requires_grad=True)
    i, g = pydlk.tensor(idx), pydlk.tensor(dy)

    def step():
        w.grad = None
        F.embedding(i, w).backward(g)

    benchmark(step)


def test_embedding_backward_numpy(benchmark, rng):
    benchmark.group = EMB
    dy, idx = _emb(rng)

    def step():
        dw = np.zeros((V, D), np.float32)
        np.add.at(dw, idx, dy)
        return dw

    benchmark(step)


def test_embedding_backward_torch(benchmark, rng, torch):
    benchmark.group = EMB
    dy, idx = _emb(rng)
    w = torch.zeros(V, D, requires_grad=True)
    i, g = torch.tensor(idx), torch.tensor(dy)

    def step():
        w.grad = None
        torch.nn.functional.embedding(i, w).backward(g)

    benchmark(step)
