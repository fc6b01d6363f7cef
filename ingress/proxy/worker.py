"""Entry point of a data-plane worker process (`python -m ingress.proxy.worker FD`)."""

import sys

from ingress.proxy.workers import main

if __name__ == "__main__":
    sys.exit(main())
