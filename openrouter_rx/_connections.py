"""Sockets of requests still waiting for their response headers, so they can be aborted.

``requests`` hands out nothing until the headers arrive, so a dispose, a deadline or
``Client.close()`` could not interrupt a request blocked in the TLS handshake, in
sending the body or in waiting for the headers. The client's adapter uses urllib3
connections that announce their socket, on the reading thread, to whatever
:func:`announce_sockets_to` registered there: when the TCP connection is made, when
it is wrapped in TLS, and when a pooled connection starts a request. Shutting that
socket down wakes the blocked thread at once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Adapter", "announce_sockets_to", "shutdown_socket"]

Listener = Callable[[socket.socket], None]

_local = threading.local()


@contextmanager
def announce_sockets_to(listener: Listener) -> Iterator[None]:
    """While the block runs, sockets of this thread's requests are passed to ``listener``."""
    previous = getattr(_local, "listener", None)
    _local.listener = listener
    try:
        yield
    finally:
        _local.listener = previous


def _announce(sock: Any) -> None:
    listener: Listener | None = getattr(_local, "listener", None)
    if listener is not None and isinstance(sock, socket.socket):
        listener(sock)


def shutdown_socket(sock: socket.socket) -> None:
    """Shut ``sock`` down in both directions (wakes a blocked send or recv); never raises."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):  # already closed, or detached by the TLS wrapper
        pass


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _announce(sock)
        return sock

    def connect(self) -> None:
        super().connect()
        _announce(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _announce(self.sock)  # a pooled connection: no connect() this time
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _announce(sock)  # the TCP socket, so the TLS handshake can be interrupted too
        return sock

    def connect(self) -> None:
        super().connect()
        _announce(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _announce(self.sock)
        super().request(*args, **kwargs)


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


def _install(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = _POOL_CLASSES


class Adapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections announce their sockets (SOCKS proxies excepted)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _install(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:
            _install(manager)
        return manager

    def close(self) -> None:
        """Close the idle pooled connections now.

        urllib3's ``PoolManager.clear()`` only forgets its pools: their connections
        close when a pool is garbage collected, which a reference cycle (a stored
        traceback) can postpone indefinitely. Connections still in use are closed
        when they are handed back to their closed pool.
        """
        managers: list[PoolManager] = [self.poolmanager, *self.proxy_manager.values()]
        for manager in managers:
            for key in manager.pools.keys():
                pool = manager.pools.get(key)
                if pool is not None:
                    pool.close()
        super().close()
