"""``python -m paperboy.web.probe URL [--wait SECONDS]``: exit 0 once ``URL`` answers 200, else 1.

The health probe of the deployment files (deploy/): compose's healthchecks (one try) and the
systemd web unit's ExecStartPost (waits until the server answers /healthz), without curl in the
image. Standard library only, so it costs nothing to start.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request


def healthy(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperboy.web.probe", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=0.0, help="keep trying for this many seconds (default: one try)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per try")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        if healthy(args.url, args.timeout):
            return 0
        if time.monotonic() >= deadline:
            print(f"{args.url} is not healthy", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
