"""Regenerate the user interface's translation sources (.ts) and catalogues (.qm).

When to run: after any change to a user-visible string in ``workstation/ui/`` (a ``self.tr()``
or ``_tr()`` call, a column title, a shortcut description, a built-in worklist filter name).
Then translate the entries it marks ``unfinished`` in ``resources/i18n/workstation_ar.ts`` and
fill the English plural forms ("1 image", "%n images") it adds to ``workstation_en.ts``
(``.venv/bin/pyside6-linguist`` or any text editor), and run it once more to compile the .qm.
``tests/ui/test_i18n.py`` fails until both steps are done. Commit the .ts, the .qm and
``resources/i18n/extracted_strings.py`` together.

Why a generated file: PySide6's ``lupdate`` finds ``self.tr("...")`` and
``QCoreApplication.translate("Context", "...")`` but not the modules' ``_tr("...")`` helpers
(their context is fixed inside the helper) nor strings kept in tables and translated through a
variable. This tool reads those (the helpers with ``ast``, the tables by importing them) and
writes them as ``QCoreApplication.translate`` calls into ``extracted_strings.py``, which
``lupdate`` then scans beside ``workstation/ui/*.py``.

Usage: ``.venv/bin/python tools/update_translations.py`` (``--no-lrelease`` to skip compiling).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_DIR = ROOT / "workstation" / "ui"
I18N_DIR = ROOT / "resources" / "i18n"
STUB = I18N_DIR / "extracted_strings.py"
# The translated languages. English is the source language: its catalogue holds only the plural
# messages ("%n image(s)" -> "1 image" / "3 images"), made with lupdate -pluralonly.
LANGUAGES = ("ar",)
PLURAL_ONLY_LANGUAGES = ("en",)


@dataclass(frozen=True, slots=True)
class Message:
    """One translatable text in one Qt translation context, and where it comes from; a plural
    one ("%n image(s)") with its disambiguation."""

    context: str
    source: str
    origin: str
    comment: str = ""
    plural: bool = False


def _tool(name: str) -> str:
    """A PySide6 tool beside the running interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install PySide6 in this environment")
    return found


def _helper_context(tree: ast.Module) -> str | None:
    """The context of a module's ``def _tr(text): return QCoreApplication.translate(CTX, text)``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "_tr":
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "translate"
                    and sub.args
                    and isinstance(sub.args[0], ast.Constant)
                    and isinstance(sub.args[0].value, str)
                ):
                    return sub.args[0].value
    return None


def wrapped_messages(ui_dir: Path = UI_DIR) -> list[Message]:
    """Every ``_tr("literal")`` call in ``ui_dir/*.py``, with its module's context."""
    found: list[Message] = []
    for path in sorted(ui_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        context = _helper_context(tree)
        if context is None:
            continue
        rel = path.relative_to(ui_dir.parents[1]).as_posix()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append(Message(context, node.args[0].value, rel))
    return found


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def plural_messages(ui_dir: Path = UI_DIR) -> list[Message]:
    """Every ``QCoreApplication.translate("Context", "%n ...", "comment", n)`` in
    ``ui_dir/*.py`` whose number is not a literal.

    lupdate of PySide6 6.11 takes such a call for a plain message, as it does for every
    later occurrence once it has seen one; the stub repeats it with a literal number and is
    scanned first, so that the message is plural ("numerus") whatever PySide6 scans.
    """
    found: list[Message] = []
    for path in sorted(ui_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(ui_dir.parents[1]).as_posix()
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "translate"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "QCoreApplication"
                and len(node.args) == 4
            ):
                continue
            context, source, comment = (_literal(a) for a in node.args[:3])
            if context is None or source is None or comment is None:
                continue
            found.append(Message(context, source, rel, comment, plural=True))
    return found


def table_messages() -> list[Message]:
    """Texts the UI translates through a variable: column titles, shortcuts, filter names.

    Imported rather than parsed so that a renamed table fails here loudly instead of silently
    leaving its texts out of the catalogue.
    """
    from workstation.core.ups import Role, WorklistUser
    from workstation.ui import shortcuts, study_model, worklist_panel
    from workstation.worklist.model import builtin_filters

    out: list[Message] = []
    for title, *_ in study_model._COLUMNS:
        out.append(Message("StudyTableModel", title, "workstation/ui/study_model.py (_COLUMNS)"))
    for _key, title in worklist_panel.COLUMNS:
        out.append(Message("WorklistPanel", title, "workstation/ui/worklist_panel.py (COLUMNS)"))
    for f in builtin_filters(WorklistUser(name="", role=Role.RADIOLOGIST)):
        out.append(
            Message("WorklistPanel", f.name, "workstation/worklist/model.py (builtin_filters)")
        )
    for s in shortcuts.DEFAULTS:
        origin = "workstation/ui/shortcuts.py (DEFAULTS)"
        out.append(Message("Shortcuts", s.description, origin))
        out.append(Message("Shortcuts", s.category, origin))
    return out


def all_messages() -> list[Message]:
    """The plural, wrapped and table messages, one per (context, source, comment), origins
    merged."""
    merged: dict[tuple[str, str, str, bool], list[str]] = {}
    for m in [*plural_messages(), *wrapped_messages(), *table_messages()]:
        origins = merged.setdefault((m.context, m.source, m.comment, m.plural), [])
        if m.origin not in origins:
            origins.append(m.origin)
    return [Message(c, s, ", ".join(o), k, p) for (c, s, k, p), o in merged.items()]


def write_stub(messages: Iterable[Message], path: Path = STUB) -> None:
    """Write ``messages`` as ``QCoreApplication.translate`` calls for lupdate to find."""
    lines = [
        '"""Texts the UI translates that lupdate cannot see by itself; never imported.',
        "",
        "Generated by tools/update_translations.py: do not edit, run the tool instead.",
        '"""',
        "",
        "from PySide6.QtCore import QCoreApplication",
    ]
    for m in messages:
        # "#:" becomes the translator's comment in the .ts; the trailing commas keep ruff
        # format from joining the call, so the file is stable under it.
        lines += [
            "",
            f"#: {m.origin}"[:100],
            "QCoreApplication.translate(",
            f"    {json.dumps(m.context, ensure_ascii=False)},",
            f"    {json.dumps(m.source, ensure_ascii=False)},",
        ]
        if m.plural:  # a literal number: plural for every lupdate
            lines += [f"    {json.dumps(m.comment, ensure_ascii=False)},", "    1,"]
        lines.append(")")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_lupdate(ts_files: Iterable[Path], stub: Path = STUB, ui_dir: Path = UI_DIR) -> str:
    """Merge the strings of ``stub`` and ``ui_dir/*.py`` into ``ts_files``; dropped ones go.
    The stub comes first: lupdate takes a message for plural or not where it first sees it."""
    sources = [str(stub)] + [str(p) for p in sorted(ui_dir.glob("*.py"))]
    out = ""
    for ts in ts_files:
        lang = ts.stem.rsplit("_", 1)[-1]
        cmd = [_tool("pyside6-lupdate"), "-no-obsolete", "-locations", "relative"]
        if lang in PLURAL_ONLY_LANGUAGES:
            cmd.append("-pluralonly")
        cmd += ["-source-language", "en", "-target-language", lang, *sources, "-ts", str(ts)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out += done.stdout + done.stderr
    return out


def run_lrelease(ts: Path, qm: Path) -> str:
    """Compile ``ts`` into ``qm``; unfinished translations are left out (English shows)."""
    cmd = [_tool("pyside6-lrelease"), "-nounfinished", "-removeidentical", str(ts), "-qm", str(qm)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lrelease", action="store_true", help="only update the .ts files")
    args = parser.parse_args(argv)
    I18N_DIR.mkdir(parents=True, exist_ok=True)
    write_stub(all_messages())
    languages = (*LANGUAGES, *PLURAL_ONLY_LANGUAGES)
    ts_files = [I18N_DIR / f"workstation_{lang}.ts" for lang in languages]
    print(run_lupdate(ts_files), end="")
    if not args.no_lrelease:
        for ts in ts_files:
            print(run_lrelease(ts, ts.with_suffix(".qm")), end="")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
