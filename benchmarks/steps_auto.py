"""`steps: auto` against fixed steps on the same pictures, in one run: steps saved and what it costs.

    python benchmarks/steps_auto.py [--configs configs/mnist.yaml configs/imagenet-offline.yaml]
                                    [--filters 3] [--settings fourier default] [--steps N]

Each config is built twice through `gallery.build` (the real pipeline: engine, convergence
verdicts, dataset examples, activation ratios), with its activation-maximization entries only:
once as written, once with every setting under `steps: auto` and `max_steps` set to its own steps,
so an image never takes more steps than before (`--steps N`: every setting at N steps first). For a
config other than MNIST, each entry keeps `--filters` filters (its first ones) and the `--settings`
it has of those named, so the run fits a small machine. Trained weights are reused from `--cache`
(built there if missing), renders go to a temporary cache. It prints, per config:

- image-steps in total, fixed against auto, and the ratio (a frozen image leaves its batch, but
  compiling and the dataset examples do not shrink, so the build's wall time, printed last, falls less);
- the share of pictures with the same convergence verdict;
- the median activation ratio (picture against the best test image) of each, and their difference;
- the wall time of each build's rendering;
- one warm batch of the config's widest entry (its first setting, at most 64 filters), fixed against
  auto: image-steps and seconds, so the time a stopped image saves shows apart from compiling.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from gallery import build, models  # noqa: E402
from gallery.models.flatten import keras_name  # noqa: E402
from gallery.renderers.activation_max import ActivationMaximizer  # noqa: E402
from gallery.renderers.devices import fastest  # noqa: E402
from gallery.results import Summary  # noqa: E402

VIEWS = ("images", "feature_maps", "attribution", "compare")


def reduced(data: dict[str, Any], filters: int | None, settings: list[str] | None) -> dict[str, Any]:
    """The config's activation-maximization pictures only, optionally fewer filters and settings."""
    data = {key: value for key, value in data.items() if key not in VIEWS}
    data["site"] = {**data.get("site", {}), "highlights": 0}
    entries = []
    for entry in data["activation_max"]:
        entry = dict(entry)
        if filters is not None:
            chosen = entry.get("filters")
            entry["filters"] = chosen[:filters] if isinstance(chosen, list) else list(range(filters))
        if settings is not None:
            kept = [name for name in entry.get("settings", ["default"]) if name in settings]
            if not kept:
                continue
            entry["settings"] = kept
        entries.append(entry)
    data["activation_max"] = entries
    return data


def with_steps(data: dict[str, Any], steps: int | None) -> dict[str, Any]:
    """Every setting (the implicit default too) at `steps` (None: as written)."""
    if steps is None:
        return data
    settings = {name: {**(setting or {}), "steps": steps} for name, setting in (data.get("settings") or {}).items()}
    return {**data, "settings": {"default": {"steps": steps}, **settings}}


def automatic(data: dict[str, Any]) -> dict[str, Any]:
    """Every setting (the implicit default too) under steps: auto, capped at its own steps."""
    data = dict(data)
    settings = {name: dict(setting or {}) for name, setting in (data.get("settings") or {}).items()}
    settings.setdefault("default", {})
    for setting in settings.values():
        setting["max_steps"] = setting.get("steps", 200)
        setting["steps"] = "auto"
    data["settings"] = settings
    return data


def measured(summary: Summary) -> tuple[int, list[str], list[float]]:
    """(image-steps taken, verdict per picture, activation ratio per picture that has one)."""
    steps = sum(len(item.result.meta.losses["total"]) * item.job.setting.diversity for item in summary.items)
    return steps, [item.status for item in summary.items], [item.ratio for item in summary.items
                                                              if item.ratio is not None]


def one(config: Path, cache: Path, filters: int | None, settings: list[str] | None, steps: int | None) -> None:
    data = yaml.safe_load(config.read_text())
    if config.name != "mnist.yaml":
        data = reduced(data, filters, settings)
    else:
        data = reduced(data, None, None)
    data = with_steps(data, steps)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        runs = {}
        for name, variant in (("fixed", data), ("auto", automatic(data))):
            path = config.parent / f".steps-auto-{name}-{config.name}"  # beside it: relative paths hold
            path.write_text(yaml.safe_dump(variant, sort_keys=False))
            renders = root / name
            if (cache / "models").is_dir():
                shutil.copytree(cache / "models", renders / "models")
            try:
                began = time.perf_counter()
                summary = build.run(path, root / f"site-{name}", renders)
                runs[name] = (summary, time.perf_counter() - began)
                if name == "fixed":  # the pictures as built (fewer filters, --steps), once more in one batch
                    warm = warm_batch(path, renders)
            finally:
                path.unlink()
            if not (cache / "models").is_dir():
                shutil.copytree(renders / "models", cache / "models")
    (fixed, fixed_seconds), (auto, auto_seconds) = runs["fixed"], runs["auto"]
    fixed_steps, fixed_verdicts, fixed_ratios = measured(fixed)
    auto_steps, auto_verdicts, auto_ratios = measured(auto)
    same = np.mean([a == b for a, b in zip(fixed_verdicts, auto_verdicts)])
    fixed_median, auto_median = float(np.median(fixed_ratios)), float(np.median(auto_ratios))
    print(f"{config}: {len(fixed.items)} pictures")
    print(f"  image-steps: fixed {fixed_steps:,}, auto {auto_steps:,}: {fixed_steps / auto_steps:.2f}x fewer")
    print(f"  same convergence verdict: {same:.1%} of pictures")
    print(f"  median activation ratio: fixed {fixed_median:.3f}, auto {auto_median:.3f} "
          f"({(auto_median - fixed_median) / abs(fixed_median):+.1%})")
    print(f"  build wall time: fixed {fixed_seconds:.0f} s, auto {auto_seconds:.0f} s "
          f"({fixed_seconds / auto_seconds:.2f}x)")
    print(warm)


def warm_batch(path: Path, cache: Path, most: int = 64, repeats: int = 3) -> str:
    """The config's widest layer, one batch of up to `most` filters, each way warm (best of `repeats`):
    the line to print."""
    loaded, the_plan = build.check(path)
    target = max(the_plan.targets, key=lambda target: len(target.filters))
    spec = next(model for model in loaded.config.models if model.id == target.model)
    model = models.load(spec, loaded, cache)
    engine = ActivationMaximizer(model.network, keras_name(target.layer), target.kind)
    setting = next(job.setting for job in the_plan.jobs if (job.model, job.layer) == (target.model, target.layer))
    filters, input_range = list(target.filters[:most]), setting.input_range or model.input_range
    found = {}
    for name, variant in (("fixed", setting), ("auto", setting.model_copy(
            update={"steps": "auto", "max_steps": setting.step_budget}))):
        results = list(engine.render(filters, variant, input_range))  # compile
        seconds = fastest(lambda variant=variant: list(engine.render(filters, variant, input_range)), repeats)
        found[name] = (sum(result.steps for result in results) * setting.diversity, seconds)
    (fixed_steps, fixed_seconds), (auto_steps, auto_seconds) = found["fixed"], found["auto"]
    return (f"  one warm batch of {len(filters)} {target.model}/{target.layer} filters: fixed {fixed_seconds:.2f} s "
            f"({fixed_steps:,} image-steps), auto {auto_seconds:.2f} s ({auto_steps:,}): "
            f"{fixed_steps / auto_steps:.2f}x fewer image-steps, {fixed_seconds / auto_seconds:.2f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", type=Path,
                        default=[Path("configs/mnist.yaml"), Path("configs/imagenet-offline.yaml")])
    parser.add_argument("--filters", type=int, default=3, help="filters per entry (configs other than MNIST)")
    parser.add_argument("--settings", nargs="+", default=["fourier", "default"],
                        help="settings kept (configs other than MNIST)")
    parser.add_argument("--cache", type=Path, default=Path(".gallery-cache"), help="where trained weights are")
    parser.add_argument("--steps", type=int, help="every setting at this many steps (auto: its max_steps)")
    args = parser.parse_args()
    for config in args.configs:
        one(config, args.cache, args.filters, args.settings, args.steps)


if __name__ == "__main__":
    main()
