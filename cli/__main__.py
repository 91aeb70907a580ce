"""``python -m cli ...``, as ``torchrun -m cli train ...`` needs."""

import sys

from cli.main import main

sys.exit(main())
