"""``python -m fullconv`` (and ``torchrun -m fullconv``)."""
import sys

from .cli import main

sys.exit(main())
