"""`fpq completion bash|zsh|fish`: each script is valid in its shell, and completing with
it, as the shell would, gives fpq's commands, options, option values and pipelines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowerpower_job_queue import _native

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "hello-world"


def script(fpq_bin: str, shell: str) -> str:
    proc = subprocess.run([fpq_bin, "completion", shell], capture_output=True, text=True,
                          check=True)
    return proc.stdout


@pytest.mark.parametrize(("shell", "check"), [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]),
                                              ("fish", ["fish", "--no-execute"])])
def test_each_script_is_valid_in_its_shell(tmp_path: Path, fpq_bin: str, shell: str,
                                           check: list[str]) -> None:
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    path = tmp_path / f"fpq.{shell}"
    path.write_text(script(fpq_bin, shell))
    proc = subprocess.run([*check, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def bash_complete(fpq_bin: str, line: str, cwd: Path = ROOT) -> list[str]:
    """What bash offers for TAB at the end of `line` (fpq's own words split as bash
    does), through the script's completion function, as bash calls it."""
    words = line.split(" ")
    words[0] = fpq_bin
    driver = (
        'eval "$("$FPQ" completion bash)"\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        '_fpq_completion fpq "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "-c", driver, "driver", *words], capture_output=True,
                          text=True, cwd=cwd, env={"FPQ": fpq_bin, "PATH": "/usr/bin:/bin"},
                          check=True)
    return sorted(w for w in proc.stdout.splitlines() if w)


def test_bash_completes_commands_options_values_and_pipelines(fpq_bin: str) -> None:
    assert bash_complete(fpq_bin, "fpq wor") == ["worker"]
    assert bash_complete(fpq_bin, "fpq sched") == ["schedule", "scheduler", "schedules"]
    assert bash_complete(fpq_bin, "fpq worker st") == ["start", "stop"]
    assert bash_complete(fpq_bin, "fpq worker start --bu") == ["--burst"]
    assert bash_complete(fpq_bin, "fpq enqueue hello --priority ") == ["high", "low", "medium"]
    assert bash_complete(fpq_bin, "fpq worker start --isolation f") == ["fork"]
    assert bash_complete(fpq_bin, "fpq completion ") == ["bash", "fish", "zsh"]
    assert bash_complete(fpq_bin, "fpq enqueue ", cwd=PROJECT) == ["hello", "sales"]
    assert bash_complete(fpq_bin, f"fpq status --project {PROJECT} s") == ["sales"]
    assert bash_complete(fpq_bin, "fpq status --project exa") == ["examples"]  # a directory
    assert bash_complete(fpq_bin, "fpq frobnicate ") == []


def test_every_command_and_option_of_the_help_table_completes(fpq_bin: str) -> None:
    """Completion is made from the help table: nothing in it is missed."""
    table = _native.cli_help()
    common = [o["flag"] for o in table["common"]]
    for name, entry in table.items():
        if name in ("", "common"):
            continue
        *group, last = name.split()
        assert last in bash_complete(fpq_bin, " ".join(["fpq", *group, last[:-1]])), name
        if entry["options"] or entry["common"]:
            offered = bash_complete(fpq_bin, f"fpq {name} -")
            wanted = [o["flag"] for o in entry["options"]] + (common if entry["common"] else [])
            assert set(wanted) <= set(offered), name


def test_the_option_values_offered_are_the_ones_the_help_names(fpq_bin: str) -> None:
    table = _native.cli_help()
    helps = {o["flag"]: o["help"] for entry in table.values()
             for o in (entry["options"] if isinstance(entry, dict) else entry)}
    for flag, line in [("--priority", "fpq enqueue hello --priority "),
                       ("--isolation", "fpq worker start --isolation "),
                       ("--backend", "fpq status --backend ")]:
        for word in bash_complete(fpq_bin, line):
            assert word in helps[flag], (flag, word)


def test_a_wrong_shell_is_bad_input(fpq_bin: str) -> None:
    proc = subprocess.run([fpq_bin, "completion", "tcsh"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bash, zsh or fish" in proc.stderr


def test_zsh_and_fish_complete_as_bash_does(fpq_bin: str) -> None:
    """zsh: the script's _fpq with compadd stubbed (it only works inside a completion
    widget) and words/CURRENT set as zsh sets them; fish: `complete -C`, fish's own."""
    if shutil.which("zsh"):
        driver = ('compdef() { :; }; compadd() { shift; print -l -- "$@"; }\n'
                  'eval "$("$FPQ" completion zsh)"\n'
                  'words=("$FPQ" "$@"); CURRENT=${#words}; _fpq\n')
        for line, want in [("wor", ["worker"]), ("worker start --isolation ", ["fork", "none"])]:
            proc = subprocess.run(["zsh", "-c", driver, "zsh", *line.split(" ")],
                                  capture_output=True, text=True, env={"FPQ": fpq_bin},
                                  check=True)
            assert proc.stdout.split() == want, (line, proc.stdout, proc.stderr)
    if shutil.which("fish"):
        bindir = str(Path(fpq_bin).parent)
        for line, want in [("fpq wor", ["worker"]), ("fpq completion ", ["bash", "fish", "zsh"])]:
            proc = subprocess.run(
                ["fish", "--no-config", "-c", f'fpq completion fish | source; complete -C "{line}"'],
                capture_output=True, text=True, check=True,
                env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(Path.home())})
            assert sorted(proc.stdout.split()) == want, (line, proc.stdout, proc.stderr)
