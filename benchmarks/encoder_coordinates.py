"""Ablation of the encoder's input width (not run in CI): ``neuradmix train --extra-coordinates E``
for several E on the training samples of an 80/20 split, each head reading K - 1 + E principal
coordinates, against the default (``auto``: none up to the structure the axes resolve, three per
dimension of the simplex beyond it; ``neuradmix.neural.model.head_extras``).

    python benchmarks/encoder_coordinates.py --cohort benchmarks/data/coalescent/coalescent \\
        --k 4 --extra auto 0 2 4 8

For every E: the forward pass's gap to the maximum-likelihood optimum on the training samples
(the best of ``neuradmix em`` and every run here), its RMSE(Q) against the truth where the
cohort has one, and on the held-out samples the RMSE between ``neuradmix infer`` (one forward
pass) and the projection optimum given the network's F (``neuradmix project``). Times are whole
processes (interpreter start-up, reading, fitting, writing) as ``/usr/bin/time -v`` reports them.
Prints Markdown; ``--out FILE`` also writes it there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from neural_vs_peers import Cohort, split  # noqa: E402

from neuradmix import layout  # noqa: E402
from neuradmix.data import read_q  # noqa: E402
from neuradmix.neural.checkpoint import load_model  # noqa: E402
from neuradmix.stats.metrics import rmse_q  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", required=True, help="PLINK prefix (split 80/20)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument(
        "--extra",
        nargs="+",
        default=["auto", "0", "2", "4", "8"],
        help="E values; auto: the default (no --extra-coordinates)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    k, threads, seed = args.k, str(args.threads), str(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "split").mkdir()
        train_prefix, held_prefix = split(args.cohort, root / "split")
        cohort = Cohort(train_prefix, root / "train")
        held_n = peers.load(held_prefix).n_samples
        em_dir = root / "em"
        peers.measure(
            peers.neuradmix(
                "em", train_prefix, "--k", k, "--out", em_dir, "--name", "em",
                "--threads", threads, "--seed", seed,
            )
        )  # fmt: skip
        best = cohort.score(layout.q_file(em_dir, "em", k), layout.p_file(em_dir, "em", k))
        rows = []
        for extra in args.extra:
            out = root / f"e{extra}"
            q, p = layout.q_file(out, "net", k), layout.p_file(out, "net", k)
            width = [] if extra == "auto" else ["--extra-coordinates", extra]
            trained = peers.measure(
                peers.neuradmix(
                    "train", train_prefix, "--k", k, "--out", out, "--name", "net",
                    *width, "--threads", threads, "--seed", seed,
                )
            )  # fmt: skip
            ll = cohort.score(q, p)
            best = max(best, ll)
            model = layout.model_file(out, "net")
            inputs = load_model(model).model.heads[0].n_inputs
            peers.measure(
                peers.neuradmix(
                    "infer", held_prefix, "--model", model, "--out", out, "--name", "held",
                    "--threads", threads,
                )
            )  # fmt: skip
            peers.measure(
                peers.neuradmix(
                    "project", held_prefix, "--p", p, "--out", out, "--name", "projected",
                    "--threads", threads, "--quiet",
                )
            )  # fmt: skip
            forward = read_q(layout.q_file(out, "held", k), held_n)
            projected = read_q(layout.q_file(out, "projected", k), held_n)
            rows.append(
                (
                    extra,
                    inputs,
                    ll,
                    cohort.rmse(q),
                    rmse_q(forward, projected),
                    trained.wall_seconds,
                )
            )
    lines = [
        f"### Encoder input width: {cohort.title}, K={k}, {threads} threads",
        "",
        "| extra coordinates | coordinates per head | gap to optimum | RMSE(Q) vs truth "
        "| held-out: forward pass vs projection optimum (RMSE) | train wall s |",
        "|---|---|---|---|---|---|",
    ]
    for extra, inputs, ll, truth_rmse, held_rmse, wall in rows:
        truth_text = "" if truth_rmse is None else f"{truth_rmse:.4f}"
        lines.append(
            f"| {extra} | {inputs} | {(best - ll) / abs(best):.1e} | {truth_text} "
            f"| {held_rmse:.4f} | {wall:.1f} |"
        )
    lines += ["", f"- optimum: the best of `neuradmix em` and every run here ({best:,.3f})"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
