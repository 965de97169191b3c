"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_threads_seed_device(parser: argparse.ArgumentParser, device: bool = True) -> None:
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads to use (default: all available)."
    )
    parser.add_argument("--seed", type=int, default=42, help="Random seed (default: 42).")
    if device:
        parser.add_argument(
            "--device",
            default="auto",
            help=(
                "Torch device: auto (cuda, then mps, then cpu), cpu, cuda or cuda:N "
                "(default: auto)."
            ),
        )


def run_name(bed: str, name: str | None) -> str:
    """Output name: ``--name`` if given, else the BED file's stem (as ADMIXTURE does)."""
    if name:
        return name
    path = Path(bed)
    return path.name[: -len(path.suffix)] if path.suffix in (".bed", ".bim", ".fam") else path.name
