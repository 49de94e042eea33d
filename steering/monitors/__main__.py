import sys

from steering.monitors.cli import main

sys.exit(main())
