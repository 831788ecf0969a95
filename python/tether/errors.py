"""What goes wrong, as OSError subclasses carrying the errno.

A request the server refuses raises Error (its errno and the server's
text); a system call that ran and failed raises SyscallError (the errno
it returned); a connection taken over by another controller raises
TakenOver; one that ended otherwise raises Disconnected.
"""
import errno as _errno
import os


class Error(OSError):
    """The server answered a request with an error.

    errno is the server's, strerror its text; cause is the error's cause
    ("policy", "role", "timeout", "conflict", "upgrade" ...) when the
    connection asked for causes and the server named one, else None.
    """

    def __init__(self, err, text, cause=None, op=None):
        super().__init__(err, text or os.strerror(err))
        self.cause = cause
        self.op = op


class SyscallError(OSError):
    """A system call ran in the server and returned -errno.

    result is the whole Result (its outs may still matter, and cause is
    "timeout" when the call's own timeout_ms ran out).
    """

    def __init__(self, err, name, result=None):
        super().__init__(err, "%s: %s" % (name, os.strerror(err)))
        self.name = name
        self.result = result


class Disconnected(Error):
    """The connection to tetherd ended (the server closed it, or died)."""

    def __init__(self, text="connection to tetherd lost",
                 err=_errno.ECONNRESET):
        super().__init__(err, text)


class TakenOver(Disconnected):
    """Another controller attached with TAKEOVER: the ECONNABORTED notice.

    pid and uid are the new controller's, generation the one it attached
    as (all None when the notice was lost and only the end was seen).
    """

    def __init__(self, text, pid=None, uid=None, generation=None):
        super().__init__(text, _errno.ECONNABORTED)
        self.pid = pid
        self.uid = uid
        self.generation = generation
