"""Name -> class registries for scorers, selectors and metrics.

A plugin registers itself with a decorator at import time::

    @register_scorer("margin")
    class Margin(ProbabilityScorer): ...

``thresher list`` and the conformance tests walk these registries, so every entry is
listed and tested without being named anywhere else. Each entry also carries a
``make_example`` hook (a classmethod on the class) that builds an instance with
parameters suitable for small tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from thresher.errors import UnknownNameError

T = TypeVar("T")

# Packages whose modules are imported by ``load_plugins`` so that their decorators run.
# Every module in them is imported (discovered with pkgutil), so adding a file is how a
# new family appears; nothing else has to be edited.
_PLUGIN_PACKAGES: tuple[str, ...] = (
    "thresher.scores",
    "thresher.select",
    "thresher.metrics",
    "thresher.signals",
    "thresher.evaluate",
)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin: its name, class and a one-line description."""

    name: str
    cls: type[T]
    description: str


class Registry(Generic[T]):
    """A name -> class mapping for one kind of plugin."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Return a class decorator that registers the class under ``name``."""

        def deco(cls: type[T]) -> type[T]:
            if name in self._entries and self._entries[name].cls is not cls:
                raise ValueError(f"{self.kind} name {name!r} is registered twice")
            doc = (cls.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, cls, doc[0] if doc else "")
            return cls

        return deco

    def get(self, name: str) -> type[T]:
        """Return the class registered under ``name``."""
        load_plugins()
        try:
            return self._entries[name].cls
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownNameError(f"`name` of {self.kind} must be one of {known}; got {name!r}.") from None

    def create(self, name: str, **params: Any) -> T:
        """Instantiate the entry ``name`` with ``params``."""
        return self.get(name)(**params)

    def entries(self) -> list[Entry[T]]:
        """Return all entries sorted by name."""
        load_plugins()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self.entries())

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries


SCORERS: Registry[Any] = Registry("scorer")
SELECTORS: Registry[Any] = Registry("selector")
METRICS: Registry[Any] = Registry("metric")

SIGNALS: Registry[Any] = Registry("signal")
MODELS: Registry[Any] = Registry("model")
ARMS: Registry[Any] = Registry("arm")  # evaluation arms that are not subsets (e.g. RS2)

register_scorer = SCORERS.register
register_signal = SIGNALS.register
register_model = MODELS.register
register_selector = SELECTORS.register
register_arm = ARMS.register
register_metric = METRICS.register

_loaded = False


def load_plugins() -> None:
    """Import every module of the plugin packages so their registrations run (idempotent).

    A module that fails to import raises, so broken plugins are never silently hidden;
    modules must therefore import optional dependencies (torch, ray...) inside functions.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    for pkg_name in _PLUGIN_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{info.name}")
