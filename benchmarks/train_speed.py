"""Training speed and accuracy of Neural ADMIXTURE on a planted PSD cohort.

    python benchmarks/train_speed.py                      # N=2000, M=100,000, K=5, 2 threads
    python benchmarks/train_speed.py --paper-encoder      # also time the paper's raw-input encoder
    /usr/bin/time -v python benchmarks/train_speed.py     # whole-process wall time and peak RSS

The cohort (F_ST 0.1, Dirichlet alpha 0.5) is simulated once and cached in benchmarks/out/, so
repeated runs time the training alone. Prints a JSON summary: seconds per epoch (median), total
training time (PCA, initialisation and epochs), peak RSS, final log-likelihood and RMSE(Q) against
the planted truth. Not a test: numbers go in the issue notes.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neuradmix.classic.likelihood import log_likelihood
from neuradmix.data import make_genotypes
from neuradmix.neural.config import TrainConfig
from neuradmix.neural.train import train
from neuradmix.runtime import set_threads
from neuradmix.simulation.psd import simulate_psd
from neuradmix.stats.metrics import rmse_q

OUT = Path(__file__).resolve().parent / "out"


def cohort(n, m, k, seed):
    path = OUT / f"psd_n{n}_m{m}_k{k}_s{seed}.npz"
    if path.is_file():
        data = np.load(path)
        return data["calls"], data["q"], data["p"]
    planted = simulate_psd(n, m, k, fst=0.1, alpha=0.5, seed=seed)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, calls=planted.genotypes.calls, q=planted.q, p=planted.p)
    return planted.genotypes.calls, planted.q, planted.p


def paper_encoder_epoch(calls, batch=256, hidden=512) -> float:
    """Seconds for one epoch of the paper's encoder input layer on raw genotypes.

    Batch norm on the genotypes and the M x 512 first layer, forward and backward, for every
    minibatch: the cost the PCA projection removes (the rest of the network is shared).
    """
    n, m = calls.shape
    layer = torch.nn.Sequential(torch.nn.BatchNorm1d(m), torch.nn.Linear(m, hidden))
    optimiser = torch.optim.Adam(layer.parameters(), lr=1e-4)
    started = time.perf_counter()
    for start in range(0, n, batch):
        rows = calls[start : start + batch]
        x = torch.from_numpy(np.where(rows == 3, 1.0, rows / 2.0).astype(np.float32))
        loss = layer(x).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--snps", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init", default="pckmeans+als", choices=["pckmeans+als", "pckmeans"])
    parser.add_argument("--stop-on", default="train", choices=["train", "validation"])
    parser.add_argument("--epochs", type=int, default=TrainConfig(ks=[2]).epochs)
    parser.add_argument("--paper-encoder", action="store_true")
    args = parser.parse_args()

    calls, q_true, p_true = cohort(args.samples, args.snps, args.k, args.seed)
    set_threads(args.threads)
    genotypes = make_genotypes(calls)
    config = TrainConfig(
        ks=[args.k],
        threads=args.threads,
        device="cpu",
        seed=args.seed,
        init=args.init,
        stop_on=args.stop_on,
        epochs=args.epochs,
    )
    result = train(genotypes, config, progress=False)
    q, p = result.q[args.k], result.p[args.k]
    epoch_seconds = result.history["seconds"].to_numpy()
    summary = {
        "samples": args.samples,
        "snps": args.snps,
        "k": args.k,
        "threads": args.threads,
        "init": args.init,
        "epochs": int(result.epochs_run),
        "best_epoch": int(result.best_epoch),
        "seconds_per_epoch_median": float(np.median(epoch_seconds)),
        "seconds_before_first_epoch": float(result.seconds - epoch_seconds.sum()),
        "seconds_total": float(result.seconds),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "log_likelihood": log_likelihood(calls, q, p),
        "log_likelihood_truth": log_likelihood(calls, q_true, p_true),
        "rmse_q": rmse_q(q, q_true),
    }
    if args.paper_encoder:
        torch.set_num_threads(args.threads)  # a dense torch layer: give it every thread
        summary["paper_encoder_input_layer_seconds_per_epoch"] = paper_encoder_epoch(calls)
    json.dump(summary, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
