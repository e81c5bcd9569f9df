"""`edge-moe models`: the model zoo."""
from __future__ import annotations

import argparse
import json

HELP = "list the model zoo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # a runtime-only install: the catalogue shipped with the package
        from edge_moe.zoo import ZOO as rows
    else:
        from edge_moe.models.registry import describe_models

        rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<12} {'imgsz':>5} {'experts':>7} {'top_k':>5}  description")
    for row in rows:
        print(f"{row['name']:<12} {row['imgsz']:>5} {row['experts']:>7} {row['top_k']:>5}  {row['description']}")
    return 0
