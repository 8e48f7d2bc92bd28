"""ringlog for Python: a ``logging.Handler`` that writes into a ringlog shared-memory ring.

Each record becomes one small binary record in a lock-free ring in a memory-mapped file (by
default ``/dev/shm/ringlog-NAME``); the ``ringdrain`` process formats the messages and writes
the log file. Nothing is formatted, pickled, locked or written to a file on the logging thread,
and what a process logged before it crashed is still in the ring for the drain.

    import logging, ringlog

    logging.basicConfig(level=logging.INFO, handlers=[ringlog.Handler("myapp")])
    logging.getLogger("app.http").info("request %d served in %.2f ms by %s", 7, 1.75, "w1")

and, in another process: ``ringdrain --ring myapp --out app.log``.

The handler's Formatter is honoured: with one (``setFormatter``, or ``logging.basicConfig(format=...,
handlers=[ringlog.Handler(...)])``), the drain's text output holds exactly the lines a
``FileHandler`` with that Formatter would write (``%``, ``{`` and ``$`` styles, ``datefmt``,
local time as ``time.localtime`` gives it, ``,mmm`` milliseconds, tracebacks on the following
lines). The Formatter's settings are sent once per call site as a line layout and the drain
renders it; a Formatter the drain cannot reproduce (a subclass overriding ``format``,
``formatTime``, ``formatMessage``, ``usesTime`` or ``formatStack``, another ``converter``,
``defaults=``, attributes such as ``relativeCreated``, rarer specs) is run here, in the calling
process, and its finished line is sent instead: the same file, at the cost of formatting on the
caller. ``Handler.line_mode`` says which (``"native"``, ``"layout"``, ``"caller"``). Without a
Formatter the drain writes ringlog's own text line. Rust records in the same ring keep their
format, and ``--format json``/``logfmt`` keep every attribute as a field, unformatted. The
Formatter is read when it is set: set it again after changing it.

The message is formatted by the drain, exactly as ``record.getMessage()`` would: the template
(``record.msg``) is registered once per call site and the arguments travel in binary (int, float,
bool, str, bytes, None; other objects as their ``str()``/``repr()``). Records the drain cannot
reproduce exactly (mapping arguments, a non-str ``msg``, ``%c``, ``*`` widths, arguments ``%``
would reject) are formatted with ``record.getMessage()`` in the calling process instead, so
errors are reported by ``Handler.handleError`` just as with any other handler. Tracebacks
(``exc_info``) and ``stack_info`` are formatted here and sent as the fields ``exc_text`` and
``stack_info``. ``extra={...}`` attributes become fields (int, float, bool, str, bytes and None
in binary, other values as their ``str()``), as do ``threadName`` (unless ``MainThread``),
``processName`` (unless ``MainProcess``) and ``taskName`` (inside an asyncio task).

``ringlog.install()`` (once, early) lets loggers whose only output is a ``ringlog.Handler`` skip
``logging``'s record machinery: see its docs.

Runtime control: ``ringdrain level RING DIRECTIVES`` (``debug``, ``info,app.db=trace`` written
``app::db``) sets filter directives on the ring that every producer process applies, Python
ones included: the directives' levels become the ``logging`` levels of the root logger and of
the loggers they name (``a::b`` is the logger ``a.b``); other loggers' own levels and the
handler's level are set to ``NOTSET`` so they follow, and everything is restored by
``ringdrain level RING --reset``. A process applies a change at its next logging call through
``install()``'s loggers (they check the ring's control generation first: one native call), or
else at the next record that reaches a ``ringlog.Handler``.
"""

import itertools
import logging
import os
import sys
import time
import warnings
import weakref

from ._native import Sink, __version__, format_percent

__all__ = ["Handler", "install", "format_percent", "__version__"]

_PY312 = sys.version_info >= (3, 12)
_DEFAULT_FORMATTER = logging.Formatter()
# Frames of these files are not the caller's (what logging.Logger.findCaller skips, plus ours).
_INTERNAL_FILES = (logging._srcfile, os.path.normcase(__file__))


class Handler(logging.Handler):
    """Writes records into the ringlog ring ``ring``.

    ``ring``: a ring name (``/dev/shm/ringlog-NAME``) or a path (anything with a ``/``); the ring
    is created if it does not exist yet (``slot_count`` slots of ``slot_size`` bytes; defaults:
    2**20 x 64 bytes), else opened as it is.

    ``policy``: what a full ring does to the logging call. ``"block"`` (default) waits for the
    drain, so nothing is lost, but never forever: with no live drain the record is dropped and
    counted. ``"drop"`` never waits (drops are counted and the drain reports them). A number
    waits at most that many seconds. Waiting releases the GIL, so other threads run meanwhile;
    in an event loop every wait stalls the loop, so give it a bound there (``policy=0.05``: at
    most 50 ms per record, then the record is dropped and counted).

    Thread and fork safety: ``emit`` may be called from any thread at once (the ring is
    lock-free and the native part holds no lock while it could wait), so ``handle`` does not
    take the handler's lock; the lock still exists for ``logging``'s own use and is reset
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
            self.ring,
            policy,
            _DEFAULT_FORMATTER.formatException,
            slot_count,
            slot_size,
            [f for f in _INTERNAL_FILES if f],
        )
        self._emit = self._sink.emit
        self.line_mode = "native"
        self._apply_formatter(self.formatter)
        _ctl_watch(self)

    def __setattr__(self, name, value):
        # What install()'s fast path relies on: it is recomputed when these change.
        if name == "filters" and type(value) is list:
            value = _WatchedList(value)
        if name in ("level", "filters"):
            _changed()
        object.__setattr__(self, name, value)
        if name == "formatter" and "_sink" in self.__dict__:
            self._apply_formatter(value)

    def _apply_formatter(self, fmt):
        """Sends the Formatter's settings to the native side (see the module docs)."""
        sink = self._sink
        sink.set_format_exception((fmt or _DEFAULT_FORMATTER).formatException)
        if fmt is None:
            sink.set_layout(None)
            mode = "native"
        else:
            settings = _layout_settings(fmt)
            if settings is None:
                sink.format_on_caller()
                mode = "caller"
            else:
                mode = "layout" if sink.set_layout(*settings) else "caller"
        object.__setattr__(self, "line_mode", mode)
        _changed()

    @property
    def path(self):
        """The ring's file path."""
        return self._sink.path

    def handle(self, record):
        # logging.Handler.handle without the handler lock (see the class docs): filters, then
        # emit, with emit's error handling inlined to save a call.
        if self._sink.control_changed() and _control_apply(self):
            # Directives from `ringdrain level` changed the levels: this record may be out now.
            logger = logging.getLogger(record.name) if record.name != "root" else logging.root
            if record.levelno < logger.getEffectiveLevel() or record.levelno < self.level:
                return False
        if self.filters:
            rv = self.filter(record)
            if not rv:
                return rv
            if isinstance(rv, logging.LogRecord):
                record = rv
        else:
            rv = record if _PY312 else True
        try:
            if not self._emit(record):
                self._emit(record, self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        return rv

    def emit(self, record):
        try:
            if not self._emit(record):
                # The Formatter formats this record here; its line is sent finished.
                self._emit(record, self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def setFormatter(self, fmt):
        """Sets the Formatter whose lines the drain writes for this handler (see the module
        docs); ``None``: ringlog's own text line."""
        super().setFormatter(fmt)

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
        return (Handler, (self.ring, self.level, self.policy) + self._sizes,
                {"formatter": self.formatter})

    def __setstate__(self, state):
        self.setFormatter(state.get("formatter"))

    def __repr__(self):
        level = logging.getLevelName(self.level)
        return "<%s %s (%s)>" % (self.__class__.__name__, self.ring, level)


# The Formatter methods the drain reproduces; a subclass overriding any of them is run here.
_FORMATTER_METHODS = ("format", "formatTime", "formatMessage", "usesTime", "formatStack")
_STD_LEVELS = ((10, "DEBUG"), (20, "INFO"), (30, "WARNING"), (40, "ERROR"), (50, "CRITICAL"))
_STYLES = {logging.PercentStyle: "%", logging.StrFormatStyle: "{",
           logging.StringTemplateStyle: "$"}


def _layout_settings(fmt):
    """The arguments of ``Sink.set_layout`` for ``fmt``, or None if the drain cannot run it."""
    cls = type(fmt)
    if not isinstance(fmt, logging.Formatter):
        return None
    for name in _FORMATTER_METHODS:
        if getattr(cls, name, None) is not getattr(logging.Formatter, name):
            return None
    if not (logging.logThreads and logging.logProcesses and logging.logMultiprocessing):
        return None  # records then hold None where the drain would write the defaults
    if any(logging.getLevelName(n) != name for n, name in _STD_LEVELS):
        return None  # a standard level renamed with addLevelName
    style = getattr(fmt, "_style", None)
    char = _STYLES.get(type(style))
    if char is None or getattr(style, "_defaults", None):
        return None
    if fmt.converter is time.localtime:
        utc = False
    elif fmt.converter is time.gmtime:
        utc = True
    else:
        return None
    text = style._fmt
    datefmt = fmt.datefmt
    time_format = fmt.default_time_format
    msec_format = fmt.default_msec_format
    if not (type(text) is str and type(time_format) is str
            and type(datefmt) in (str, type(None)) and type(msec_format) in (str, type(None))):
        return None
    return (char, text, datefmt, time_format, msec_format, utc, os.environ.get("TZ"))
# --- runtime control: directives set by `ringdrain level` ------------------------------------
#
# Python's level checks are logging's, so a change on a ring's control page is applied to
# logging's levels (see the module docs). The handlers whose rings are watched are kept weakly;
# install()'s loggers check the newest one's ring on every call (one native call, `_ctl_check`).

_PY_LEVELS = {
    "off": logging.CRITICAL + 1,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}
_ctl_handlers = weakref.WeakSet()
# [(object, its own level)] while directives from a control page are applied.
_ctl_saved = []


def _never_changed():
    return False


_ctl_check = [_never_changed]


def _ctl_watch(handler):
    _ctl_handlers.add(handler)
    _ctl_check[0] = handler._sink.control_changed


def _ctl_poll():
    """Applies a change on a watched ring's control page."""
    for h in list(_ctl_handlers):
        if h._sink.control_changed():
            _control_apply(h)


def _control_apply(handler):
    """Reads ``handler``'s ring's control page and applies it to logging's levels; True if
    the levels changed."""
    ok, directives = handler._sink.control_take()
    if not ok:
        return False
    with _logging_lock():
        for obj, level in reversed(_ctl_saved):
            obj.setLevel(level)
        del _ctl_saved[:]
        if directives is None:
            return True
        default, targets = directives
        named = {t.replace("::", "."): _PY_LEVELS.get(lvl, logging.ERROR) for t, lvl in targets}
        _ctl_saved.append((logging.root, logging.root.level))
        logging.root.setLevel(_PY_LEVELS.get(default, logging.ERROR))
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name not in named and logger.level:
                _ctl_saved.append((logger, logger.level))
                logger.setLevel(logging.NOTSET)
        for name, level in named.items():
            logger = logging.getLogger(name)
            _ctl_saved.append((logger, logger.level))
            logger.setLevel(level)
        for h in list(_ctl_handlers):
            if h.level:
                _ctl_saved.append((h, h.level))
                h.setLevel(logging.NOTSET)
    return True


# --- install(): the fast path ------------------------------------------------------------------
#
# A logger of install()'s class checks, on each call past the level check, whether its only
# output is one ringlog.Handler (no filters on it or on the logger, no other handler on the
# propagation path, a plain record factory). If so, the call goes straight to the handler's
# native `log_fast` with the caller's frame: no LogRecord, no findCaller, no handler lock. The
# answer is cached per logger with the generation number it was computed at; every change that
# could alter it (handlers, filters, propagate, parent, handler levels, the record factory,
# logging's own _clear_cache on level changes) takes a new generation number.

_generations = itertools.count(1)
_gen = [0]


def _changed():
    # next() on a count is atomic under the GIL: each change takes a number no cached route
    # has, so a route computed concurrently with a change is recomputed on the next call.
    _gen[0] = next(_generations)


class _WatchedList(list):
    """A logger's or handler's ``handlers``/``filters`` list: changing it invalidates the fast
    path's cached routes."""

    __slots__ = ()

    def _wrap(name):
        method = getattr(list, name)

        def changed(self, *args):
            r = method(self, *args)
            _changed()
            return r

        changed.__name__ = name
        return changed

    for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
                  "insert", "remove", "pop", "clear", "sort", "reverse"):
        locals()[_name] = _wrap(_name)
    del _name, _wrap

    def __reduce__(self):
        return (list, (list(self),))


# The logger methods the fast path replaces; a base class that overrides any of these (or the
# methods the full path runs) keeps the full path.
_PATH_METHODS = ("findCaller", "makeRecord", "_log", "handle", "callHandlers", "isEnabledFor",
                 "debug", "info", "warning", "error", "critical", "log", "fatal", "warn")
_NO_ROUTE = (None, None, 0)
_getframe = sys._getframe


def _is_internal_frame(frame):
    filename = os.path.normcase(frame.f_code.co_filename)
    return filename in _INTERNAL_FILES or ("importlib" in filename and "_bootstrap" in filename)


def _fast_method(level, name):
    def method(self, msg, *args, **kwargs):
        if self.disabled:
            return
        if _ctl_check[0]():
            _ctl_poll()
        enabled = self._cache.get(level)
        if enabled is None:
            enabled = self.isEnabledFor(level)
        if not enabled:
            return
        r = self._ringlog
        if r[0] != _gen[0]:
            r = self._ringlog_route()
        fast = r[1]
        if fast is not None:
            if level < r[2]:
                return  # below the handler's level: the full path would write nothing
            try:
                if not kwargs:
                    if fast(level, self.name, msg, args, _getframe(1)):
                        return
                elif len(kwargs) == 1 and "extra" in kwargs:
                    if fast(level, self.name, msg, args, _getframe(1), kwargs["extra"]):
                        return
            except Exception:
                pass  # the full path raises it again, and its handler reports it
        self._log(level, msg, args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(logging.Logger, name).__doc__
    return method


class _FastLogger:
    """Mixed into the logger class by install(): see ``install``."""

    _ringlog = (-1, None, 0)

    def __setattr__(self, name, value):
        if name in ("handlers", "filters") and type(value) is list:
            value = _WatchedList(value)
        if name in ("handlers", "filters", "propagate", "parent"):
            _changed()
        object.__setattr__(self, name, value)

    def _ringlog_route(self):
        """(generation, fast function or None, handler level), computed now and cached."""
        gen = _gen[0]
        fast, level = None, 0
        if not self.filters and type(self)._ringlog_plain:
            found = []
            c = self
            while c:
                if not isinstance(c, _FastLogger):
                    found = None  # a logger install() does not watch: the full path
                    break
                found.extend(c.handlers)
                if not c.propagate:
                    break
                c = c.parent
            if found and len(found) == 1:
                h = found[0]
                if (isinstance(h, Handler) and not h.filters and h.line_mode != "caller"
                        and type(h).handle is Handler.handle and type(h).emit is Handler.emit
                        and logging.getLogRecordFactory() is logging.LogRecord):
                    fast, level = h._sink.log_fast, h.level
        r = self._ringlog = (gen, fast, level)
        return r

    debug = _fast_method(logging.DEBUG, "debug")
    info = _fast_method(logging.INFO, "info")
    warning = _fast_method(logging.WARNING, "warning")
    error = _fast_method(logging.ERROR, "error")
    critical = _fast_method(logging.CRITICAL, "critical")
    fatal = critical

    def log(self, level, msg, *args, **kwargs):
        """As ``logging.Logger.log``."""
        if not isinstance(level, int):
            if logging.raiseExceptions:
                raise TypeError("level must be an integer")
            return
        if self.disabled:
            return
        if _ctl_check[0]():
            _ctl_poll()
        enabled = self._cache.get(level)
        if enabled is None:
            enabled = self.isEnabledFor(level)
        if not enabled:
            return
        r = self._ringlog
        if r[0] != _gen[0]:
            r = self._ringlog_route()
        fast = r[1]
        if fast is not None:
            if level < r[2]:
                return
            try:
                if not kwargs:
                    if fast(level, self.name, msg, args, _getframe(1)):
                        return
                elif len(kwargs) == 1 and "extra" in kwargs:
                    if fast(level, self.name, msg, args, _getframe(1), kwargs["extra"]):
                        return
            except Exception:
                pass
        self._log(level, msg, args, **kwargs)

    def findCaller(self, stack_info=False, stacklevel=1):
        """As ``logging.Logger.findCaller`` (Python 3.11+), also skipping ringlog's frames."""
        f = _getframe(0)
        while stacklevel > 0:
            next_f = f.f_back
            if next_f is None:
                break
            f = next_f
            if not _is_internal_frame(f):
                stacklevel -= 1
        co = f.f_code
        sinfo = None
        if stack_info:
            import io
            import traceback

            with io.StringIO() as sio:
                sio.write("Stack (most recent call last):\n")
                traceback.print_stack(f, file=sio)
                sinfo = sio.getvalue()
                if sinfo[-1] == "\n":
                    sinfo = sinfo[:-1]
        return co.co_filename, f.f_lineno, co.co_name, sinfo


_fast_classes = {}


def _fast_class(base):
    """``base`` with the fast path mixed in; ``None`` if ``base`` changes the logging path."""
    if issubclass(base, _FastLogger):
        return base
    if base in _fast_classes:
        return _fast_classes[base]
    std = logging.RootLogger if issubclass(base, logging.RootLogger) else logging.Logger
    for name in _PATH_METHODS:
        if getattr(base, name) is not getattr(std, name):
            return None
    cls = _fast_classes[base] = type(
        "Ringlog" + base.__name__, (_FastLogger, base), {"__module__": __name__, "_ringlog_plain": True}
    )
    return cls


def _watch(logger, cls):
    logger.__class__ = cls
    # Through __setattr__: the lists become watched ones, and the generation moves.
    logger.handlers = list(logger.handlers)
    logger.filters = list(logger.filters)


_installed = []


def install():
    """Switches on the fast path for loggers whose only output is a ``ringlog.Handler``.

    Call it once per process, early (before loggers are made is best; existing loggers of the
    plain ``logging.Logger`` class and the root logger are converted too). It sets a
    ``logging.Logger`` subclass as the logger class (``logging.setLoggerClass``). For a logger
    of that class, when the record would reach exactly one handler on its propagation path,
    that handler is a ``ringlog.Handler`` with no filters, the logger has no filters and the
    record factory is ``LogRecord``, a ``debug``/``info``/``warning``/``error``/``critical``/
    ``log`` call without keyword arguments other than ``extra`` goes from the level check
    straight into the ring: no ``LogRecord`` is made, the caller's file, line and function are
    read from its frame (and its callsite id cached per code location, natively). The record
    in the log file is identical to the one the full path writes. Anything else (another
    handler or a filter anywhere on the path, ``exc_info``, ``stack_info``, ``stacklevel``,
    custom levels, a message the drain cannot render) takes the full ``logging`` path. Changes
    made later (handlers, filters, levels, ``propagate``) are taken into account on the next
    call.

    If another logger class that changes how records are made was set (it overrides
    ``makeRecord``, ``_log``, ``handle``...), ``install()`` warns and changes nothing.
    Calling it again is harmless.
    """
    with _logging_lock():
        if _installed:
            return
        cls = _fast_class(logging.getLoggerClass())
        if cls is None:
            warnings.warn(
                "ringlog.install(): the logger class %r changes how records are made; the fast"
                " path stays off" % logging.getLoggerClass(), RuntimeWarning, stacklevel=2)
            return
        root_cls = _fast_class(type(logging.root))
        logging.setLoggerClass(cls)
        if root_cls is not None:
            _watch(logging.root, root_cls)
        manager = logging.Logger.manager
        for logger in list(manager.loggerDict.values()):
            if type(logger) is logging.Logger:
                _watch(logger, cls)
        clear_cache = manager._clear_cache

        def _clear_cache():
            clear_cache()
            _changed()

        manager._clear_cache = _clear_cache
        set_factory = logging.setLogRecordFactory

        def setLogRecordFactory(factory):
            set_factory(factory)
            _changed()

        setLogRecordFactory.__doc__ = set_factory.__doc__
        logging.setLogRecordFactory = setLogRecordFactory
        _installed.append(cls)
        _changed()


class _logging_lock:
    """logging's module lock, as a context manager on every supported Python."""

    def __enter__(self):
        if hasattr(logging, "_acquireLock"):
            logging._acquireLock()
        else:  # 3.13+
            logging._lock.acquire()

    def __exit__(self, *exc):
        if hasattr(logging, "_releaseLock"):
            logging._releaseLock()
        else:
            logging._lock.release()
