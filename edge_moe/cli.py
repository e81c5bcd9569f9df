"""The ``edge-moe`` command. Each subcommand lives in ``edge_moe/commands/<name>.py``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from edge_moe import __version__
from edge_moe.commands import COMMANDS
from edge_moe.errors import UserError


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
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"edge-moe {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edge-moe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
