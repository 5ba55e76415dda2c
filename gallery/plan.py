"""The plan: every render job a config asks for, checked against the real layers before any work.

Jobs are plain values, so the store can key its cache on them and the site can lay out pages from
them without touching TensorFlow.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gallery.config import ActivationMaxSpec, LoadedConfig, RandomFilters, Setting
from gallery.models import layer_table
from gallery.renderers.objectives import is_squashing

Objective = Literal["channel", "unit"]


@dataclass(frozen=True)
class Target:
    """A (model, layer) whose filters get visualized, with what the config asks of it."""

    model: str
    layer: str
    objective: Objective
    units: int
    filters: tuple[int, ...]
    settings: tuple[str, ...]
    linearized: bool  # a softmax/sigmoid output swapped for linear, as the seed report does


@dataclass(frozen=True)
class RenderJob:
    model: str
    layer: str
    filter: int
    setting_name: str
    setting: Setting
    objective: Objective
    linearized: bool


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    jobs: tuple[RenderJob, ...]


def _filters(spec: ActivationMaxSpec, units: int, config: LoadedConfig, index: int) -> list[int]:
    if spec.filters == "all":
        return list(range(units))
    if isinstance(spec.filters, RandomFilters):
        count = min(spec.filters.random, units)
        chosen = np.random.default_rng(spec.filters.seed).choice(units, size=count, replace=False)
        return sorted(int(f) for f in chosen)
    for position, value in enumerate(spec.filters):
        if value >= units:
            raise config.error(
                ("activation_max", index, "filters", position),
                f"filter {value} is out of range: layer '{spec.layer}' has {units} (0-{units - 1})",
            )
    return list(dict.fromkeys(spec.filters))



def _with_starts(name: str, settings: dict[str, Setting]) -> list[str]:
    """A setting preceded by the settings its start image comes from, first things first."""
    chain = [name]
    while settings[chain[0]].start_from is not None:
        chain.insert(0, settings[chain[0]].start_from)
    return chain


def build(config: LoadedConfig, networks: dict[str, Any]) -> Plan:
    """Expand `activation_max` into jobs; raise a file:line error for unknown layers or filters."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for index, spec in enumerate(config.config.activation_max):
        network = networks[spec.model]
        rows = {row.name: row for row in layer_table(network)}
        row = rows.get(spec.layer)
        if row is None:
            hint = difflib.get_close_matches(spec.layer, list(rows), n=1)
            suggestion = f"did you mean '{hint[0]}'?" if hint else f"run `gallery layers {config.path}`"
            raise config.error(
                ("activation_max", index, "layer"), f"model '{spec.model}' has no layer '{spec.layer}' ({suggestion})"
            )
        rank = len(network.get_layer(spec.layer).output.shape)
        if row.units is None or rank not in (2, 4):
            raise config.error(
                ("activation_max", index, "layer"),
                f"layer '{spec.layer}' ({row.type}, output {row.output_shape}) has no filters or units to visualize",
            )
        entry = merged.setdefault((spec.model, spec.layer), {
            "objective": "channel" if rank == 4 else "unit",
            "units": row.units,
            "filters": {},
            "settings": {},
            "linearized": is_squashing(network.get_layer(spec.layer)),
        })
        entry["filters"].update(dict.fromkeys(_filters(spec, row.units, config, index)))
        for name in spec.settings:
            entry["settings"].update(dict.fromkeys(_with_starts(name, config.config.settings)))
    targets = tuple(
        Target(model, layer, e["objective"], e["units"], tuple(e["filters"]), tuple(e["settings"]), e["linearized"])
        for (model, layer), e in merged.items()
    )
    jobs = tuple(
        RenderJob(t.model, t.layer, f, name, config.config.settings[name], t.objective, t.linearized)
        for t in targets for name in t.settings for f in t.filters
    )
    return Plan(targets, jobs)
