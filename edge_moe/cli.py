"""The ``edge-moe`` command. Each subcommand lives in ``edge_moe/commands/<name>.py``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from edge_moe import __version__
from edge_moe.commands import COMMANDS
from edge_moe.errors import run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-moe", description="Mixture-of-Experts vision models from training to the edge.")
    parser.add_argument("--version", action="version", version=f"edge-moe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS:
        module = importlib.import_module(f"edge_moe.commands.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: args.run(args), f"edge-moe {args.command}")


if __name__ == "__main__":
    sys.exit(main())
