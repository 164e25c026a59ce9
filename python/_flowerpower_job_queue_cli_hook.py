"""flowerpower-job-queue's start-up hook (run by flowerpower_job_queue_cli_hook.pth):
adds the ``flowerpower.cli_extensions`` entry points, ``flowerpower queue`` among them,
to FlowerPower's command when ``flowerpower.cli`` is imported. The why and how are in
``flowerpower_job_queue/_cli_hook.py``.

Every interpreter start-up imports this module, so it stays tiny: only ``os`` and
``sys`` (already loaded), no annotations, nothing done until ``flowerpower.cli`` is
imported. It never raises; ``FPQ_DISABLE_CLI_HOOK=1`` turns it off, ``FPQ_DEBUG=1``
reports what it swallowed.
"""

import os
import sys

TARGET = "flowerpower.cli"


def _debug(what, exc):
    if os.environ.get("FPQ_DEBUG", "") not in ("", "0"):
        try:
            sys.stderr.write(f"flowerpower-job-queue: {what}: {type(exc).__name__}: {exc}\n")
        except Exception:  # noqa: BLE001, S110 - reporting must never break start-up
            pass


class _Loader:
    """flowerpower.cli's own loader, then the extensions. The real loader is put back
    before FlowerPower's code runs, so nothing later sees this one."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        except Exception as exc:  # noqa: BLE001
            _debug("cannot restore the loader of flowerpower.cli", exc)
        self._loader.exec_module(module)  # FlowerPower's own errors are its own
        try:
            from flowerpower_job_queue._cli_hook import extend

            extend(module)
        except Exception as exc:  # noqa: BLE001 - never break FlowerPower's command
            _debug("cannot add the flowerpower command-line extensions", exc)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder:
    """Finds nothing itself: wraps the loader of flowerpower.cli once, then leaves."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        try:
            uninstall()
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                spec = find(fullname, path, target) if find is not None else None
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)
                    return spec
        except Exception as exc:  # noqa: BLE001 - the normal import goes on without us
            _debug("cannot hook flowerpower.cli", exc)
        return None


_FINDER = _Finder()


def install():
    """Puts the finder first on sys.meta_path (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall():
    """Takes the finder off sys.meta_path."""
    try:
        sys.meta_path.remove(_FINDER)
    except ValueError:
        pass


try:
    if os.environ.get("FPQ_DISABLE_CLI_HOOK", "") in ("", "0") and TARGET not in sys.modules:
        install()
except Exception as _exc:  # noqa: BLE001 - never break interpreter start-up
    _debug("cannot install the flowerpower command-line hook", _exc)
