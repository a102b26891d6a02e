"""``python -m bridge.cli``: how the bridge starts its own child processes."""

import sys

from bridge.cli.main import main

sys.exit(main())
