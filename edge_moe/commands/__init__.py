"""CLI subcommands, one module each.

A command module exposes ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Module
import must stay cheap and torch-free: heavy imports go inside ``run``.
"""
# (subcommand, module under edge_moe.commands)
COMMANDS: list[tuple[str, str]] = [
    ("models", "models"),
    ("info", "info"),
    ("train", "train"),
    ("val", "val"),
    ("run", "run"),
    ("export", "export"),
    ("build-engine", "build_engine"),
    ("bench", "bench"),
    ("checks", "checks"),
]
