"""Allow ``python -m bots_runtime``."""

from bots_runtime.cli import main

raise SystemExit(main())
