"""ringlog for Python: a ``logging.Handler`` that writes into a ringlog shared-memory ring.

Each record becomes one small binary record in a lock-free ring in a memory-mapped file (by
default ``/dev/shm/ringlog-NAME``); the ``ringdrain`` process formats the messages and writes
the log file. Nothing is formatted, pickled, locked or written to a file on the logging thread,
and what a process logged before it crashed is still in the ring for the drain.

    import logging, ringlog

    logging.basicConfig(level=logging.INFO, handlers=[ringlog.Handler("myapp")])
    logging.getLogger("app.http").info("request %d served in %.2f ms by %s", 7, 1.75, "w1")

and, in another process: ``ringdrain --ring myapp --out app.log``.

The message is formatted by the drain, exactly as ``record.getMessage()`` would: the template
(``record.msg``) is registered once per call site and the arguments travel in binary (int, float,
bool, str, bytes, None; other objects as their ``str()``/``repr()``). Records the drain cannot
reproduce exactly (mapping arguments, a non-str ``msg``, ``%c``, ``*`` widths, arguments ``%``
would reject) are formatted with ``record.getMessage()`` in the calling process instead, so
errors are reported by ``Handler.handleError`` just as with any other handler. Tracebacks
(``exc_info``) and ``stack_info`` are formatted here and sent as the fields ``exc_text`` and
``stack_info``.
"""

import logging
import os
import sys

from ._native import Sink, __version__, format_percent

__all__ = ["Handler", "format_percent", "__version__"]

_PY312 = sys.version_info >= (3, 12)
_DEFAULT_FORMATTER = logging.Formatter()


class Handler(logging.Handler):
    """Writes records into the ringlog ring ``ring``.

    ``ring``: a ring name (``/dev/shm/ringlog-NAME``) or a path (anything with a ``/``); the ring
    is created if it does not exist yet (``slot_count`` slots of ``slot_size`` bytes; defaults:
    2**20 x 64 bytes), else opened as it is.

    ``policy``: what a full ring does to the logging call. ``"block"`` (default) waits for the
    drain, so nothing is lost, but never forever: with no live drain the record is dropped and
    counted. ``"drop"`` never waits (drops are counted and the drain reports them). A number
    waits at most that many seconds. While it waits, the calling thread keeps the GIL.

    Thread and fork safety: ``emit`` may be called from any thread at once (the ring is
    lock-free and the native part runs under the GIL without releasing it), so ``handle`` does
    not take the handler's lock; the lock still exists for ``logging``'s own use and is reset
    in forked children by ``logging`` as for every handler. A handler created before ``fork()``
    keeps working in the child. Handlers pickle as their settings (``ring``, ``level``,
    ``policy``), so one can be passed to ``spawn``/``forkserver`` processes, where it opens the
    same ring.
    """

    def __init__(self, ring, level=logging.NOTSET, policy="block", slot_count=None, slot_size=None):
        super().__init__(level)
        self.ring = os.fspath(ring)
        self.policy = policy
        self._sizes = (slot_count, slot_size)
        self._sink = Sink(
            self.ring, policy, _DEFAULT_FORMATTER.formatException, slot_count, slot_size
        )
        self._emit = self._sink.emit

    @property
    def path(self):
        """The ring's file path."""
        return self._sink.path

    def handle(self, record):
        # logging.Handler.handle without the handler lock (see the class docs): filters, then
        # emit, with emit's error handling inlined to save a call.
        if self.filters:
            rv = self.filter(record)
            if not rv:
                return rv
            if isinstance(rv, logging.LogRecord):
                record = rv
        else:
            rv = record if _PY312 else True
        try:
            self._emit(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        return rv

    def emit(self, record):
        try:
            self._emit(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def setFormatter(self, fmt):
        """Only the formatter's ``formatException`` is used (for ``exc_text``): the message,
        time and layout are the drain's."""
        super().setFormatter(fmt)
        self._sink.set_format_exception((fmt or _DEFAULT_FORMATTER).formatException)

    def flush(self):
        """Nothing to do: a record is in the shared ring when ``emit`` returns."""

    def stats(self):
        """Records dropped and truncated in the ring so far, by all its producers."""
        dropped, truncated = self._sink.stats()
        return {"dropped": dropped, "truncated": truncated}

    def drain_alive(self):
        """Whether a ringdrain is attached to the ring and alive."""
        return self._sink.drain_alive()

    def __reduce__(self):
        return (Handler, (self.ring, self.level, self.policy) + self._sizes)

    def __repr__(self):
        level = logging.getLevelName(self.level)
        return "<%s %s (%s)>" % (self.__class__.__name__, self.ring, level)
