"""clusterdns: Kubernetes cluster DNS in Python."""

import sys

__version__ = "0.1.0"


def version_text() -> str:
    """``clusterdns-0.1.0`` and the platform line, as CoreDNS's banner and ``-version`` print."""
    return f"clusterdns-{__version__}\n{sys.platform}, python{sys.version.split()[0]}"
