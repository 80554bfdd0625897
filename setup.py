"""Package discovery that cannot miss a subpackage: every package under src/ is found, and the specs and
fixtures (top-level folders of the project) travel inside the wheel as apitwin._specs and apitwin._fixtures,
with their subfolders (specs/common/, shared by several twins) as subpackages of those.
The rest of the metadata is in pyproject.toml; setuptools reads both."""

from pathlib import Path

from setuptools import find_packages, setup


def data_packages(folder: str, package: str) -> list[str]:
    root = Path(__file__).parent / folder
    below = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_dir() and not p.name.startswith("."))
    return [package, *(".".join([package, *path.parts]) for path in below)]


setup(
    packages=[
        *find_packages("src"),
        *data_packages("specs", "apitwin._specs"),
        *data_packages("fixtures", "apitwin._fixtures"),
    ]
)
