"""Run a callback right after some other module is imported, without importing it ourselves.

acai_hf uses this to register its classes with transformers' Auto* factories: importing those
factories pulls in torch, which `import acai_hf` must not do, yet `AutoTokenizer.from_pretrained`
has to find our classes by name once the factory is in use.
"""
import importlib
import importlib.abc
import sys


def run_after_import(module_name: str, callback_ref: str) -> None:
    """Call the function named by `callback_ref` ("package.module:function") with the module
    `module_name` as soon as that module is imported; at once if it already is."""
    if module_name in sys.modules:
        _call(callback_ref, sys.modules[module_name])
    else:
        sys.meta_path.insert(0, _AfterImportFinder(module_name, callback_ref))


def _call(callback_ref: str, module) -> None:
    module_path, function_name = callback_ref.split(":")
    getattr(importlib.import_module(module_path), function_name)(module)


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: lets the other finders locate the module, then wraps its loading."""

    def __init__(self, module_name: str, callback_ref: str):
        self.module_name = module_name
        self.callback_ref = callback_ref

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module_name:
            return None
        spec = self._find_with_other_finders(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        loader_exec_module = loader.exec_module

        def exec_module_then_call_back(module):
            loader_exec_module(module)
            loader.exec_module = loader_exec_module
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _call(self.callback_ref, module)

        # Patch the loader instance for this one load, so module.__loader__ stays the real loader.
        loader.exec_module = exec_module_then_call_back
        return spec

    def _find_with_other_finders(self, fullname, path, target):
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        return None
