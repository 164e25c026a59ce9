"""Shell completion of the Typer CLI's arguments (Typer installs the scripts:
``flowerpower-queue --install-completion``).

Example:
    >>> complete_priority("h")
    ['high']
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["complete_isolation", "complete_pipeline", "complete_priority"]


def complete_pipeline(ctx: typer.Context, incomplete: str) -> list[str]:
    """Pipeline names of the project in --project (default: the current directory)."""
    root = Path(ctx.params.get("project") or ".") / "pipelines"
    try:
        names = sorted(
            ".".join(p.relative_to(root).with_suffix("").parts)
            for p in root.rglob("*.py")
            if not p.name.startswith("_")
        )
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_priority(incomplete: str) -> list[str]:
    """high, medium, low."""
    return [p for p in ("high", "medium", "low") if p.startswith(incomplete)]


def complete_isolation(incomplete: str) -> list[str]:
    """fork, none."""
    return [p for p in ("fork", "none") if p.startswith(incomplete)]
