"""Entry point `python3 -m model.fidelity`: the code lives in model/eval/fidelity.py."""
import sys

from model.eval.fidelity import main

if __name__ == '__main__':
    sys.exit(main())
