"""One error family: every exception class costlog defines derives from CostlogError."""

import importlib
import inspect
import pkgutil

import api
import costlog
import ingest
from costlog.errors import CostlogError


def _modules():
    for package in (costlog, ingest, api):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith(".__main__"):  # running it is all it does
                yield importlib.import_module(info.name)


def test_every_exception_costlog_defines_is_a_costlog_error() -> None:
    defined = {
        f"{module.__name__}.{name}": cls
        for module in _modules()
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }
    assert "costlog.domain.event.InvalidEvent" in defined  # the walk found the modules
    assert sorted(name for name, cls in defined.items() if not issubclass(cls, CostlogError)) == []
