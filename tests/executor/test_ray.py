"""The Ray executor against the local one, on a local cluster: the same store, whatever dies."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install -e '.[test]'")

from gallery import build  # noqa: E402
from gallery.errors import GalleryError  # noqa: E402
from gallery.executor import Done, Task  # noqa: E402
from gallery.executor.ray import RayExecutor, check_answers, checked_address, placements  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


class KillingOnce(RayExecutor):
    """Kills its worker's process once the first result is back: a node lost mid-build."""

    made: list[KillingOnce] = []

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.killed = False
        self.started = 0
        KillingOnce.made.append(self)

    def _start(self) -> None:
        self.started += not self.workers
        super()._start()

    def run(self, tasks: list[Task]) -> Iterator[Done]:
        for done in super().run(tasks):
            if not self.killed:
                os.kill(int(ray.get(self.workers[0].about.remote())["pid"]), signal.SIGKILL)
                self.killed = True
            yield done


def without_seconds(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: without_seconds(value) for key, value in document.items() if key != "seconds"}
    return [without_seconds(value) for value in document] if isinstance(document, list) else document


def stored(cache: Path) -> dict[Path, Any]:
    """Every file of the render cache: PNG and .npy bytes, JSON documents without their seconds."""
    root = cache / "renders"
    return {path.relative_to(root): without_seconds(json.loads(path.read_text())) if path.suffix == ".json"
            else path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_a_ray_build_with_a_killed_worker_stores_what_the_local_build_stores(mnist_atlas, cluster, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(mnist_atlas.cache / "models", cache / "models")  # the trained weights: nothing to retrain
    summary = build.run(mnist_atlas.config, tmp_path / "site", cache, executor=KillingOnce)
    executor = KillingOnce.made[-1]
    assert executor.killed and executor.started == 1
    ours, local = stored(cache), stored(mnist_atlas.cache)
    assert len(ours) > 500 and set(ours) <= set(local)
    assert [path for path in ours if ours[path] != local[path]] == []
    seconds = re.compile(r" in \d+ s")
    assert seconds.sub("", summary.line().replace(str(tmp_path / "site"), "SITE")) == seconds.sub(
        "", mnist_atlas.first.line().replace(str(mnist_atlas.site), "SITE"))
    assert (summary.rendered, summary.cached) == (mnist_atlas.first.rendered, 0)

    again = build.run(mnist_atlas.config, tmp_path / "site", cache, executor=KillingOnce)
    assert again.rendered == 0 and KillingOnce.made[-1].started == 0  # nothing missing: no actor started


def test_placements_give_each_node_one_worker_with_all_its_cpus_or_share_them(cluster):
    assert [(place.cpus, place.gpus) for place in placements(None)] == [(2, 0)]
    assert [(place.cpus, place.gpus, place.node) for place in placements(2)] == [(1, 0, None), (1, 0, None)]
    with pytest.raises(GalleryError, match=r"^--actors 3: the Ray cluster has 2 CPUs, so at most 2 workers$"):
        placements(3)


def test_a_worker_with_other_versions_is_refused_in_one_line(cluster, monkeypatch):
    import tensorflow as tf

    executor = RayExecutor({})
    # This process's TensorFlow claims another version; a worker imports its own (modules are not shipped).
    monkeypatch.setattr(tf, "__version__", "9.9.9")
    with pytest.raises(GalleryError, match=r"^the Ray worker on .* has gallery 0\.1\.0, TensorFlow 2\.\d+.*this "
                                           r"machine gallery 0\.1\.0, TensorFlow 9\.9\.9.*same environment"):
        executor._start()
    assert executor.workers == []


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering a process's niceness takes root (a cluster gallery starts "
                                              "needs none)")
def test_a_worker_renders_at_niceness_0_not_at_rays_15(cluster):
    executor = RayExecutor({})
    try:
        executor._start()
        pid = int(ray.get(executor.workers[0].about.remote())["pid"])
        # the worker's main thread, which starts TensorFlow's threads: they inherit its niceness
        assert os.getpriority(os.PRIO_PROCESS, pid) == 0
    finally:
        executor.close()


def test_a_cluster_gallery_starts_runs_its_workers_at_niceness_0_and_leaves_the_drivers_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def init(**_: Any) -> None:
        seen["niceness"] = os.environ.get("RAY_worker_niceness")
        raise ConnectionError("stopped here: the raylet would have read the environment")

    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(GalleryError, match="no Ray cluster answers"):
        RayExecutor({})._start()
    assert seen == {"niceness": "0"} and "RAY_worker_niceness" not in os.environ


def test_a_model_whose_weights_do_not_match_their_hash_is_refused_on_the_worker_in_one_line(mnist_atlas, cluster):
    from gallery import config, models
    from gallery.config import Setting
    from gallery.executor import RenderTask

    loaded = config.load(mnist_atlas.config)
    spec = loaded.config.models[0]
    damaged = replace(models.load(spec, loaded, mnist_atlas.cache), weights_hash="0" * 16)
    executor = RayExecutor({spec.id: damaged})
    try:
        with pytest.raises(GalleryError, match=r"^model 'mnist' arrived on .* with other weights than the driver's"):
            list(executor.run([RenderTask(spec.id, "preds", "unit", Setting(steps=2), (0.0, 1.0), (0,))]))
    finally:
        executor.close()



def test_a_task_cut_into_several_chunks_comes_back_whole_and_in_place(mnist_atlas, cluster):
    import numpy as np

    from gallery import config, models
    from gallery.config import Setting
    from gallery.executor import LocalExecutor, RenderTask

    loaded = config.load(mnist_atlas.config)
    spec = loaded.config.models[0]
    model = models.load(spec, loaded, mnist_atlas.cache)
    task = RenderTask(spec.id, "conv2d_2", "channel", Setting(steps=3), model.input_range, tuple(range(64)))
    local, executor = LocalExecutor({spec.id: model}), RayExecutor({spec.id: model})
    for engines in (local, executor.local):  # batches of 24: chunks of 24, 24 and 16, the rest queued each time
        engines.engine(task).fitting_images["channel"] = 24
    try:
        remote = {position: rendered for _, position, rendered in executor.run([task])}
        assert len(executor.kinds) == len(executor.workers) and set(executor.kinds.values()) == {"CPU"}
    finally:
        executor.close()
    here = {position: rendered for _, position, rendered in local.run([task])}
    assert sorted(remote) == sorted(here) == list(range(64))
    assert all(np.array_equal(remote[p].image, here[p].image) and remote[p].losses == here[p].losses for p in here)

class InterruptedOnce(RayExecutor):
    """Ctrl-C as the first result comes back."""

    def run(self, tasks: list[Task]) -> Iterator[Done]:
        for done in super().run(tasks):
            yield done
            raise KeyboardInterrupt


def test_ctrl_c_keeps_what_is_stored_and_frees_the_cluster(mnist_atlas, cluster, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(mnist_atlas.cache / "models", cache / "models")
    with pytest.raises(KeyboardInterrupt):
        build.run(mnist_atlas.config, tmp_path / "site", cache, executor=InterruptedOnce)
    kept = [path for path in (cache / "renders").rglob("*.json")]
    assert len(kept) == 1 and kept[0].with_suffix(".png").is_file()  # the one result that came back
    assert not (tmp_path / "site").exists()
    for _ in range(100):  # the workers are gone: their cores are free again (Ray reports it within moments)
        if ray.available_resources().get("CPU") == 2:
            break
        time.sleep(0.1)
    assert ray.available_resources().get("CPU") == 2


def refusal(address: str | None) -> str:
    with pytest.raises(GalleryError) as refused:
        check_answers(checked_address(address))
    return str(refused.value)


def test_an_address_where_no_ray_answers_is_one_line_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import grpc

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    for closed in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        assert refusal(closed).startswith(f"--address {closed}: no Ray cluster answers (nothing that speaks gRPC")
    with socket.socket() as web:  # a web server, a dashboard: it answers, but not in gRPC
        web.bind(("127.0.0.1", 0))
        web.listen()
        answering = threading.Thread(target=lambda: web.accept()[0].sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"))
        answering.start()
        assert "(nothing that speaks gRPC listens on that port)" in refusal(f"127.0.0.1:{web.getsockname()[1]}")
        answering.join()
    other = grpc.server(ThreadPoolExecutor(1))  # a gRPC server that is not Ray's: ray.init waited forever
    served = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        for address in (f"127.0.0.1:{served}", f"ray://127.0.0.1:{served}"):
            assert "(a gRPC server that is not Ray's listens on that port" in refusal(address)
    finally:
        other.stop(None).wait()  # before Ray forks its processes in this one
    for wrong in ("foo", "", "head:port", "10.0.0.5:70000", "http://head:6379", "ray://head", "ray://h:1/x"):
        assert refusal(wrong).startswith(f"--address {wrong}: not auto, HOST:PORT or ray://HOST:PORT")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # left set after `ray stop`: Ray reads it
    assert refusal(None).startswith(f"RAY_ADDRESS=127.0.0.1:{port}: no Ray cluster answers")
    assert time.monotonic() - started < 10
    monkeypatch.setenv("RAY_ADDRESS", "")  # `export RAY_ADDRESS=`: unset, as Ray reads it
    assert checked_address(None) is None
    monkeypatch.delenv("RAY_ADDRESS")
    for left_to_ray in (None, "auto", "local"):
        assert checked_address(left_to_ray) is None


def test_a_malformed_address_is_refused_before_any_model_loads(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from conftest import REPO

    from gallery.cli import main

    with pytest.raises(GalleryError, match=r"^--address head: not auto"):
        RayExecutor({}, address="head")  # where every result is cached, run() would never reach Ray
    result = CliRunner().invoke(main, ["build", str(REPO / "configs" / "mnist.yaml"), "--executor", "ray",
                                       "--address", "head", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: --address head: not auto, HOST:PORT or ray://HOST:PORT (the head node's address and Ray's port, "
        "e.g. 10.0.0.5:6379)"]
    assert not (tmp_path / "cache").exists()  # nothing trained, nothing loaded


def test_the_address_of_a_running_cluster_is_let_through(cluster) -> None:
    check_answers(checked_address(ray.get_runtime_context().gcs_address))


def test_a_gpu_worker_gets_a_gpu_sized_chunk_from_a_cpu_driver() -> None:
    import keras
    import numpy as np

    from gallery.config import Setting
    from gallery.executor import RenderTask
    from gallery.renderers.devices import MAX_BATCH

    inputs = keras.Input((16, 16, 3))
    network = keras.Model(inputs, keras.layers.Conv2D(300, 3, name="conv")(inputs))
    executor = RayExecutor({"net": SimpleNamespace(network=network)})  # nothing started: it only cuts
    starts = tuple(np.full((16, 16, 3), f % 256, np.uint8) for f in range(300))
    task = RenderTask("net", "conv", "channel", Setting(steps=2), (0.0, 1.0), tuple(range(300)), starts)
    piece, left = executor._cut(task, "CPU")
    assert piece.filters == tuple(range(MAX_BATCH["CPU"])) and left is not None
    assert left.filters == tuple(range(MAX_BATCH["CPU"], 300)) and left.starts[0][0, 0, 0] == MAX_BATCH["CPU"]
    whole, nothing = executor._cut(task, "GPU")  # 300 images fit a GPU's batch at once
    assert whole.filters == task.filters and whole.starts == task.starts and nothing is None
