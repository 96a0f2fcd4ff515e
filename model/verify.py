"""Entry point `python3 -m model.verify`: the code lives in model/export/verify.py."""
import sys

from model.export.verify import main

if __name__ == '__main__':
    sys.exit(main())
