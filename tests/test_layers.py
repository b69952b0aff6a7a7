"""The package's shape: data flows one way, from the CLI down to the platforms. Each module has a layer, and no
module imports one from a layer above its own (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "publisher"

# Lowest first. A module may import its own layer and the ones before it.
LAYERS: list[set[str]] = [
    {"publisher", "errors", "faults", "text", "richtext", "tomlsource", "schema", "logs", "timeline", "migrations",
     "fileio", "redact", "assets", "compat"},
    # a platform's module knows its accounts' keys, so the schedule's reader and the platforms are one layer
    {"config", "quotes", "sources", "themes", "importer", "extract", "starter", "platforms", "platforms.base",
     "platforms.bluesky", "platforms.x", "platforms.outbox", "platforms.mastodon"},
    {"slots", "render", "render.breaks", "render.sfnt", "render.fonts", "render.layout", "render.card",
     "render.batch"},
    # the project's files know each quote's verified page, kept in the store
    {"project", "webfonts", "verification",
     "compose", "store", "store_problems", "store_base", "store_states", "store_threads", "store_scheduler",
     "store_sessions", "store_results", "lock", "budget", "outlook"},
    {"queue", "queue_base", "queue_revisions", "queue_composing", "queue_making", "queue_views", "queue_posting",
     "poster", "preview", "results",
     "pack", "validation", "platforms.factory", "doctor", "messages"},
    {"scheduler"},
    {"app"},
    {"dashboard", "dashboard.workdir", "dashboard.charts"},
    {"dashboard.board"},
    {"dashboard.gate", "dashboard.actions", "dashboard.packs", "dashboard.results"},
    {"dashboard.pages"},
    {"dashboard.api"},
    {"dashboard.web", "dashboard.server"},
    {"cli", "cli.cards", "cli.collections", "cli.daemon", "cli.posting", "cli.results", "cli.extract", "cli.start",
     "cli.output", "__main__"},
]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts) or "publisher"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("publisher"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("publisher")]
        for name in names:
            found.add(name.removeprefix("publisher.") if name != "publisher" else "publisher")
    return found


def layer_of(name: str) -> int | None:
    return next((index for index, layer in enumerate(LAYERS) if name in layer), None)


def test_every_module_has_a_layer() -> None:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert {m for m in modules if layer_of(m) is None} == set()


def test_no_module_imports_one_above_it() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        own = layer_of(name)
        assert own is not None
        for imported in imports_of(path):
            target = layer_of(imported)
            if target is None:  # "from publisher.x import name": the module is x
                target = layer_of(imported.rsplit(".", 1)[0])
            if target is not None and target > own:
                upward.append(f"{name} (layer {own}) imports {imported} (layer {target})")
    assert upward == []


def test_the_facade_stays_small() -> None:
    assert len((PACKAGE / "app.py").read_text("utf-8").splitlines()) <= 250


def test_the_queue_and_the_store_stay_split_by_job() -> None:
    """The queue's and the store's modules hold one job each, each under 450 lines (issue 22)."""
    modules = [*PACKAGE.glob("queue*.py"), *PACKAGE.glob("store*.py")]
    sizes = {path.name: len(path.read_text("utf-8").splitlines()) for path in modules}
    assert {name: lines for name, lines in sizes.items() if lines >= 450} == {}
    assert len(sizes) > 2  # the façades and their parts


def test_each_heavy_module_keeps_one_test_in_the_quick_suite() -> None:
    """A taste renamed away would make its whole module heavy without a word: each named test is there."""
    from conftest import HEAVY_BUT_A_TASTE

    for module, test in HEAVY_BUT_A_TASTE.items():
        source = (REPO / "tests" / module).read_text("utf-8")
        name, _, param = test.partition("[")
        assert f"def {name}(" in source, (module, name)
        assert not param or all(part in source for part in param.rstrip("]").split(":")[:1]), (module, param)
