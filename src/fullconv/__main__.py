"""``python -m fullconv`` (and ``torchrun -m fullconv``)."""
import sys

from .cli import main

if __name__ == "__main__":  # importing it (as pytest's doctest collection does) runs nothing
    sys.exit(main())
