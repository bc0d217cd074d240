"""Train a model on a CSV and write the bundle in model/ (see ``python train.py --help``)."""

import sys

from formcast.cli import main

if __name__ == "__main__":
    sys.exit(main())
