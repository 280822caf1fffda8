"""A minimal observer: models emit, views subscribe; every subscription can be disconnected."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


class Subscription:
    """Handle returned by :meth:`Event.connect`; call :meth:`disconnect` to stop receiving."""

    __slots__ = ("_callback", "_event")

    def __init__(self, event: Event, callback: Callable[..., Any]) -> None:
        self._event: Event | None = event
        self._callback = callback

    def disconnect(self) -> None:
        if self._event is not None:
            self._event._remove(self._callback)
            self._event = None


class Event:
    """A named event with a list of callbacks, called in connection order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Subscription:
        self._callbacks.append(callback)
        return Subscription(self, callback)

    def _remove(self, callback: Callable[..., Any]) -> None:
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def emit(self, *args: Any, **kwargs: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._callbacks)
