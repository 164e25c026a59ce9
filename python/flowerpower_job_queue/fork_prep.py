"""Making fork isolation cheap: huge pages for the prepared parent, and counting what each
job process costs in minor page faults.

A fork copies the parent's page tables, and a job process that writes to a page the
parent shares with it takes a minor fault and copies the page. With FlowerPower, Hamilton
and pandas loaded the parent maps ~180 MB: with 4 KiB pages that is ~45,000 page-table
entries to copy per fork. Transparent huge pages map 2 MiB at a time, so a fork copies far
fewer entries (measured in issue 14: fork of the executor 8.4-9.8 ms -> 5.0 ms). The
kernel gives them only to regions asked for (``madvise`` mode, the common default) or to
all (``always``); this module asks for the parent's large anonymous regions once it is
prepared, and does nothing where the kernel says ``never``.

Example:
    >>> advise_huge_pages() >= 0
    True
"""

from __future__ import annotations

import os

__all__ = ["ChildFaults", "advise_huge_pages", "huge_pages_mode"]

_THP = "/sys/kernel/mm/transparent_hugepage/enabled"
_MADV_HUGEPAGE = 14  # linux/mman.h
_HUGE = 2 << 20


def huge_pages_mode() -> str:
    """The kernel's transparent huge page mode: "always", "madvise", "never", or
    "unavailable" (no such setting: not Linux, or THP compiled out).

    Example:
        >>> huge_pages_mode() in ("always", "madvise", "never", "unavailable")
        True
    """
    try:
        with open(_THP) as f:
            text = f.read()
    except OSError:
        return "unavailable"
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else "unavailable"


def advise_huge_pages() -> int:
    """Ask for huge pages on this process's large private anonymous writable regions
    (the heap, pymalloc's and numpy's big mappings); returns the bytes advised.

    Only where the kernel's mode is ``madvise`` (``always`` needs no asking, ``never``
    allows none), and not when ``FPQ_HUGE_PAGES=0``. A region the kernel refuses is
    skipped: huge pages change speed only.
    """
    if os.environ.get("FPQ_HUGE_PAGES", "1") == "0" or huge_pages_mode() != "madvise":
        return 0
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        with open("/proc/self/maps") as f:
            lines = f.readlines()
    except (OSError, AttributeError):
        return 0
    advised = 0
    for line in lines:
        fields = line.split()
        # address perms offset dev inode [path]: private, writable, anonymous (or heap)
        if len(fields) < 5 or fields[1][:2] != "rw" or fields[1][3] != "p":
            continue
        if fields[4] != "0" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        # Only whole 2 MiB-aligned ranges can become huge pages.
        first = (start + _HUGE - 1) & ~(_HUGE - 1)
        last = end & ~(_HUGE - 1)
        if last - first < _HUGE:
            continue
        if madvise(first, last - first, _MADV_HUGEPAGE) == 0:
            advised += last - first
    return advised


class ChildFaults:
    """Reaps job processes and adds up their minor page faults (copy-on-write copies
    and first touches), so a fork executor can say what isolation costs per job.

    Example:
        >>> faults = ChildFaults()
        >>> pid = os.fork()
        >>> if pid == 0:
        ...     os._exit(0)
        >>> faults.wait(pid)
        0
        >>> faults.children
        1
    """

    def __init__(self) -> None:
        self.children = 0
        self.minor_faults = 0

    def wait(self, pid: int) -> int:
        """Wait for pid; return its wait status."""
        _, status, usage = os.wait4(pid, 0)
        self._add(usage)
        return status

    def reaped(self, pid: int, options: int) -> bool:
        """os.wait4(pid, options) (e.g. WNOHANG); True if pid was reaped."""
        got, _, usage = os.wait4(pid, options)
        if got == 0:
            return False
        self._add(usage)
        return True

    def _add(self, usage: object) -> None:
        self.children += 1
        self.minor_faults += int(getattr(usage, "ru_minflt", 0))

    def summary(self) -> str:
        """One log line: job processes and minor faults per job process."""
        per = self.minor_faults / self.children if self.children else 0.0
        return (
            f"{self.children} job process(es), {per:.0f} minor page faults each "
            f"(huge pages: {huge_pages_mode()})"
        )
