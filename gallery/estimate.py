"""What a plan's activation maximization costs, before anything renders: image-steps, FLOPs, hours.

One engine step on an image runs the network up to the target layer forward and back to the input;
the backward pass through a conv costs about twice its forward pass (the input's gradient, and the
weights' is never computed), so a step is STEP_FLOPS times the forward FLOPs up to the layer
(`ModelInfo.flops_to`). Hours follow from a rate in FLOP/s the engine reaches: measured on this
machine by `benchmarks/scale.py`, which checks this model against real runs, one actor and two.
No TensorFlow here: `gallery validate` prints an estimate from the plan alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from gallery.architecture import ModelInfo
from gallery.config import Setting
from gallery.plan import Plan

STEP_FLOPS = 3.0  # forward, plus the input's gradient at about twice the forward
# The engine's rate as a share of the device's matmul peak (devices.matmul_rate), measured by
# benchmarks/scale.py on EfficientNet-Lite0 (depthwise convs run far below the peak) on 2 cores.
ENGINE_SHARE = 0.4
CLUSTER_NODES = (8, 64)  # the cluster sizes `gallery validate` gives an estimate for
COMPILE_SECONDS = 5.0  # per (layer, setting) and worker: tracing the optimization (benchmarks/scale.py)


def image_steps(setting: Setting) -> int:
    """The optimizer steps one picture takes under a setting, at most: the unit of the rendering bar."""
    return setting.step_budget * setting.diversity


@dataclass(frozen=True)
class Cost:
    """A plan's activation-maximization pictures: how many, their image-steps and FLOPs (at most:
    under `steps: auto` images stop early)."""

    images: int
    image_steps: int
    flops: float
    layers: int  # (model, layer, setting) triples: each compiles its function once per worker

    def seconds(self, rate: float, workers: int = 1, compile_seconds: float = 0.0) -> float:
        """Wall time at `rate` FLOP/s per worker, the work split evenly over `workers`, each compiling
        every layer it renders once."""
        return self.flops / (rate * workers) + compile_seconds * self.layers


def picture_flops(info: ModelInfo, layer: str, setting: Setting) -> float:
    """One picture of `layer` under `setting`, at most."""
    return image_steps(setting) * STEP_FLOPS * info.flops_to(layer)


def cost(plan: Plan, infos: dict[str, ModelInfo]) -> Cost:
    flops = sum(picture_flops(infos[job.model], job.layer, job.setting) for job in plan.jobs)
    return Cost(len(plan.jobs), sum(image_steps(job.setting) for job in plan.jobs), float(flops),
                len({(job.model, job.layer, job.setting_name) for job in plan.jobs}))


def duration(seconds: float) -> str:
    """`3 min`, `5.2 h`, `3.1 days`: an estimate's size, not its digits."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:.1f} days"


def summary(found: Cost, peak: float) -> str:
    """`gallery validate`'s line: the work, and its time here and on clusters of nodes like this one."""
    rate = peak * ENGINE_SHARE
    clusters = ", ".join(f"{duration(found.seconds(rate, nodes, COMPILE_SECONDS))} on {nodes}"
                         for nodes in CLUSTER_NODES)
    return (f"{found.images:,} pictures, {found.image_steps:,} image-steps at most, {found.flops / 1e12:,.1f} TFLOP: "
            f"about {duration(found.seconds(rate, 1, COMPILE_SECONDS))} on this machine ({rate / 1e9:.0f} GFLOP/s), "
            f"{clusters} nodes like it (--executor ray)")
