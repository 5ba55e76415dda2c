"""Property-based fuzzing of the shipped configs: whatever a mutation makes of them, loading gives a
valid config or one line per problem naming the file and a line, never another exception."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery import build, config
from gallery.errors import GalleryError

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
SCALARS = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([".nan", ".inf", "-.inf", "true", "false", "null", "~", "[]", "{}", "''", "[1, 2", "*x", "&y 1",
                     "!!python/object:os.system ls", "\"\\ud800\"", "- a", "{a: [b, {c: d}]}", "0x1F", "1e400"]),
    st.text(max_size=20).map(lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of configs/ (with its images), so a mutated config still finds its relative files."""
    folder = tmp_path_factory.mktemp("fuzz") / "configs"
    shutil.copytree(REPO / "configs", folder)
    return folder


def mutate(text: str, data: st.DataObject) -> bytes:
    lines = text.splitlines(keepends=True)
    kind = data.draw(st.sampled_from(["value", "delete", "duplicate", "insert", "truncate", "bytes", "indent"]))
    where = data.draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "value":
        valued = [i for i, line in enumerate(lines) if re.search(r":\s*\S", line) and not line.lstrip().startswith("#")]
        i = valued[where % len(valued)]
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {data.draw(SCALARS)}\n"
    elif kind == "delete":
        del lines[where]
    elif kind == "duplicate":
        lines.insert(where, lines[where])
    elif kind == "insert":
        lines.insert(where, data.draw(st.text(max_size=30)) + "\n")
    elif kind == "truncate":
        lines = lines[:where]
    elif kind == "indent":
        lines[where] = data.draw(st.sampled_from(["", " ", "   ", "\t"])) + lines[where].lstrip()
    raw = "".join(lines).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        position = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        raw = raw[:position] + bytes([data.draw(st.integers(0, 255))]) + raw[position + 1:]
    return raw


def one_line_per_problem(error: GalleryError, path: Path) -> None:
    for line in str(error).splitlines():
        assert line.startswith(f"{path}:") and "Traceback" not in line, line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_configs_load_or_say_what_is_wrong(configs: Path, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(CONFIGS))
    path = configs / f"mutated-{source.name}"
    path.write_bytes(mutate(source.read_text(), data))
    try:
        config.load(path)
    except GalleryError as error:
        one_line_per_problem(error, path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_mnist_config_plans_or_says_what_is_wrong(configs: Path, data: st.DataObject) -> None:
    """The whole check, against the real layers of the MNIST CNN (no training)."""
    path = configs / "mutated-plan-mnist.yaml"
    path.write_bytes(mutate((REPO / "configs" / "mnist.yaml").read_text(), data))
    try:
        build.check(path)
    except GalleryError as error:
        one_line_per_problem(error, path)
