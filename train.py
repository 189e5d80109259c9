"""The one entry point: python train.py [RECIPE.yaml] [key=value ...]; see rapo_lite/cli.py."""

import sys

from rapo_lite.cli import main

if __name__ == "__main__":
    sys.exit(main())
