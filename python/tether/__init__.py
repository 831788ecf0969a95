"""tether: a Python client for tetherd, the persistent syscall server.

    import tether
    c = tether.Client(None)            # the default socket, like libtether
    fd = c.call("openat", c.consts.AT_FDCWD, "/etc/hostname",
                c.consts.O_RDONLY)
    buf = tether.Out(64)
    n = c.call("read", fd, buf, 64)    # buf.value: the bytes read
    c.label(fd, "hostname")
    c.close()                          # detach: the server keeps fd 3

See python/README and tether-protocol(7).
"""
from .args import DataIn, DataOut, In, InOut, Out, Ref, Result
from .client import (ASYNC, DETACH_CANCEL, NOTRIM, OPS, SYNC, TRIM, Client)
from .consts import for_arch
from .errors import Disconnected, Error, SyscallError, TakenOver
from .paths import default_socket_path
from .start import start
from .wire import HAVE_XXH3

__all__ = [
    "Client", "Error", "SyscallError", "Disconnected", "TakenOver",
    "In", "Out", "InOut", "Ref", "DataIn", "DataOut", "Result",
    "TRIM", "NOTRIM", "ASYNC", "DETACH_CANCEL", "SYNC", "OPS",
    "default_socket_path", "for_arch", "HAVE_XXH3", "start",
]
