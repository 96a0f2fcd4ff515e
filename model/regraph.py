"""Entry point `python3 -m model.regraph`: the code lives in model/export/regraph.py."""
import sys

from model.export.regraph import main

if __name__ == '__main__':
    sys.exit(main())
