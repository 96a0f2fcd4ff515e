"""Entry point `python3 -m model.bench`: the code lives in model/eval/bench.py."""
import sys

from model.eval.bench import main

if __name__ == '__main__':
    sys.exit(main())
