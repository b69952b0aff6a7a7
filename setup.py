"""The wheel carries docs/*.md as publisher/docs/, so `publisher help TOPIC` reads them wherever publisher is
installed (the rest of the build is pyproject.toml's)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithDocs(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "publisher" / "docs"
        target.mkdir(parents=True, exist_ok=True)
        for doc in sorted((Path(__file__).parent / "docs").glob("*.md")):
            shutil.copyfile(doc, target / doc.name)


setup(cmdclass={"build_py": BuildWithDocs})
