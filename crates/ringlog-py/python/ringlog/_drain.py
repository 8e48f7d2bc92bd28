"""The ``ringdrain`` command installed with the package: the drain compiled into
``ringlog._native``, with the same flags and behaviour as the Rust binary (``ringdrain --help``)."""

import signal
import sys

from ._native import drain_main


def main():
    # The drain handles SIGINT, SIGTERM and SIGHUP itself (on SIGINT/SIGTERM it writes what is
    # left in the ring, then exits 0). Python's SIGINT handler would also raise
    # KeyboardInterrupt once it returns: give the signals back to their defaults first.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    sys.exit(drain_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
