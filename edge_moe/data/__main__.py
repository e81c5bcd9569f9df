"""``python -m edge_moe.data OUT [--spec synthetic:...|digits:...]``: write the synthetic or digits set as YOLO files."""
import sys

from edge_moe.data.synthetic import main
from edge_moe.errors import run_main

sys.exit(run_main(main, "python -m edge_moe.data"))
