"""System call arguments as they travel (tether-protocol(7), SYSCALL).

An int is a register value; a str a NUL-terminated string (the server
adds the NUL); bytes-like an input buffer.  The classes below are the
tagged arguments.  After a call, every Out, InOut and DataOut holds the
buffer's contents in .value.
"""
import errno

from .errors import Error

TAG_OUT, TAG_INOUT, TAG_REF, TAG_DATA_IN, TAG_DATA_OUT = 1, 2, 3, 4, 5


class In:
    """An input buffer: data copied into the server (bytes work too)."""

    def __init__(self, data):
        self.data = bytes(data)

    def wire(self):
        return self.data


class Out:
    """An output buffer of size zeroed bytes; .value after the call (cut
    to the result for read-like calls, see TRIM)."""

    def __init__(self, size):
        self.size = int(size)
        self.value = None

    def wire(self):
        return [TAG_OUT, self.size]


class InOut:
    """size bytes starting with data (size defaults to len(data)); the
    call's view of them afterwards in .value."""

    def __init__(self, data, size=None):
        self.data = bytes(data)
        self.size = len(self.data) if size is None else int(size)
        if len(self.data) > self.size:
            raise Error(errno.EINVAL, "InOut: %d bytes exceed its size %d"
                        % (len(self.data), self.size))
        self.value = None

    def wire(self):
        return [TAG_INOUT, self.data, self.size]


class Ref:
    """In a batch: the result of entry k."""

    def __init__(self, k):
        self.k = int(k)

    def wire(self):
        return [TAG_REF, self.k]


class DataIn:
    """An input buffer of size bytes whose contents go over the data
    socket (up to 256 MiB): bytes-like, or a binary file read to size."""

    def __init__(self, source, size=None):
        self.source = source
        if size is None:
            size = len(source)
        self.size = int(size)

    def wire(self):
        return [TAG_DATA_IN, self.size]


class DataOut:
    """An output buffer of size bytes that comes back over the data
    socket (up to 256 MiB); .value after the call."""

    def __init__(self, size):
        self.size = int(size)
        self.value = None

    def wire(self):
        return [TAG_DATA_OUT, self.size]


def encode(args):
    """The wire form of a call's arguments."""
    out = []
    for a in args:
        if isinstance(a, bool) or a is None:
            raise Error(errno.EINVAL, "argument %r: use an int" % (a,))
        if isinstance(a, (int, str)):
            out.append(a)
        elif isinstance(a, (bytes, bytearray, memoryview)):
            out.append(bytes(a))
        elif hasattr(a, "wire"):
            out.append(a.wire())
        else:
            raise Error(errno.EINVAL, "argument %r of type %s" %
                        (a, type(a).__name__))
    return out


class Result:
    """What a system call returned: ret (the raw value or -errno), outs
    (one per argument: None, or an output buffer's bytes), cause (a
    cause the server named, "timeout"), errno (0 or the error number).
    An asynchronous call answered at once has async_id and state
    instead, and ret None."""

    __slots__ = ("name", "ret", "outs", "cause", "async_id", "state")

    def __init__(self, name, ret=None, outs=(), cause=None, async_id=None,
                 state=None):
        self.name, self.ret, self.outs = name, ret, list(outs or ())
        self.cause, self.async_id, self.state = cause, async_id, state

    @property
    def errno(self):
        return -self.ret if self.ret is not None and -4096 < self.ret < 0 \
            else 0

    def __repr__(self):
        if self.async_id is not None:
            return "Result(%s, async_id=%d, state=%r)" % (
                self.name, self.async_id, self.state)
        return "Result(%s, ret=%r, outs=%r)" % (self.name, self.ret,
                                                self.outs)


def fill(args, outs):
    """Put a reply's outs into the call's Out/InOut objects."""
    for a, o in zip(args, outs):
        if isinstance(a, (Out, InOut)) and isinstance(o, (bytes, bytearray)):
            a.value = bytes(o)
