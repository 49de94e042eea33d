"""`python -m steering.eval evaluate|compare ...`: see `steering.eval.cli`."""
import sys

from steering.eval.cli import main

sys.exit(main())
