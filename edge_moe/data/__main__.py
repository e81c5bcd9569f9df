"""``python -m edge_moe.data OUT [--spec synthetic:...]``: write the synthetic set as YOLO files."""
from edge_moe.data.synthetic import main

main()
