"""hpo.cli.startup: an `hpo` process imports with the collector off, then freezes what it
imported and collects as usual; `main()` called in a longer-lived process changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_command_process_freezes_its_imports_and_collects_the_rest() -> None:
    out = _python(
        "import gc\n"
        "from hpo.cli import startup\n"
        "startup.hold()\n"
        "assert not gc.isenabled()\n"
        "import optuna, sqlalchemy\n"
        "startup.settle()\n"
        "frozen = gc.get_freeze_count()\n"
        "assert gc.isenabled() and frozen > 20_000, frozen\n"
        # Garbage made after the freeze is still collected: a cycle is found.
        "class Node: pass\n"
        "a, b = Node(), Node(); a.peer, b.peer = b, a\n"
        "del a, b\n"
        "print(gc.collect() >= 2)\n"
        "startup.release()\n"
        "print(gc.get_freeze_count() >= frozen)\n"
    )
    assert out.split() == ["True", "True"]


def test_main_in_a_longer_lived_process_keeps_pythons_collector(tmp_path: Path) -> None:
    out = _python(
        "import gc, os\n"
        f"os.environ['HPO_SERVER_DIR'] = {str(tmp_path)!r}\n"
        "from hpo.cli.main import main\n"
        "code = main(['server', 'status'])\n"
        "print(code, gc.isenabled(), gc.get_freeze_count())\n"
    )
    assert out.splitlines()[-1] == "1 True 0"
