"""`edge-moe checks`: what this machine has for edge-moe, each part OK, missing or a warning with its fix."""
from __future__ import annotations

import argparse
import json

HELP = "report Python, OpenCV, ONNX Runtime, TensorRT(-RTX), CUDA, GPU, Jetson and camera status, and which jobs work here"
MARKS = {"ok": "OK     ", "missing": "missing", "warning": "warning"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON: {checks: [{name, status, detail, fix}], jobs: {job: bool}}")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)  # a fake filesystem root (tests)


def format_report(report: dict) -> str:
    lines = []
    for check in report["checks"]:
        fix = f"  -> {check['fix']}" if check["fix"] else ""
        lines.append(f"{MARKS[check['status']]}  {check['name']:<12} {check['detail']}{fix}")
    works = [job for job, ok in report["jobs"].items() if ok]
    lacking = [job for job, ok in report["jobs"].items() if not ok]
    lines.append(f"works here: {', '.join(works) or 'nothing yet'}" + (f"; not here: {', '.join(lacking)}" if lacking else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edge_moe.environment.probes import report, run_checks

    result = report(run_checks(Path(args.root)))
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0  # missing optional parts are findings, not failures
