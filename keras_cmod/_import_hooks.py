"""One-shot hooks around the first import of a module (stdlib only).

Two places need to act when a heavy third-party module is first imported,
without importing it themselves: the package registers its Keras classes
right after `keras` loads (so `import keras_cmod` stays free of Keras), and
the command line hides TensorFlow's C++ start-up log while `tensorflow`
loads. Both go through `on_first_import`.
"""

import importlib.abc
import sys


class _WrappedLoader(importlib.abc.Loader):
    """Runs the real loader's `exec_module` through `wrapper(run)`."""

    def __init__(self, loader, wrapper):
        self.loader = loader
        self.wrapper = wrapper

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        def run():
            try:
                self.loader.exec_module(module)
            finally:
                # The module keeps its real loader (reloads, resources).
                module.__loader__ = self.loader
                if getattr(module, "__spec__", None) is not None:
                    module.__spec__.loader = self.loader

        self.wrapper(run)


class _FirstImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self, fullname, wrapper):
        self.fullname = fullname
        self.wrapper = wrapper

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.fullname:
            return None
        remove(self)  # one import only; also avoids finding ourselves
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _WrappedLoader(spec.loader, self.wrapper)
        return spec


def on_first_import(fullname, wrapper):
    """Runs the first import of `fullname` as `wrapper(run)`.

    `run()` executes the module's code; `wrapper` may do work before and
    after it (and must call it once). Nothing happens if the module is
    already imported. Returns the installed finder (pass it to `remove`),
    or `None`.
    """
    if fullname in sys.modules:
        return None
    finder = _FirstImportFinder(fullname, wrapper)
    sys.meta_path.insert(0, finder)
    return finder


def installed(fullname):
    """Whether a hook for `fullname` is waiting for its import."""
    return any(isinstance(f, _FirstImportFinder) and f.fullname == fullname
               for f in sys.meta_path)


def remove(finder):
    """Uninstalls a hook returned by `on_first_import` (idempotent)."""
    if finder is not None and finder in sys.meta_path:
        sys.meta_path.remove(finder)
