"""No network access while packs are built: a guard on Python's socket module, in-process and in kernels.

While the guard is active, opening a connection to anything but this machine
raises :class:`NetworkDisabledError` naming the address, before any packet is
sent: ``socket.socket.connect``, ``connect_ex``, ``sendto`` and ``sendmsg``,
``socket.create_connection``, and the name lookups ``getaddrinfo``,
``gethostbyname``, ``gethostbyname_ex`` and ``gethostbyaddr`` all check first.
Allowed: loopback addresses (``127.0.0.0/8``, ``::1``, IPv4-mapped loopback),
the unspecified address (``0.0.0.0``, ``::``, ``""``, which the kernel routes
to this machine), the name ``localhost``, and Unix and netlink sockets.

Kernels are separate processes. :func:`kernel_environment` gives the
variables that make every Python process started with them turn the guard on
as it starts (``netguard_site/sitecustomize.py``), so the runner merges them
into the kernels' environment; :func:`no_network` guards the runner itself.

The guard covers Python code (urllib, http.client, requests, urllib3,
asyncio, ssl). Native libraries that open sockets themselves (ZMQ, which the
kernel uses to talk to its client on 127.0.0.1; libcurl; DuckDB's extension
downloader) do not go through it; only the operating system (a container or
network namespace without a network) stops those.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from evalkit.errors import EvalkitError

logger = logging.getLogger(__name__)

ENV_VARIABLE = "EVALKIT_NO_NETWORK"  # "1" in a process's environment turns the guard on as Python starts
SITE_FOLDER = Path(__file__).resolve().with_name("netguard_site")  # holds the kernels' sitecustomize.py
LOCAL_NAMES = frozenset({"", "localhost", "localhost."})  # resolved from /etc/hosts, never by DNS
_UNCHECKED_FAMILIES = frozenset(getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name))
_IP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_LOCK = threading.Lock()
_ORIGINALS: dict[tuple[object, str], Callable | None] = {}  # (owner, name) -> what the guard replaced;
# None where the name was inherited (socket.socket's methods come from _socket.socket), so it is deleted again


class NetworkDisabledError(EvalkitError, ConnectionRefusedError):
    """A connection or name lookup was refused because packs are built without network access.

    ``target`` is what was tried (``host:port``, or a host name). It is both an
    :class:`EvalkitError` and a :class:`ConnectionRefusedError`, so code that
    handles refused connections (``except OSError``) handles it too.
    """

    def __init__(self, target: str):
        self.target = target
        super().__init__(f"evalkit: network access is disabled while building packs (tried {target}). "
                         "Packs must be built from local files only: read the data from data/processed/.")

    def __reduce__(self):
        return (type(self), (self.target,))


_ALLOWED: set[str] = set()
"""Hosts let through while a ``no_network(allow=...)`` block is open (e.g. a Dask scheduler's address)."""


def _is_local(host: object) -> bool:
    """True for a host that never leaves this machine (see the module docstring), or one explicitly allowed."""
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard or loopback address, no lookup
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip().lower()
    if name in LOCAL_NAMES or name.strip("[]") in _ALLOWED:
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]").split("%", 1)[0])  # IPv6 scope (fe80::1%eth0) dropped
    except ValueError:
        return False  # a name that would need a DNS lookup
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _target(host: object, port: object = None) -> str:
    host = host.decode("ascii", errors="replace") if isinstance(host, (bytes, bytearray)) else str(host)
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_address(family: int, address: object) -> None:
    if family in _UNCHECKED_FAMILIES:
        return
    if family not in _IP_FAMILIES or not isinstance(address, tuple) or len(address) < 2:
        raise NetworkDisabledError(f"{address!r} (address family {family})")
    host, port = address[0], address[1]
    if not _is_local(host):
        logger.info("Refused a connection to %s", _target(host, port))
        raise NetworkDisabledError(_target(host, port))


def _check_host(host: object, port: object = None) -> None:
    if not _is_local(host):
        logger.info("Refused a name lookup of %s", _target(host, port))
        raise NetworkDisabledError(_target(host, port))


def _guard_method(original: Callable, address_at: Callable[[tuple], object]) -> Callable:
    """A socket method that checks the address ``address_at`` picks from its arguments (None: none given)."""

    @functools.wraps(original)
    def guarded(self, *args):
        address = address_at(args)
        if address is not None:
            _check_address(self.family, address)
        return original(self, *args)

    return guarded


def _guard_lookup(original: Callable) -> Callable:
    """A module-level lookup function whose first argument (host) must be local."""

    @functools.wraps(original)
    def guarded(host, *args, **kwargs):
        _check_host(host, args[0] if args else kwargs.get("port"))
        return original(host, *args, **kwargs)

    return guarded


def _guard_create_connection(original: Callable) -> Callable:
    @functools.wraps(original)
    def guarded(address, *args, **kwargs):
        _check_host(address[0], address[1])
        return original(address, *args, **kwargs)

    return guarded


_ADDRESS_ARGUMENT = {  # where each socket method takes its address; None when the call has none
    "connect": lambda args: args[0] if args else None,
    "connect_ex": lambda args: args[0] if args else None,
    "sendto": lambda args: args[-1] if len(args) >= 2 else None,  # sendto(data[, flags], address)
    "sendmsg": lambda args: args[3] if len(args) >= 4 else None,  # sendmsg(buffers[, ancdata[, flags[, address]]])
}


def _replacements() -> dict[tuple[object, str], Callable[[Callable], Callable]]:
    found: dict[tuple[object, str], Callable[[Callable], Callable]] = {
        (socket.socket, name): functools.partial(_guard_method, address_at=pick)
        for name, pick in _ADDRESS_ARGUMENT.items() if hasattr(socket.socket, name)
    }
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        found[(socket, name)] = _guard_lookup
    found[(socket, "create_connection")] = _guard_create_connection
    return found


def is_active() -> bool:
    """Whether the guard is on in this process."""
    return bool(_ORIGINALS)


def activate() -> None:
    """Turn the guard on in this process (nothing happens if it is already on)."""
    with _LOCK:
        if _ORIGINALS:
            return
        for (owner, name), make in _replacements().items():
            original = getattr(owner, name)
            _ORIGINALS[(owner, name)] = original if name in vars(owner) else None
            setattr(owner, name, make(original))
    logger.debug("Network guard on in process %d", os.getpid())


def deactivate() -> None:
    """Turn the guard off, restoring the socket functions it replaced (nothing happens if it is off)."""
    with _LOCK:
        for (owner, name), original in _ORIGINALS.items():
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        _ORIGINALS.clear()
    logger.debug("Network guard off in process %d", os.getpid())


@contextlib.contextmanager
def no_network(allow: Iterable[str] = ()) -> Iterator[None]:
    """Guard this process for the duration of the block; a guard already on stays on afterwards.

    ``allow`` names hosts (names or addresses) still reachable inside the block, such as the Dask scheduler
    the runner talks to; the data and the notebooks never need any.
    """
    already = is_active()
    added = {h.strip().lower().strip("[]") for h in allow} - _ALLOWED
    _ALLOWED.update(added)
    activate()
    try:
        yield
    finally:
        _ALLOWED.difference_update(added)
        if not already:
            deactivate()


def kernel_environment() -> dict[str, str]:
    """Environment variables that turn the guard on in every Python process started with them.

    ``PYTHONPATH`` is the site folder followed by the current ``PYTHONPATH``
    (if any), so Python imports ``netguard_site/sitecustomize.py`` as it starts;
    ``EVALKIT_NO_NETWORK`` is ``1``. Merge both into a kernel's environment
    (they replace, not add to, the variables of the same names).
    """
    current = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
               if entry and Path(entry).resolve() != SITE_FOLDER]
    return {"PYTHONPATH": os.pathsep.join([str(SITE_FOLDER), *current]), ENV_VARIABLE: "1"}


__all__ = ["ENV_VARIABLE", "NetworkDisabledError", "SITE_FOLDER", "activate", "deactivate", "is_active",
           "kernel_environment", "no_network"]
