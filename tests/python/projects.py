"""Make real FlowerPower projects for tests (a helper module, not a conftest).

Example:
    >>> from pathlib import Path
    >>> from projects import make_project
    >>> root = make_project(Path("/tmp/t"), "demo",
    ...                     {"t_add_one": "def result(x: int) -> int:\\n    return x + 1\\n"},
    ...                     run_yaml={"t_add_one": "run:\\n  inputs: {x: 1}\\n  final_vars: [result]\\n"})  # doctest: +SKIP
    >>> (root / "pipelines" / "t_add_one.py").exists()  # doctest: +SKIP
    True

Pipeline modules are cached in ``sys.modules`` as ``pipelines.<name>``: give every
pipeline a name unique to its test, or two tests (two projects) in one process collide.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path

__all__ = ["default_run_yaml", "make_project"]


def default_run_yaml(module_source: str) -> str:
    """The pipeline YAML used when a test gives none: every public function of the
    module is a final var, no inputs, synchronous executor, FlowerPower retries off.

    Example:
        >>> print(default_run_yaml("def a() -> int:\\n    return 1\\n"), end="")
        run:
          inputs: {}
          final_vars: [a]
          executor: {type: synchronous}
          retry: {max_retries: 0}
    """
    tree = ast.parse(module_source)
    names = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    ]
    return (
        "run:\n"
        "  inputs: {}\n"
        f"  final_vars: [{', '.join(names)}]\n"
        "  executor: {type: synchronous}\n"
        "  retry: {max_retries: 0}\n"
    )


def make_project(
    base_dir: Path,
    name: str,
    pipelines: dict[str, str],
    run_yaml: dict[str, str] | None = None,
) -> Path:
    """Create the FlowerPower project ``base_dir/name`` with ``FlowerPowerProject.new``,
    write ``pipelines/<p>.py`` for each entry of ``pipelines`` (name -> module source) and
    ``conf/pipelines/<p>.yml`` (``run_yaml[p]`` if given, else :func:`default_run_yaml`).
    Returns the project directory.

    Example:
        >>> root = make_project(tmp_path, "demo", {"t_one": "def one() -> int:\\n    return 1\\n"})  # doctest: +SKIP
        >>> FlowerPowerProject.load(str(root)).run("t_one")  # doctest: +SKIP
        {'one': 1}
    """
    from flowerpower import FlowerPowerProject

    root = Path(base_dir) / name
    # FlowerPower prints a welcome message on stdout; tests do not need it.
    with contextlib.redirect_stdout(io.StringIO()):
        FlowerPowerProject.new(name=name, base_dir=str(root))
    for pipeline, source in pipelines.items():
        (root / "pipelines" / f"{pipeline}.py").write_text(source)
        yaml_text = (run_yaml or {}).get(pipeline) or default_run_yaml(source)
        (root / "conf" / "pipelines" / f"{pipeline}.yml").write_text(yaml_text)
    return root
