"""``python -m snap_capi_provider.emulator``: run the emulator until SIGINT/SIGTERM."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
