"""Maps the top-level trainers/, exporters/ and runtime/ folders into the edge_moe namespace.

Metadata lives in pyproject.toml; only the package list is computed here, so a new sub-package in
any of the three folders is picked up without editing a list.
"""
from setuptools import find_packages, setup

MAPPED = {"trainers": "edge_moe.trainers", "exporters": "edge_moe.exporters", "runtime": "edge_moe.runtime"}

packages = find_packages(include=["edge_moe", "edge_moe.*"])
package_dir = {"edge_moe": "edge_moe"}
for folder, name in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]

setup(packages=packages, package_dir=package_dir)
