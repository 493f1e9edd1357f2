"""Print the folder of the `bots` package this interpreter imports (for init-db's templates)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Import Bots and print where it lives."""
    import bots  # noqa: PLC0415 - the import is the question being asked

    sys.stdout.write(os.path.dirname(bots.__file__))


if __name__ == "__main__":
    main()
