"""What a plan's activation maximization costs, before anything renders: image-steps, FLOPs, hours.

One engine step on an image runs the network up to the target layer forward and back to the input;
the backward pass through a conv costs about twice its forward pass (the input's gradient, and the
weights' is never computed), so a step is STEP_FLOPS times the forward FLOPs up to the layer (every
layer before it in network order: in a CNN nearly all of them feed it). Time follows from the
device's matmul peak (devices.matmul_rate) and the share of it each kind of layer reaches:
convolutions and dense layers nearly all of it, depthwise convolutions a twentieth (measured on
EfficientNet-Lite0 and ResNet50 by `benchmarks/scale.py`, which checks this model against real
runs). No TensorFlow here: `gallery validate` prints an estimate from the plan alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gallery.architecture import ModelInfo
from gallery.config import Setting
from gallery.plan import Plan

STEP_FLOPS = 3.0  # forward, plus the input's gradient at about twice the forward
# The share of the matmul peak the engine reaches per layer type (benchmarks/scale.py, 2 cores):
# ResNet50's convs ran at 0.95 of it, EfficientNet-Lite0's depthwise convs at about 0.05.
PEAK_SHARE = {"DepthwiseConv2D": 0.05}
DEFAULT_SHARE = 0.95
CLUSTER_NODES = (8, 64)  # the cluster sizes `gallery validate` gives an estimate for
# Tracing one (layer, setting)'s optimization, once per worker, grows with the graph below the layer:
# about 10 s for EfficientNet-Lite0's stage6 (130 layers) on 2 cores, 1-2 s for a CNN of a few layers.
COMPILE_BASE_SECONDS = 1.0
COMPILE_SECONDS_PER_LAYER = 0.07


def compile_seconds(layers_below: int) -> float:
    """The estimated time to trace one (layer, setting) with `layers_below` layers up to it."""
    return COMPILE_BASE_SECONDS + COMPILE_SECONDS_PER_LAYER * layers_below


def image_steps(setting: Setting) -> int:
    """The optimizer steps one picture takes under a setting, at most: the unit of the rendering bar."""
    return setting.step_budget * setting.diversity


@dataclass(frozen=True)
class Cost:
    """Activation-maximization pictures: how many, their image-steps and FLOPs (at most: under `steps:
    auto` images stop early, and a retry's two more passes are counted as if every picture took them)."""

    images: int
    image_steps: int
    flops: float
    peak_equivalent_flops: float  # what a device would do at its matmul peak in the time these take
    layers: int  # (model, layer, setting) triples: each compiles its function once per worker
    compile_seconds: float = 0.0  # tracing all of them once (compile_seconds per triple)

    def seconds(self, peak: float, workers: int = 1, compile_seconds: float | None = None) -> float:
        """Wall time on `workers` devices of `peak` FLOP/s each, the work split evenly, each compiling
        every layer it renders once (`compile_seconds` per layer, default: each layer's estimate)."""
        tracing = self.compile_seconds if compile_seconds is None else compile_seconds * self.layers
        return self.peak_equivalent_flops / (peak * workers) + tracing

    def times(self, pictures: int) -> Cost:
        """`pictures` such pictures of the same layers."""
        return replace(self, images=self.images * pictures, image_steps=self.image_steps * pictures,
                       flops=self.flops * pictures, peak_equivalent_flops=self.peak_equivalent_flops * pictures)

    def __add__(self, other: Cost) -> Cost:
        """Both, their layers counted apart (cost() counts a plan's shared layers once)."""
        return Cost(self.images + other.images, self.image_steps + other.image_steps, self.flops + other.flops,
                    self.peak_equivalent_flops + other.peak_equivalent_flops, self.layers + other.layers,
                    self.compile_seconds + other.compile_seconds)


NOTHING = Cost(0, 0, 0.0, 0.0, 0)


def picture_cost(info: ModelInfo, layer: str, setting: Setting) -> Cost:
    """One picture of `layer` under `setting`, at most: its layer compiled once."""
    below = info.layers[:info.order(layer) + 1]
    steps = image_steps(setting) * (3 if setting.retry == "auto" else 1)  # a retry: two more passes
    flops = sum(step.flops for step in below)
    at_peak = sum(step.flops / PEAK_SHARE.get(step.type, DEFAULT_SHARE) for step in below)
    return Cost(1, steps, steps * STEP_FLOPS * flops, steps * STEP_FLOPS * at_peak, 1, compile_seconds(len(below)))


def cost(plan: Plan, infos: dict[str, ModelInfo]) -> Cost:
    """Every picture of a plan, each (model, layer, setting) compiled once."""
    costs = [(job, picture_cost(infos[job.model], job.layer, job.setting)) for job in plan.jobs]
    total = sum((one for _, one in costs), NOTHING)
    compiled = {(job.model, job.layer, job.setting_name): one.compile_seconds for job, one in costs}
    return replace(total, layers=len(compiled), compile_seconds=sum(compiled.values()))


def flops(count: float) -> str:
    """`2.9 PFLOP`, `23.7 TFLOP`, `410 GFLOP`: a count of FLOPs in the unit that reads best."""
    for unit, size in (("PFLOP", 1e15), ("TFLOP", 1e12)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count / 1e9:,.1f} GFLOP"


def duration(seconds: float) -> str:
    """`3 min`, `5.2 h`, `3.1 days`: an estimate's size, not its digits."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:.1f} days"


def summary(work: Cost, peak: float) -> str:
    """`gallery validate`'s line: the work, and its time here and on clusters of nodes like this one."""
    clusters = ", ".join(f"{duration(work.seconds(peak, nodes))} on {nodes}" for nodes in CLUSTER_NODES)
    return (f"{work.images:,} picture{'s' * (work.images != 1)}, {work.image_steps:,} image-steps at most, "
            f"{flops(work.flops)}: "
            f"about {duration(work.seconds(peak))} on this machine (matmul peak "
            f"{peak / 1e9:.0f} GFLOP/s), {clusters} nodes like it (--executor ray)")
