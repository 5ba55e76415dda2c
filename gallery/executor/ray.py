"""Rendering across a Ray cluster: the local executor's tasks, cut into chunks and run on actors.

The driver keeps the store, so workers need no shared disk and no credentials: it cuts each
render task, as a worker frees up, into the batches the local engine would run on that worker's
device (`ActivationMaximizer.chunk_size`; a GPU's are larger than a CPU's), so a chunk's pixels
are the local ones byte for byte, ships each model once through the object store,
and yields results as chunks finish. An actor is one device's worker, a node's CPUs or one GPU;
each is a `LocalExecutor` that loads a model the first time a chunk names it, checks its weights
hash, and keeps its compiled functions across chunks. A chunk whose worker dies is run again on
the restarted actor (`max_task_retries`, RESTARTS times): running one twice is harmless, the driver
stores each result once.

Ray Core rather than a hand-made pool of processes: it places actors on nodes, moves arrays
through a shared object store and restarts what dies; gallery only decides what a chunk is.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import grpc
import keras
import ray
import tensorflow as tf
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from gallery import __version__
from gallery.errors import GalleryError
from gallery.executor import Done, LocalExecutor, RenderTask, Task, model_of
from gallery.fingerprints import weights_digest
from gallery.models import LoadedModel
from gallery.renderers.devices import configure, kind_of

IN_FLIGHT = 2  # chunks queued per actor: the next one is waiting when one finishes
RESTARTS = 3  # a worker that dies is restarted (on its node, else another) this often; then the build stops
START_TIMEOUT_S = 300  # for every worker to start: longer means the cluster has no room for one
ANSWER_TIMEOUT_S = 5  # for an address to answer the one call only Ray answers (PROBES)
# Ray starts its workers at niceness 15, below every other process: on a node whose cores the worker
# fills, each wake-up of a daemon or of the driver then stalls TensorFlow's threads mid-step (about 6% of
# the speed of MNIST-sized batches, measured on 2 cores). A cluster gallery starts runs them at 0.
NICENESS = "0"


def versions() -> dict[str, str]:
    """What must match between the driver and every worker for their pixels to match."""
    return {"gallery": __version__, "TensorFlow": tf.__version__, "Keras": keras.__version__}


def spelled(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {value}" for name, value in found.items())


@dataclass(frozen=True)
class Placement:
    """One actor: where it runs and what it holds."""

    cpus: int
    gpus: int
    node: str | None  # a node id to pin it to, or None: anywhere


@ray.remote(max_restarts=RESTARTS, max_task_retries=RESTARTS)
class Worker:
    """One device's renderer: models arrive once by reference and stay loaded."""

    def __init__(self, threads: int, gpu: bool):
        with contextlib.suppress(OSError):  # a cluster started without RAY_worker_niceness=0, where allowed
            os.setpriority(os.PRIO_PROCESS, 0, int(NICENESS))  # this thread, whose TensorFlow threads inherit it
        # Before any TensorFlow operation, so it holds. A worker that has the whole node keeps TensorFlow's
        # own thread pools, as the local build does (set explicitly to the same count, they ran 5-25% slower).
        self.device = configure(threads if threads < (os.cpu_count() or 1) else None, gpu)
        self.models: dict[str, LoadedModel] = {}
        self.local = LocalExecutor(self.models)

    def about(self) -> dict[str, str]:
        return {**versions(), "node": ray.util.get_node_ip_address(), "pid": str(os.getpid()), "device": self.device}

    def run(self, shipped: list[Any], task: Task) -> list[tuple[int, Any]]:
        """`shipped`: [the model's object reference], in a list so that Ray passes the reference and
        this worker fetches the model only the first time."""
        name = model_of(task)
        if name not in self.models:
            model = ray.get(shipped[0])
            if weights_digest(model.network.get_weights()) != model.weights_hash:
                raise GalleryError(f"model '{name}' arrived on {ray.util.get_node_ip_address()} with other weights "
                                   "than the driver's: its object store copy is damaged")
            self.models[name] = model
        return [(position, result) for _, position, result in self.local.run([task])]


def fetched(ref: Any, task: Task) -> list[tuple[int, Any]]:
    """A chunk's results; a user's error raised on a worker (GalleryError) as its one line, not as the
    worker's traceback, and a chunk that killed its worker every time as one line too."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, GalleryError):
            raise exc.cause from None
        raise
    except ray.exceptions.RayActorError:
        what = f"{task.model}/{task.layer}" if isinstance(task, RenderTask) else model_of(task)
        raise GalleryError(f"a Ray worker died {RESTARTS + 1} times rendering {what} (out of memory on its "
                           "node?); every result stored so far is kept") from None


def placements(actors: int | None) -> list[Placement]:
    """Per alive node, one actor per GPU or else one for all its CPUs; `actors` N: N actors sharing
    the cluster's CPUs (and a GPU each while there are enough)."""
    nodes = [node for node in ray.nodes() if node.get("Alive") and node["Resources"].get("CPU", 0) >= 1]
    if actors is None:
        found = []
        for node in nodes:  # a node with no CPU to offer (a head started with --num-cpus=0) gets none
            cpus, gpus = int(node["Resources"]["CPU"]), int(node["Resources"].get("GPU", 0))
            if gpus:
                found.extend(Placement(max(1, cpus // gpus), 1, node["NodeID"]) for _ in range(gpus))
            else:
                found.append(Placement(cpus, 0, node["NodeID"]))
        return found
    cpus = sum(int(node["Resources"]["CPU"]) for node in nodes)
    gpus = sum(int(node["Resources"].get("GPU", 0)) for node in nodes)
    if actors > cpus:
        raise GalleryError(f"--actors {actors}: the Ray cluster has {cpus} CPUs, so at most {cpus} workers")
    share = min(cpus // actors, min(int(node["Resources"]["CPU"]) for node in nodes))  # fits on any node
    return [Placement(share, int(number < gpus), None) for number in range(actors)]


# A call each kind of Ray address answers, harmless to make: a GCS (HOST:PORT) its cluster's id, a
# client server (ray://) whether a driver is connected. Any other gRPC server answers UNIMPLEMENTED; a
# web server, a dashboard or a silent port answer no gRPC at all: ray.init would wait for them forever.
PROBES = {"gcs": "/ray.rpc.NodeInfoGcsService/GetClusterId", "client": "/ray.rpc.RayletDriver/ClusterInfo"}
NOT_RAY = {  # the probe's answers that say no Ray is there, and what they mean
    grpc.StatusCode.UNIMPLEMENTED: "a gRPC server that is not Ray's listens on that port: give the one "
                                   "`ray start --head` printed, 6379 by default",
    grpc.StatusCode.UNAVAILABLE: "nothing that speaks gRPC listens on that port",
    grpc.StatusCode.DEADLINE_EXCEEDED: f"no answer within {ANSWER_TIMEOUT_S} s",
}


@dataclass(frozen=True)
class Address:
    """A cluster address gallery checks before Ray connects: as the user gave it, and where it points."""

    shown: str  # `--address X` or `RAY_ADDRESS=X`: what the user would look for
    target: str  # HOST:PORT for gRPC
    probe: str  # the call that only Ray answers there


def checked_address(address: str | None) -> Address | None:
    """The cluster `address` (else RAY_ADDRESS, which Ray reads then) names, refused in one line where it
    is not auto, HOST:PORT or ray://HOST:PORT; None where Ray finds the cluster itself (auto, local,
    unset). Called when the build starts, so a typo is caught even where everything is cached."""
    given = address if address is not None else os.environ.get("RAY_ADDRESS") or None  # empty: unset, as for Ray
    if given is None or given.strip() in ("auto", "local"):
        return None
    shown = f"--address {given}" if address is not None else f"RAY_ADDRESS={given}"
    client = given.startswith("ray://")
    host, colon, port = given.removeprefix("ray://").strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536 or "://" in host or "/" in host:
        raise GalleryError(f"{shown}: not auto, HOST:PORT or ray://HOST:PORT (the head node's address and "
                           "Ray's port, e.g. 10.0.0.5:6379)")
    return Address(shown, f"{host}:{port}", PROBES["client" if client else "gcs"])


def not_answering(address: str, why: object) -> GalleryError:
    return GalleryError(f"{address}: no Ray cluster answers ({why}); start one with `ray start --head` on the "
                        "head node")


def check_answers(address: Address | None) -> None:
    """Refuses in one line an `address` where no Ray answers within ANSWER_TIMEOUT_S: Ray would retry
    a closed port for a minute, printing a screen of "Failed to get cluster ID" (a ray:// address: 30 s
    and a warning), and wait for a port that is not Ray's forever."""
    if address is None or os.environ.get("RAY_USE_TLS", "0") not in ("0", ""):
        return  # a TLS cluster answers only after a handshake with its certificates: Ray's own client makes it
    with grpc.insecure_channel(address.target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        try:
            channel.unary_unary(address.probe)(b"", timeout=ANSWER_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() in NOT_RAY:
                raise not_answering(address.shown, NOT_RAY[exc.code()]) from None
            # any other refusal (authentication, a request Ray finds incomplete) comes from Ray itself


class RayExecutor:
    """The build's tasks on a Ray cluster (`address` "auto", HOST:PORT, or None: the one running on this
    machine, else a new one for this build)."""

    def __init__(self, models: dict[str, LoadedModel], address: str | None = None, actors: int | None = None):
        self.models, self.address, self.actors = models, address, actors
        self.checked = checked_address(address)  # a typo is one line now, even where nothing will render
        self.local = LocalExecutor(models)  # the engines' chunk sizes; it renders nothing here
        self.workers: list[Any] = []
        self.kinds: dict[Any, str] = {}  # per worker, its device's kind: the size of its chunks
        self.shipped: dict[str, Any] = {}
        self.started_ray = False

    def run(self, tasks: Sequence[Task]) -> Iterator[Done]:
        queue = deque((task, 0, task) for task in tasks if not isinstance(task, RenderTask) or task.filters)
        if not queue:
            return  # nothing missing: no cluster touched, no actor started
        self._start()
        idle = [worker for _ in range(IN_FLIGHT) for worker in self.workers]  # every worker before a second chunk
        running: dict[Any, tuple[Task, int, Any]] = {}
        try:
            while queue or running:
                while queue and idle:
                    worker = idle.pop(0)
                    task, offset, rest = queue.popleft()
                    piece, left = self._cut(rest, self.kinds[worker])
                    if left is not None:
                        queue.appendleft((task, offset + len(piece.filters), left))
                    running[worker.run.remote([self._ship(model_of(task))], piece)] = (task, offset, worker)
                finished, _ = ray.wait(list(running), num_returns=1)
                for ref in finished:
                    task, offset, worker = running.pop(ref)
                    idle.append(worker)
                    for position, result in fetched(ref, task):
                        yield task, offset + position, result
        finally:
            for ref in running:  # Ctrl-C or an error: what is stored stays; close() then stops the workers
                ray.cancel(ref)

    def _cut(self, task: Task, kind: str) -> tuple[Task, RenderTask | None]:
        """The next chunk of `task` for a worker on a `kind` device ("CPU", "GPU") and what is left of it
        (None: nothing): a render task in that device's batches (a GPU's are up to 16 times a CPU's),
        so a chunk is a batch the local engine there would run; other tasks whole."""
        if not isinstance(task, RenderTask):
            return task, None
        size = self.local.engine(task).chunk_size(task.setting, kind)

        def part(first: int, last: int | None) -> RenderTask:
            starts = task.starts[first:last] if task.starts is not None else None
            return replace(task, filters=task.filters[first:last], starts=starts)

        return part(0, size), part(size, None) if size < len(task.filters) else None

    def _ship(self, model: str) -> Any:
        if model not in self.shipped:
            self.shipped[model] = ray.put(self.models[model])
        return self.shipped[model]

    def _start(self) -> None:
        if self.workers:
            return
        if not ray.is_initialized():
            check_answers(self.checked)
            ours = "RAY_worker_niceness" not in os.environ
            os.environ.setdefault("RAY_worker_niceness", NICENESS)  # read by a raylet this call starts
            try:  # Ray's own warnings (token authentication, ...) would break into the progress bars
                ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False,
                         include_dashboard=False)
            except ConnectionError as exc:
                raise not_answering(f"--address {self.address or 'auto'}", exc) from None
            finally:  # the raylet has read it: what this process starts later is not gallery's to change
                if ours:
                    os.environ.pop("RAY_worker_niceness", None)
            self.started_ray = True
        for place in placements(self.actors):
            # soft: a worker restarted after its node was lost may run on another one
            strategy = NodeAffinitySchedulingStrategy(place.node, soft=True) if place.node else "SPREAD"
            self.workers.append(Worker.options(num_cpus=place.cpus, num_gpus=place.gpus,
                                               scheduling_strategy=strategy).remote(place.cpus, bool(place.gpus)))
        here = versions()
        try:
            found = ray.get([worker.about.remote() for worker in self.workers], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise GalleryError(f"the Ray workers did not start within {START_TIMEOUT_S} s: the cluster has no "
                               "room for them (each takes a node's CPUs, or a GPU; see --actors)") from None
        except ray.exceptions.RayError as exc:
            self.close()
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise GalleryError(f"a Ray worker could not start ({first.strip()[:200]}): install the same "
                               "environment (gallery with its ray extra) on every node") from None
        self.kinds = {worker: kind_of(about["device"]) for worker, about in zip(self.workers, found)}
        for about in found:
            theirs = {name: about[name] for name in here}
            if theirs != here:
                self.close()
                raise GalleryError(f"the Ray worker on {about['node']} has {spelled(theirs)}, this machine "
                                   f"{spelled(here)}: install the same environment on every node")

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers, self.kinds, self.shipped = [], {}, {}
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False
