"""Load an app: a generated app directory (``owlmigrate.json``) or ``path/app.py[:attr]``.

The module is imported from its file under a unique private name, so two apps whose files are
both called ``owlclaw_app.py`` never collide in ``sys.modules`` and loading twice gives two
independent apps. The app directory goes on ``sys.path`` while the module runs, so a generated
module can import its sibling modules.

The module's bytes are read once, hashed and executed from that same copy, so
:func:`loaded_module` says exactly what a worker runs (its heartbeat and ``/healthz`` compare it
with the file on disk: a regenerate under a running worker is visible).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import itertools
import json
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlclaw_runtime.app import OwlClawApp
from owlclaw_runtime.errors import ConfigurationError, OwlClawError

MANIFEST = "owlmigrate.json"


class AppNotFoundError(ConfigurationError):
    """The target is neither an app file nor an app directory (a usage error for a CLI)."""


DEFAULT_ATTR = "app"
_counter = itertools.count(1)
#: ``@app.cron(...)`` keywords whose values reach running workers through the ledger's trigger
#: state (cutover writes ``shadow``, step and rollback ``migration_weight``): a change to them
#: alone does not make a worker's module stale.
LEDGER_KEYWORDS = frozenset({"shadow", "migration_weight"})


@dataclass(frozen=True)
class LoadedModule:
    """The module file an app was imported from: its path, the SHA-256 of the bytes imported
    and their :func:`module_fingerprint`."""

    path: Path
    sha256: str
    fingerprint: str


_loaded: weakref.WeakKeyDictionary[OwlClawApp, LoadedModule] = weakref.WeakKeyDictionary()


def loaded_module(app: Any) -> LoadedModule | None:
    """What :func:`load_app` imported ``app`` from (None for an app built another way)."""
    try:
        return _loaded.get(app)
    except TypeError:  # not weak-referenceable: not one of ours
        return None


def module_fingerprint(source: bytes) -> str:
    """A SHA-256 of what a worker serves from this module source: its syntax tree (so comments
    and layout do not count) with the values of ``shadow=`` and ``migration_weight=`` in
    ``cron(...)`` calls blanked (:data:`LEDGER_KEYWORDS`). Equal fingerprints: a worker that
    imported one serves exactly the triggers, schedules and jobs of the other. Source that does
    not parse gets a fingerprint of its bytes (it differs from every loadable module)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return hashlib.sha256(b"unparsable\0" + source).hexdigest()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != "cron":
            continue
        for keyword in node.keywords:
            if keyword.arg in LEDGER_KEYWORDS:
                keyword.value = ast.Constant(value="<ledger>")
    return hashlib.sha256(ast.dump(tree).encode("utf-8")).hexdigest()


def stale_reason(module: LoadedModule) -> str:
    """What ``/healthz`` and the heartbeat say about a module changed under its worker."""
    return (
        f"{module.path.name} changed on disk since this worker loaded it: "
        "restart the worker to serve the new triggers"
    )


_fingerprints: dict[str, str] = {}  # sha256 -> fingerprint: a parse only for new bytes


def file_fingerprint(path: Path) -> tuple[str, str] | None:
    """``(sha256, fingerprint)`` of the file now, or None when it cannot be read. Cheap when
    the bytes were seen before (a read and a hash: ``/healthz`` and heartbeats ask often)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    sha = hashlib.sha256(data).hexdigest()
    fingerprint = _fingerprints.get(sha)
    if fingerprint is None:
        fingerprint = module_fingerprint(data)
        if len(_fingerprints) >= 64:
            _fingerprints.clear()
        _fingerprints[sha] = fingerprint
    return sha, fingerprint


def split_target(target: str | Path) -> tuple[Path, str | None]:
    """``"dir"`` → (dir, None); ``"x/app.py:my_app"`` → (x/app.py, "my_app")."""
    if isinstance(target, Path):
        return target, None
    path, sep, attr = target.rpartition(":")
    if sep and attr.isidentifier() and path:
        return Path(path), attr
    return Path(target), None


def read_manifest(directory: Path) -> dict[str, Any]:
    """The ``owlmigrate.json`` of a generated app directory, checked for ``module``/``attr``."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        raise AppNotFoundError(
            f"{directory} is not an app directory: {MANIFEST} is missing "
            "(give a generated app directory or path/app.py[:attr])",
            path=directory,
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"invalid JSON: {exc.msg}", path=manifest, line=exc.lineno, column=exc.colno
        ) from exc
    if not isinstance(data, dict):
        raise ConfigurationError("must hold a JSON object", path=manifest, line=1)
    module = data.get("module")
    if not isinstance(module, str) or not module:
        raise ConfigurationError(
            "missing key 'module' (the app module file)", path=manifest, field="module"
        )
    attr = data.get("attr", DEFAULT_ATTR)
    if not isinstance(attr, str) or not attr.isidentifier():
        raise ConfigurationError(
            f"'attr' must be an identifier, got {attr!r}", path=manifest, field="attr"
        )
    return data


def load_app(target: str | Path) -> OwlClawApp:
    """Import the app named by ``target`` and return its :class:`OwlClawApp`.

    ``target`` is a generated app directory (its ``owlmigrate.json`` names ``module`` and
    ``attr``) or a Python file with an optional ``:attr`` (default ``app``). The app's
    ``app_dir`` becomes the directory, where its default SQLite ledger lives."""
    path, attr = split_target(target)
    if path.is_dir():
        directory = path.resolve()
        data = read_manifest(directory)
        module_file = (directory / data["module"]).resolve()
        attr = attr or data.get("attr", DEFAULT_ATTR)
        if not module_file.is_file():
            raise ConfigurationError(
                f"app module {data['module']!r} named in {MANIFEST} does not exist",
                path=directory / MANIFEST,
                field="module",
            )
    elif path.is_file():
        module_file = path.resolve()
        directory = module_file.parent
        attr = attr or DEFAULT_ATTR
    else:
        raise AppNotFoundError("no such app file or directory", path=path)
    if module_file.suffix != ".py":
        raise ConfigurationError("the app module must be a .py file", path=module_file)

    module, source = _import_file(module_file, directory)
    if not hasattr(module, attr):
        raise ConfigurationError(f"module defines no {attr!r}", path=module_file, field=attr)
    app = getattr(module, attr)
    if not isinstance(app, OwlClawApp):
        raise ConfigurationError(
            f"{attr!r} is a {type(app).__name__}, not an OwlClawApp", path=module_file, field=attr
        )
    if app.app_dir is None:
        app.app_dir = directory
    _loaded[app] = LoadedModule(
        module_file, hashlib.sha256(source).hexdigest(), module_fingerprint(source)
    )
    return app


def _import_file(module_file: Path, directory: Path) -> tuple[Any, bytes]:
    digest = hashlib.sha1(str(module_file).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"_owlclaw_app_{module_file.stem}_{digest}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, module_file)
    if spec is None or spec.loader is None:
        raise ConfigurationError("cannot import this file as a module", path=module_file)
    module = importlib.util.module_from_spec(spec)
    try:
        # Read once: these bytes are both what runs and what loaded_module() hashes.
        source = module_file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the app module: {exc}", path=module_file) from exc
    # Registered under its unique name while it runs: dataclasses and pydantic look their
    # module up in sys.modules.
    sys.modules[name] = module
    added = str(directory) not in sys.path
    if added:
        sys.path.insert(0, str(directory))
    try:
        code = compile(source, str(module_file), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except OwlClawError as exc:
        sys.modules.pop(name, None)
        if exc.path is None:
            # An error raised while the module ran (a bad trigger): point at the line in the
            # app module that caused it.
            exc.path = str(module_file)
            exc.line = _error_line(exc, module_file)
            exc.column = None
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigurationError(
            f"importing the app failed: {type(exc).__name__}: {exc}",
            path=module_file,
            line=_error_line(exc, module_file),
        ) from exc
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(directory))
    return module, source


def _error_line(exc: BaseException, module_file: Path) -> int | None:
    if isinstance(exc, SyntaxError):
        return exc.lineno
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == module_file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
