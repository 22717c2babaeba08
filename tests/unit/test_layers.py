"""The house layering (DESIGN.md), checked on the source: pure shared/, Qt only in
console/, protocol libraries only behind their adapters."""

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
    "agent": {"PySide6", "console"},
    "console": {"pysnmp", "ncclient", "agent.snmp", "agent.traps", "lab"},
    "lab": {"PySide6", "console"},
}
# pysnmp stays behind the adapters: the SNMP client, the trap receiver, and the lab
# (which plays the devices' side).
PYSNMP_ALLOWED = ("agent/snmp/", "agent/traps.py", "lab/")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


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
