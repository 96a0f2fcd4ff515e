"""python3 -m model.export CHECKPOINT OUT_DIR [...]: see model/export/cli.py."""
import sys

from model.export.cli import main

sys.exit(main())
