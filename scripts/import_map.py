#!/usr/bin/env python
"""Print the import picture of the house: which top-level package imports which, and how often.

    .venv/bin/python scripts/import_map.py [--packages core world engine export app cli]

Run it from the root of the checkout to draw (the packages are imported from the current folder, so
an older commit checked out elsewhere can be drawn with this same script).

One row per importing package, one column per imported package, counting module-to-module imports
(grimp's graph, the one import-linter checks); then every import that runs against the map in
README.md (a room importing a room above it, or the app and the bundle runtime importing torch or the
engine). Packages that do not exist in the checkout (an older version) are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grimp

ORDER = ["core", "world", "engine", "export", "app", "cli"]  # lower to higher
TORCH = ("torch", "torchvision", "timm", "transformers")
TORCH_FREE = ("app", "export.runtime", "export.bundle", "export.preprocess", "export.regions")


def top(module: str) -> str:
    return module.split(".")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", nargs="+", default=ORDER)
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd()))
    packages = [p for p in args.packages if (Path.cwd() / p / "__init__.py").is_file()]
    graph = grimp.build_graph(*packages, include_external_packages=True, exclude_type_checking_imports=True)
    counts: dict[tuple[str, str], int] = {}
    against: list[str] = []
    rank = {p: i for i, p in enumerate(ORDER)}
    for module in sorted(graph.modules):
        if top(module) not in packages:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            src, dst = top(module), top(imported)
            if src != dst and (dst in packages or dst in TORCH):
                counts[src, dst] = counts.get((src, dst), 0) + 1
            upward = dst in rank and src in rank and rank[dst] > rank[src]
            torch_in_app = module.startswith(TORCH_FREE) and (dst in TORCH or dst == "engine")
            if upward or torch_in_app:
                against.append(f"  {module} -> {imported}")
    columns = [*packages, *TORCH[:1]]
    print("| imports -> | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for src in packages:
        cells = [str(counts.get((src, dst), "")) if dst != src else "·" for dst in columns]
        print(f"| {src} | " + " | ".join(cells) + " |")
    print(f"\nimports against the map: {len(against)}")
    print("\n".join(against))
    return 0


if __name__ == "__main__":
    sys.exit(main())
