"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..compute import ENGINE_CHOICES
from ..errors import InputError


def _number(kind, smallest, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value >= smallest or value != value:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


# argparse types: a bad value ends in one line naming the option, before any file is read.
positive_int = _number(int, 1, "a positive integer")
non_negative_int = _number(int, 0, "a non-negative integer")
at_least_two = _number(int, 2, "an integer of at least 2")
positive_float = _number(float, 1e-300, "a positive number")
non_negative_float = _number(float, 0.0, "a non-negative number")


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads``: the one definition, for every command that computes."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads to use (default: all available).",
    )


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="Random seed (default: 42).")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help=(
            "Torch device: auto (cuda, then mps, then cpu), cpu, cuda or cuda:N (default: auto)."
        ),
    )


def add_threads_seed_device(parser: argparse.ArgumentParser, device: bool = True) -> None:
    add_threads(parser)
    add_seed(parser)
    if device:
        add_device(parser)


def add_engine(parser: argparse.ArgumentParser) -> None:
    """``--engine``: which compute engine runs the passes over the genotypes."""
    parser.add_argument(
        "--engine",
        default="auto",
        choices=ENGINE_CHOICES,
        help="compute engine of the passes over the genotypes: numba (fused kernels, CPU "
        "only), torch (blocked tensors, any device) or auto (torch on cuda, numba otherwise; "
        "default)",
    )


def run_name(bed: str, name: str | None) -> str:
    """Output name: ``--name`` if given, else the BED file's stem (as ADMIXTURE does)."""
    if name:
        return name
    path = Path(bed)
    return path.name[: -len(path.suffix)] if path.suffix in (".bed", ".bim", ".fam") else path.name


def requested_ks(args, default: int | None = None) -> list[int]:
    """The K values of ``--k`` or ``--min-k``/``--max-k``; ``default`` when neither is given."""
    if args.k is None and args.min_k is None and args.max_k is None and default is not None:
        return [default]
    if args.k is not None:
        if args.min_k is not None or args.max_k is not None:
            raise InputError("give either --k or --min-k/--max-k, not both.")
        return [args.k]
    if args.min_k is None or args.max_k is None:
        raise InputError("give --k K, or both --min-k and --max-k.")
    if args.min_k < 1 or args.max_k < args.min_k:
        raise InputError(f"--min-k {args.min_k} --max-k {args.max_k}: need 1 <= min-k <= max-k.")
    return list(range(args.min_k, args.max_k + 1))


def parse_pairs(items, option: str, example: str = "NAME=PATH") -> dict[str, str]:
    """``NAME=VALUE`` command-line pairs (repeatable options such as ``--data val=val.bed``)."""
    pairs = {}
    for item in items or []:
        name, sep, value = str(item).partition("=")
        if not sep or not name or not value:
            raise InputError(f"{option} {item!r}: expected {example}, e.g. {option} {example}.")
        pairs[name] = value
    return pairs


def add_inputs(parser: argparse.ArgumentParser, keys: str) -> None:
    """``--inputs JSON``: a manifest of the options ``keys`` describes, as the workflow writes
    it (rule job_inputs); read by :func:`merge_inputs`."""
    parser.add_argument(
        "--inputs",
        metavar="JSON",
        help=(
            f"A manifest giving {keys} as a JSON object (keys as the options, with '_' for "
            "'-'), as the workflow writes it; options given on the command line take precedence."
        ),
    )


def merge_inputs(args: argparse.Namespace, pairs: tuple[str, ...] = (), extra=()) -> dict:
    """Fill the options ``args`` lacks from the ``--inputs`` manifest (a JSON object keyed by
    option); ``pairs`` are repeated NAME=VALUE options, given there as objects NAME: VALUE (or
    NAME: [VALUE, ...] for a name that comes back). Returns the manifest's keys in ``extra``."""
    if args.inputs is None:
        return {}
    path = Path(args.inputs)
    if not path.is_file():
        raise InputError(f"--inputs {path}: file not found.")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"--inputs {path}: not valid JSON ({exc}).") from None
    if not isinstance(manifest, dict):
        raise InputError(f"--inputs {path}: expected a JSON object.")
    unknown = sorted(set(manifest) - set(vars(args)) - set(extra))
    if unknown:
        raise InputError(
            f"--inputs {path}: unknown key(s) {', '.join(unknown)}; the keys are the options "
            "of this command."
        )
    for key, value in manifest.items():
        if key in extra or getattr(args, key) not in (None, []):
            continue
        if key in pairs:
            if not isinstance(value, dict):
                raise InputError(f"--inputs {path}: '{key}' must be a JSON object NAME: VALUE.")
            value = [
                f"{name}={item}"
                for name, items in value.items()
                for item in (items if isinstance(items, list) else [items])
            ]
        setattr(args, key, value)
    return {key: manifest[key] for key in extra if key in manifest}


def require_options(args: argparse.Namespace, *options: str) -> None:
    """Options that may come from the command line or the ``--inputs`` manifest, but must come."""
    for option in options:
        if not getattr(args, option):
            raise InputError(
                f"--{option.replace('_', '-')} is required (on the command line or in --inputs)."
            )


def add_resume_options(parser: argparse.ArgumentParser, unit: str = "iterations") -> None:
    """``--checkpoint``, ``--resume``, ``--checkpoint-every`` and ``--checkpoint-minutes``."""
    group = parser.add_argument_group(
        "resume checkpoints (for jobs that may be stopped, e.g. by a cluster's time limit)"
    )
    group.add_argument(
        "--checkpoint",
        metavar="FILE",
        help=(
            "save the run's state to FILE (a resume checkpoint, .npz; not a trained model) "
            f"every --checkpoint-every {unit} or --checkpoint-minutes, whichever comes first, "
            "and when stopped by SIGTERM or Ctrl-C; if FILE exists the run continues from it "
            "(refused, with the reason, when it was made for other data, K or options), so a "
            "re-submitted job carries on; deleted once the run finishes"
        ),
    )
    group.add_argument(
        "--resume",
        metavar="FILE",
        help=(
            "continue from this checkpoint, which must exist and match the data and options "
            "(saving goes on to --checkpoint, or to FILE without it)"
        ),
    )
    group.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=10,
        metavar="N",
        help=f"save every N {unit} (default: %(default)s)",
    )
    group.add_argument(
        "--checkpoint-minutes",
        type=positive_float,
        default=5.0,
        metavar="MIN",
        help="save at least every MIN minutes (default: %(default)s)",
    )


def resume_options(args) -> dict:
    return {
        "checkpoint": args.checkpoint,
        "resume": args.resume,
        "checkpoint_every": args.checkpoint_every,
        "checkpoint_minutes": args.checkpoint_minutes,
    }
