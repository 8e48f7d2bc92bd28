"""The seed example of issue 18, as a new user writes it: ``basicConfig`` with a format in the
parent, five ``multiprocessing.Process`` workers logging through ``multiprocessing.get_logger()``
with a handler carrying the same Formatter.

    python seed_example.py file|ringlog TARGET N

``file``: a ``FileHandler`` on TARGET in every process (the tangling way); ``ringlog``: a
``ringlog.Handler`` on the ring TARGET in every process (a ringdrain writes the file).
"""

import logging
import multiprocessing
import sys

FMT = "%(asctime)s - %(levelname)s - %(message)s"


def make_handler(mode, target):
    if mode == "file":
        return logging.FileHandler(target)
    import ringlog

    return ringlog.Handler(target)


def worker(mode, target, n):
    logger = multiprocessing.get_logger()
    handler = make_handler(mode, target)
    handler.setFormatter(logging.Formatter(FMT))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    name = multiprocessing.current_process().name
    for i in range(n):
        logger.info("%s: record %d of %d (%.2f%%)", name, i, n, 100 * i / n)
    logger.warning("This is a warning message.")
    logger.error("%s: an error with %r", name, {"worker": name})
    try:
        {}["missing"]
    except KeyError:
        logger.exception("%s: an exception", name)
    logger.critical("%s: critical", name)


def main():
    mode, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.basicConfig(level=logging.INFO, handlers=[make_handler(mode, target)], format=FMT)
    logging.info("starting %d workers", 5)
    procs = [
        multiprocessing.Process(target=worker, args=(mode, target, n), name="Worker-%d" % k)
        for k in range(5)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
        if p.exitcode != 0:
            sys.exit("worker %s ended with %r" % (p.name, p.exitcode))
    logging.warning("This is a warning message.")


if __name__ == "__main__":
    main()
