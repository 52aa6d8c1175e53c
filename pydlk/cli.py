"""The ``pydlk`` command line: ``pydlk train``, ``pydlk info``."""
import argparse
import sys
import time


def _info(args):
    import pydlk
    pydlk.show_config()
    return 0


def _train(args):
    """Train a classifier on the bundled 8x8 digits and print the test accuracy."""
    import numpy as np

    import pydlk
    import pydlk.functional as F
    from pydlk.datasets import digits

    pydlk.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    sizes = [64, args.hidden, args.hidden, 10]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)  # torch's nn.Linear default range
        params.append(pydlk.nn.Parameter(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)))
        params.append(pydlk.nn.Parameter(rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    opt = pydlk.optim.Adam(params, lr=args.lr)

    def forward(x):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = F.relu(F.linear(h, params[i], params[i + 1]))
        return F.linear(h, params[-2], params[-1])

    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            loss = F.cross_entropy(forward(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1:3d}/{args.epochs}  train loss {total / len(order):.4f}")
    with pydlk.no_grad():
        acc = float((forward(xte).data.argmax(1) == yte).mean())
    print(f"test accuracy {acc * 100:.2f}% ({len(yte)} images) in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="pydlk", description="pydlk: train neural networks on CPUs")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a classifier on the bundled digits")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_train)
    i = sub.add_parser("info", help="print the build and runtime configuration")
    i.set_defaults(func=_info)
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
