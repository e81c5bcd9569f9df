"""The ``edge-moe`` command. Each subcommand lives in ``edge_moe/commands/<name>.py``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from edge_moe import __version__
from edge_moe.commands import COMMANDS
from edge_moe.commands.values import OneLineParser
from edge_moe.errors import UserError, run_main

# a module a command needs -> how to get it (the runtime-only and Jetson installs leave some out)
EXTRAS = {
    "torch": "pip install 'edge-moe[train]' (or 'edge-moe[export]' to export; the runtime-only install has no torch)",
    "onnx": "pip install 'edge-moe[export]'",
    "onnxscript": "pip install 'edge-moe[export]'",
    "pycocotools": "pip install 'edge-moe[train]'",
    "skimage": "pip install 'edge-moe[train]'",
    "matplotlib": "pip install 'edge-moe[runtime]'",
    "onnxruntime": "pip install 'edge-moe[onnxruntime]' (on a Jetson: NVIDIA's onnxruntime-gpu wheel for JetPack)",
    "cv2": "on a Jetson use JetPack's OpenCV (sudo apt install python3-opencv) in a venv made with "
           "python3 -m venv --system-site-packages; elsewhere pip install 'edge-moe[opencv]'",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="edge-moe", description="Mixture-of-Experts vision models from training to the edge.")
    parser.add_argument("--version", action="version", version=f"edge-moe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser)
    for name, module_name in COMMANDS:
        module = importlib.import_module(f"edge_moe.commands.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a bad value (already printed as one line)
        return int(done.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # which options were given (train --resume checks them)
    return run_main(lambda: _run(args), f"edge-moe {args.command}")


def _run(args: argparse.Namespace) -> Optional[int]:
    """Runs the command; a module missing from this install is one line that says how to get it."""
    try:
        return args.run(args)
    except ModuleNotFoundError as error:
        root = (error.name or "").split(".")[0]
        if root not in EXTRAS:
            raise
        raise UserError(f"needs the {root} module, which this install lacks: {EXTRAS[root]}") from None


if __name__ == "__main__":
    sys.exit(main())
