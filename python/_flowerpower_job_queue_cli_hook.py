"""flowerpower-job-queue's post-import hooks: run a function right after a module has
been imported, without importing it.

Two things use it. At interpreter start-up (``flowerpower_job_queue_cli_hook.pth``
imports this module) it arranges for ``flowerpower.cli`` to get the
``flowerpower.cli_extensions`` entry points, ``flowerpower queue`` among them, the moment
FlowerPower's command is imported (``flowerpower_job_queue/_cli_hook.py`` says why and
how). And ``import flowerpower_job_queue`` uses it to add the queue methods to
``FlowerPowerProject`` when ``flowerpower`` is imported, in whichever order the two
imports happen.

Every interpreter start-up imports this module, so it stays tiny: only ``os`` and
``sys`` (already loaded), no annotations, nothing done until a target is imported. It
never raises into an import; ``FPQ_DISABLE_CLI_HOOK=1`` turns the start-up use off and
``FPQ_DEBUG=1`` reports what it swallowed.
"""

import os
import sys

CLI_TARGET = "flowerpower.cli"


def debug(what, exc):
    """Reports a swallowed error on stderr, only when FPQ_DEBUG=1."""
    if os.environ.get("FPQ_DEBUG", "") not in ("", "0"):
        try:
            sys.stderr.write(f"flowerpower-job-queue: {what}: {type(exc).__name__}: {exc}\n")
        except Exception:  # noqa: BLE001, S110 - reporting must never break start-up
            pass


_pending = {}  # type: dict[str, list]  # module name -> functions waiting for it


class _Loader:
    """The target's own loader, then the functions waiting for it. The real loader is put
    back before the module's code runs, so nothing later sees this one."""

    def __init__(self, name, loader):
        self._name = name
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        except Exception as exc:  # noqa: BLE001
            debug(f"cannot restore the loader of {self._name}", exc)
        self._loader.exec_module(module)  # the module's own errors are its own
        # Only a successful import uses the functions up: a failed one leaves them for
        # the next attempt.
        for function in _pending.pop(self._name, ()):
            try:
                function(module)
            except Exception as exc:  # noqa: BLE001 - never break the import
                debug(f"cannot finish importing {self._name}", exc)
        if not _pending:
            _uninstall()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder:
    """Finds nothing itself: for a module someone waits for, it asks the other finders
    and wraps the loader of what they found."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _pending:
            return None
        try:
            for finder in sys.meta_path:
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                spec = find(fullname, path, target) if find is not None else None
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(fullname, spec.loader)
                    return spec
        except Exception as exc:  # noqa: BLE001 - the normal import goes on without us
            debug(f"cannot hook {fullname}", exc)
        return None


_FINDER = _Finder()


def after_import(name, function):
    """Calls function(module) once the module called name has been imported (by
    anyone). The caller checks sys.modules first: a module imported already is not
    imported again, so the function would wait forever."""
    _pending.setdefault(name, []).append(function)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _uninstall():
    try:
        sys.meta_path.remove(_FINDER)
    except ValueError:
        pass


def _extend_cli(module):
    from flowerpower_job_queue._cli_hook import extend

    extend(module)


try:
    if os.environ.get("FPQ_DISABLE_CLI_HOOK", "") in ("", "0") and CLI_TARGET not in sys.modules:
        after_import(CLI_TARGET, _extend_cli)
except Exception as _exc:  # noqa: BLE001 - never break interpreter start-up
    debug("cannot install the flowerpower command-line hook", _exc)
