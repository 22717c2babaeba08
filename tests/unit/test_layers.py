"""The house layering (DESIGN.md), checked on the source: pure shared/, Qt only in
console/, protocol libraries only behind their adapters, and the product (agent/, shared/,
console/) never importing the lab, not even lazily inside a function or behind
``try: ... except ImportError`` (the product installs and runs without the lab; `emspool`
finds the lab's commands through the ``emspool.cli`` entry points instead)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "shared": {
        "PySide6",
        "pysnmp",
        "ncclient",
        "zmq",
        "asyncio",
        "socket",
        "subprocess",
        "threading",
        "os",
        "pathlib",
        "sqlalchemy.ext.asyncio",
        "agent",
        "console",
        "lab",
    },
    "agent": {"PySide6", "console", "lab"},
    "console": {"pysnmp", "ncclient", "agent.snmp", "agent.traps", "lab"},
    "lab": {"PySide6", "console"},
}
# pysnmp stays behind the SNMP client adapter (DES and the comparison paths) and in the lab
# (which plays the devices' side); the trap receiver has no pysnmp left.
PYSNMP_ALLOWED = ("agent/snmp/", "lab/")


def imports(path: Path) -> set[str]:
    """Every module a file imports, wherever the statement is (module level, inside a
    function, under ``if TYPE_CHECKING``, in a ``try``), and the literal names given to
    ``importlib.import_module`` / ``__import__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and _dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def _dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def hits(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def sources(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_package_respects_its_layer(pkg):
    bad = [
        f"{p.relative_to(ROOT)} imports {n}"
        for p in sources(pkg)
        for n in sorted(imports(p))
        if hits(n, FORBIDDEN[pkg])
    ]
    assert bad == []


def test_pysnmp_only_behind_adapters():
    bad = []
    for pkg in ("agent", "console", "shared", "lab"):
        for p in sources(pkg):
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith(PYSNMP_ALLOWED):
                continue
            bad += [f"{rel} imports {n}" for n in imports(p) if hits(n, {"pysnmp", "pyasn1"})]
    assert bad == []


def test_ncclient_only_behind_its_adapter():
    bad = [
        f"{p.relative_to(ROOT)} imports {n}"
        for pkg in ("agent", "console", "shared", "lab")
        for p in sources(pkg)
        if not p.relative_to(ROOT).as_posix().startswith("agent/netconf/")
        for n in imports(p)
        if hits(n, {"ncclient", "paramiko"})
    ]
    assert bad == []


def test_checker_catches_a_violation(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import zmq.asyncio\nfrom PySide6.QtCore import QObject\n")
    assert hits("zmq.asyncio", FORBIDDEN["shared"]) and "PySide6.QtCore" in imports(f)


def test_checker_sees_lazy_and_guarded_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text(
        "import importlib\n"
        "def demo():\n"
        "    from lab.fleet import Lab\n"
        "try:\n"
        "    import lab.cli\n"
        "except ImportError:\n"
        "    pass\n"
        "if False:\n"
        "    import lab.state\n"
        "importlib.import_module('lab.demo')\n"
        "__import__('lab')\n"
    )
    found = {n for n in imports(f) if hits(n, {"lab"})}
    assert found == {"lab.fleet", "lab.cli", "lab.state", "lab.demo", "lab"}


@pytest.mark.parametrize("pkg", ["agent", "shared", "console"])
def test_product_never_imports_the_lab(pkg):
    bad = [
        f"{p.relative_to(ROOT)} imports {n}"
        for p in sources(pkg)
        for n in sorted(imports(p))
        if hits(n, {"lab"})
    ]
    assert sources(pkg) and bad == []


def wait_for_calls(path: Path) -> list[int]:
    """Lines that use asyncio.wait_for (called, imported or aliased)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "wait_for":
            if isinstance(node.value, ast.Name) and node.value.id == "asyncio":
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "asyncio"
            and any(a.name == "wait_for" for a in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_no_wait_for_in_the_agent():
    # agent/aiotools.py says why: on 3.11 it can swallow a cancellation.
    bad = [f"{p.relative_to(ROOT)}:{n}" for p in sources("agent") for n in wait_for_calls(p)]
    assert bad == []


def test_wait_for_checker_sees_each_form(tmp_path):
    f = tmp_path / "x.py"
    f.write_text(
        "import asyncio\nfrom asyncio import wait_for\n"
        "async def f(e):\n    await asyncio.wait_for(e.wait(), 1)\n"
    )
    assert sorted(wait_for_calls(f)) == [2, 4]


def dropped_tasks(path: Path) -> list[int]:
    """Lines where a task is created and its reference dropped (nobody can cancel or await
    it on shutdown, and the loop may garbage-collect it mid-flight)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute | ast.Name)
        and getattr(node.value.func, "attr", getattr(node.value.func, "id", ""))
        in ("create_task", "ensure_future")
        # TaskGroup.create_task keeps the reference itself
        and not (
            isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == "tg"
        )
    ]


# The lifecycle modules (agent/schedule.py and the pollers are checked by their own tests).
LIFECYCLE = [
    "agent/app.py",
    "agent/runtime.py",
    "agent/electiond.py",
    "agent/assigner.py",
    "agent/follower.py",
    "agent/bus.py",
    "agent/main.py",
    "agent/outbox.py",
    "agent/watch.py",
]


def test_no_fire_and_forget_tasks_in_the_lifecycle_modules(tmp_path):
    bad = [f"{m}:{n}" for m in LIFECYCLE for n in dropped_tasks(ROOT / m)]
    assert bad == []
    f = tmp_path / "x.py"
    f.write_text(
        "import asyncio\nasync def f(tg, c):\n    asyncio.create_task(c)\n"
        "    t = asyncio.create_task(c)\n    tg.create_task(c)\n"
        "    asyncio.get_running_loop().create_task(c)\n"
    )
    assert dropped_tasks(f) == [3, 6]
