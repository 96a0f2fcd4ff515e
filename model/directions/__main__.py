"""python3 -m model.directions add|ganspace|ffhq-json ...: see model/directions/cli.py."""
import sys

from model.directions.cli import main

sys.exit(main())
