"""Package discovery that cannot miss a subpackage: every package under src/ is found, and the specs and
fixtures (top-level folders of the project) travel inside the wheel as apitwin._specs and apitwin._fixtures.
The rest of the metadata is in pyproject.toml; setuptools reads both."""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "apitwin._specs", "apitwin._fixtures"])
