import sys

from edge_moe.cli import main

sys.exit(main())
