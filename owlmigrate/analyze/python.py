"""What a Python script called by a job does, read with libcst (never imported or run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

# Top-level modules by what they touch; the classification is by import, so it says what a
# script *can* do, which is what a reviewer of a migration needs to know.
IMPORT_CLASSES: dict[str, frozenset[str]] = {
    "network": frozenset(
        {
            "requests",
            "urllib",
            "urllib2",
            "urllib3",
            "http",
            "httpx",
            "aiohttp",
            "socket",
            "smtplib",
            "ftplib",
            "paramiko",
            "boto3",
            "botocore",
            "googleapiclient",
            "slack_sdk",
            "grpc",
            "websocket",
            "websockets",
            "imaplib",
            "poplib",
            "telnetlib",
            "xmlrpc",
            "pika",
            "kafka",
            "fabric",
            "ssl",
            "email",
            "asyncssh",
        }
    ),
    "database": frozenset(
        {
            "sqlite3",
            "psycopg",
            "psycopg2",
            "asyncpg",
            "pymysql",
            "MySQLdb",
            "mysql",
            "sqlalchemy",
            "redis",
            "pymongo",
            "motor",
            "cx_Oracle",
            "oracledb",
            "pyodbc",
            "cassandra",
            "elasticsearch",
            "peewee",
            "django",
            "influxdb",
            "clickhouse_driver",
            "dbm",
            "shelve",
        }
    ),
    "filesystem": frozenset(
        {
            "os",
            "shutil",
            "pathlib",
            "glob",
            "tempfile",
            "tarfile",
            "zipfile",
            "gzip",
            "bz2",
            "lzma",
            "fnmatch",
            "io",
            "csv",
            "fcntl",
            "filecmp",
        }
    ),
    "subprocess": frozenset(
        {"subprocess", "multiprocessing", "pexpect", "sh", "plumbum", "pty", "concurrent"}
    ),
}


@dataclass(slots=True)
class PythonAnalysis:
    """Entry point, CLI options and imports of a Python script."""

    docstring: str | None = None
    entry_point: bool = False
    main: bool = False
    cli: str | None = None
    options: list[str] = field(default_factory=list)
    imports: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the plan's ``calls[].details``."""
        out: dict[str, Any] = {
            "entry_point": self.entry_point,
            "main": self.main,
            "cli": self.cli,
            "options": self.options,
            "imports": self.imports,
        }
        if self.docstring:
            out["docstring"] = self.docstring
        if self.error:
            out["error"] = self.error
        return out


def _dotted(node: cst.BaseExpression | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = _dotted(node.value)
        return f"{left}.{node.attr.value}" if left else node.attr.value
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return ""


def _first_string(call: cst.Call) -> list[str]:
    out = []
    for arg in call.args:
        if arg.keyword is not None:
            break
        if isinstance(arg.value, cst.SimpleString):
            value = arg.value.evaluated_value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            out.append(value)
        else:
            break
    return out


class _Visitor(cst.CSTVisitor):
    def __init__(self, result: PythonAnalysis) -> None:
        self.r = result
        self.imports: list[str] = []

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self.imports.append(_dotted(alias.name))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and not node.relative:
            self.imports.append(_dotted(node.module))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value == "main":
            self.r.main = True
        for deco in node.decorators:
            name = _dotted(deco.decorator)
            if name.endswith(("click.command", "click.group")) or name in ("command", "group"):
                self.r.cli = "click"
            is_option = name.endswith(("click.option", "click.argument")) or name in (
                "option",
                "argument",
            )
            if is_option and isinstance(deco.decorator, cst.Call):
                self.r.options.extend(_first_string(deco.decorator))
                self.r.cli = self.r.cli or "click"

    def visit_If(self, node: cst.If) -> None:
        test = node.test
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            left = _dotted(test.left)
            right = test.comparisons[0].comparator
            if (
                left == "__name__"
                and isinstance(right, cst.SimpleString)
                and right.evaluated_value == "__main__"
            ):
                self.r.entry_point = True

    def visit_Call(self, node: cst.Call) -> None:
        name = _dotted(node.func)
        if name.endswith("ArgumentParser"):
            self.r.cli = self.r.cli or "argparse"
        elif name.endswith("add_argument"):
            self.r.options.extend(_first_string(node))
        elif name.endswith(("getopt.getopt", "getopt.gnu_getopt")):
            self.r.cli = self.r.cli or "getopt"
        elif name in ("fire.Fire", "typer.run", "typer.Typer"):
            self.r.cli = name.split(".")[0]


def analyze_python(source: str) -> PythonAnalysis:
    """Parse ``source`` with libcst; syntax errors are reported in ``error``, never raised."""
    result = PythonAnalysis()
    try:
        module = cst.parse_module(source)
    except Exception as exc:  # libcst.ParserSyntaxError and friends
        result.error = f"cannot parse: {str(exc).splitlines()[0] if str(exc) else exc}"
        return result
    doc = module.get_docstring()
    if doc:
        result.docstring = doc.splitlines()[0]
    visitor = _Visitor(result)
    module.visit(visitor)
    classes: dict[str, list[str]] = {}
    for name in visitor.imports:
        top = name.split(".")[0]
        kind = next((k for k, mods in IMPORT_CLASSES.items() if top in mods), "other")
        bucket = classes.setdefault(kind, [])
        if name not in bucket:
            bucket.append(name)
    result.imports = classes
    return result
