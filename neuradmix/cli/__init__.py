"""``neuradmix`` command line: argument parsing only; each subcommand calls the package layers.

Each module in this package defines ``register(subparsers)``, which adds its subcommands and sets
``func`` on them; ``func(args)`` does the work and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from .. import __version__
from ..errors import InputError

# One module per group of subcommands; add a name here to add a group.
COMMAND_MODULES: list[str] = ["neural", "classic", "simulate", "steps", "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuradmix",
        description="Neural ADMIXTURE: ADMIXTURE-compatible ancestry estimation with autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"neuradmix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


class Terminated(Exception):
    """SIGTERM (a scheduler's time limit or `scancel`), handled as Ctrl-C is."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    else:
        previous = None
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"neuradmix {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuradmix: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("neuradmix: terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
