"""Build hook: generate the GoBGP gRPC modules from our own .proto files.

ldirectord_py/routing/proto/*.proto are the sources (gobgp_v3.proto and
gobgp_v4.proto, one per GoBGP API); the Python modules (gobgp_v3_pb2.py,
gobgp_v3_pb2_grpc.py, ...) are generated into the gitignored
package ldirectord_py/routing/_gen/ by grpc_tools.protoc (a build requirement,
see pyproject.toml) whenever build_py runs: `pip install .`, `pip wheel .` and
`pip install -e .` (`make venv`) alike. The grpcio-tools version range in
pyproject.toml fixes the protobuf gencode version the modules embed, and the
runtime `protobuf`/`grpcio` ranges accept it.
"""

from __future__ import annotations

import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "ldirectord_py", "routing", "proto")
GEN_DIR = os.path.join(HERE, "ldirectord_py", "routing", "_gen")
GEN_PACKAGE = "ldirectord_py.routing._gen"


def generate() -> None:
    from grpc_tools import protoc  # build requirement (grpcio-tools)

    os.makedirs(GEN_DIR, exist_ok=True)
    protos = sorted(p for p in os.listdir(PROTO_DIR) if p.endswith(".proto"))
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={GEN_DIR}",
        f"--grpc_python_out={GEN_DIR}",
        *(os.path.join(PROTO_DIR, p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("grpc_tools.protoc failed on " + ", ".join(protos))
    # protoc writes flat imports ("import gobgp_v3_pb2"); make them relative.
    for name in os.listdir(GEN_DIR):
        if name.endswith("_grpc.py"):
            path = os.path.join(GEN_DIR, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            text = re.sub(r"^import (\w+_pb2) as ", r"from . import \1 as ", text, flags=re.M)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    with open(os.path.join(GEN_DIR, "__init__.py"), "w", encoding="utf-8") as f:
        f.write('"""Generated at build time from ../proto/*.proto by setup.py; do not edit."""\n')


class BuildPyWithProto(build_py):
    def run(self) -> None:
        generate()
        if self.packages is not None and GEN_PACKAGE not in self.packages:
            self.packages.append(GEN_PACKAGE)
        super().run()


setup(cmdclass={"build_py": BuildPyWithProto})
