"""``python -m devices.runner ...`` on a host; on a device the .pyz's own __main__ calls cli."""

import sys

from .cli import main

sys.exit(main())
