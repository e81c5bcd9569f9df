"""A pytest plugin (loaded by tests/conftest.py): the end of every run says how many tests were skipped and why,
so a machine without ffmpeg or an RTSP server never passes quietly with fewer tests."""
from __future__ import annotations

from collections import Counter


def pytest_terminal_summary(terminalreporter) -> None:
    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if not reasons:
        return
    terminalreporter.section(f"{sum(reasons.values())} tests SKIPPED, by reason", yellow=True)
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count:4d}  {reason}")
