"""Comparison pages: one class per kind, holding its config keys and how it becomes a table.

A comparison renders nothing itself; it arranges what the other sections render. Each kind is a
config record (a member of the `CompareSpec` union, told apart by `kind`) whose `resolve` checks
its names against what the plan renders and lays out a `Comparison`: columns, and rows of cells
that name a result. The site draws every comparison with the same writer, so a new kind is one
class here plus one line in `CompareSpec`. The plan also uses these classes for the pages it adds
without asking: every layer's settings comparison and every model's depth page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, ClassVar, Literal, Protocol

from pydantic import Field, model_validator

from gallery.errors import unknown
from gallery.methods import MethodName, label
from gallery.schema import Int, Name, Problem, Strict


class RenderedLayer(Protocol):
    """A visualized layer as the plan has it (plan.Target)."""

    model: str
    layer: str
    filters: tuple[int, ...]
    settings: tuple[str, ...]
    folder: str  # the layer's URL folder under its model's


@dataclass(frozen=True)
class Rendered:
    """What the plan renders, for a comparison to check its names against."""

    models: tuple[str, ...]
    layers: dict[tuple[str, str], RenderedLayer]  # (model, layer), in network order per model
    attributions: dict[tuple[str, str], tuple[str, ...]]  # (model, image) -> its methods
    caption: Callable[[str, str, int], str]  # (model, layer, filter) -> "3 digit 3"


@dataclass(frozen=True)
class ResultCell:
    """An activation-maximization picture."""

    model: str
    layer: str
    setting: str
    filter: int


@dataclass(frozen=True)
class MapCell:
    """An attribution map of an image for the model's first class."""

    model: str
    image: str
    method: str


@dataclass(frozen=True)
class Column:
    label: str
    model: str | None = None  # a model's column: the site adds its test accuracy
    span: int = 1


@dataclass(frozen=True)
class Row:
    label: str
    link: str | None  # relative to the site root
    cells: tuple[ResultCell | MapCell, ...]


@dataclass(frozen=True)
class Comparison:
    """One comparison page, resolved: every name in it exists."""

    kind: str
    slug: str  # from names only, so the link survives rebuilds
    title: str
    models: tuple[str, ...]
    note: str  # what the table shows, in a sentence
    corner: str  # the heading over the row labels
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    layers: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()  # the settings whose keys the page lists
    filters: tuple[int, ...] = ()
    image: str = ""
    methods: tuple[str, ...] = ()
    page: str = ""  # relative to the site root
    home: str | None = None  # the model whose sidebar the page shows; None for the atlas's own comparisons
    layer: str | None = None  # a layer's own settings comparison: that layer
    cell_captions: bool = False  # each cell names its unit (rows of different layers)

    def __post_init__(self) -> None:
        if not self.page:
            object.__setattr__(self, "page", f"compare/{self.slug}.html")


class CompareBase(Strict):
    id: Name | None = Field(None, description="the page's name: compare/ID.html (default from kind and names)")
    title: str | None = Field(None, max_length=200, description="default from kind and names")
    needs: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self) -> CompareBase:
        missing = [key for key in self.needs if getattr(self, key) is None]
        if missing:
            kind = getattr(self, "kind")
            raise ValueError(f"{'an' if kind[0] in 'aeiou' else 'a'} '{kind}' comparison needs {' and '.join(missing)}")
        return self

    def resolve(self, rendered: Rendered) -> Comparison:
        raise NotImplementedError


def _model(rendered: Rendered, model: str, key: tuple[str | int, ...]) -> str:
    if model not in rendered.models:
        raise Problem(key, unknown("model", model, rendered.models))
    return model


def _layer(rendered: Rendered, model: str, layer: str, key: tuple[str | int, ...]) -> RenderedLayer:
    found = rendered.layers.get((model, layer))
    if found is None:
        raise Problem(key, f"model '{model}' renders no layer '{layer}': add it to activation_max")
    return found


def _setting(target: RenderedLayer, name: str, key: tuple[str | int, ...]) -> str:
    if name not in target.settings:
        raise Problem(key, f"{target.model}/{target.layer} is not rendered under setting '{name}' "
                           f"(rendered: {', '.join(target.settings)}): add it to activation_max")
    return name


def _filters(target: RenderedLayer, filters: list[int] | None) -> tuple[int, ...]:
    if filters is None:
        return target.filters
    for position, f in enumerate(filters):
        if f not in target.filters:
            raise Problem(("filters", position), f"{target.model}/{target.layer} does not render filter {f}")
    return tuple(filters)


class SettingsComparison(CompareBase):
    """One layer's filters under several settings: the report's TV sweep."""

    kind: Literal["settings"] = Field(description="one layer's filters under several settings")
    model: str | None = Field(None, description="a model id")
    layer: str | None = Field(None, description="a visualized layer")
    settings: list[str] | None = Field(None, min_length=1, description="default every rendered one")
    filters: list[Annotated[Int, Field(ge=0)]] | None = Field(None, min_length=1,
                                                             description="default: every rendered one")
    needs = ("model", "layer")

    def resolve(self, rendered: Rendered) -> Comparison:
        model = _model(rendered, self.model or "", ("model",))
        target = _layer(rendered, model, self.layer or "", ("layer",))
        names = tuple(_setting(target, name, ("settings", position))
                      for position, name in enumerate(self.settings or target.settings))
        filters = _filters(target, self.filters)
        rows = tuple(Row(rendered.caption(model, target.layer, f), f"{model}/{target.folder}/filter-{f}.html",
                         tuple(ResultCell(model, target.layer, name, f) for name in names)) for f in filters)
        return Comparison(
            "settings", self.id or f"settings-{model}-{target.layer}",
            self.title or f"{model} / {target.layer}: settings compared", (model,),
            f"The same filters of {target.layer} under each setting, one column per setting.", "filter",
            tuple(Column(name) for name in names), rows, (target.layer,), names, filters)


class DepthComparison(CompareBase):
    """A few filters of each layer of a model, input to output."""

    kind: Literal["depth"] = Field(description="a few filters of each layer, input to output")
    model: str | None = Field(None, description="a model id")
    layers: list[str] | None = Field(None, min_length=1, description="default every visualized layer")
    setting: str | None = Field("default", description="null: the first setting every layer shares, else each "
                                                       "layer's own first")
    per_layer: Int = Field(6, ge=1, le=1000, description="filters per layer")
    needs = ("model",)

    def resolve(self, rendered: Rendered) -> Comparison:
        model = _model(rendered, self.model or "", ("model",))
        names = self.layers or [layer for (owner, layer) in rendered.layers if owner == model]
        targets = [_layer(rendered, model, layer, ("layers", position)) for position, layer in enumerate(names)]
        if self.setting is None:
            shared = [name for name in targets[0].settings if all(name in t.settings for t in targets)]
            settings = tuple(shared[0] if shared else t.settings[0] for t in targets)
        else:
            settings = tuple(_setting(t, self.setting, ("setting",)) for t in targets)
        one = len(set(settings)) == 1
        heading = f"first {self.per_layer} filters or units" + (f", setting {settings[0]}" if one else "")
        rows = tuple(Row(t.layer if one else f"{t.layer} ({setting})", f"{model}/{t.folder}/index.html",
                         tuple(ResultCell(model, t.layer, setting, f) for f in t.filters[:self.per_layer]))
                     for t, setting in zip(targets, settings))
        under = (f"setting {settings[0]}" if one
                 else "the first setting all layers share, else each layer's first")
        return Comparison(
            "depth", self.id or f"depth-{model}", self.title or f"{model}: layers by depth", (model,),
            f"The first filters of each layer, from the input to the output, under {under}.", "layer",
            (Column(heading, span=self.per_layer),), rows, tuple(names), settings, cell_captions=True)


class ModelsComparison(CompareBase):
    """The same layer's filters across models or training runs."""

    kind: Literal["models"] = Field(description="the same layer's filters across models")
    models: list[str] | None = Field(None, min_length=1, description="model ids")
    layer: str | None = Field(None, description="a layer every model visualizes")
    setting: str = Field("default", description="a setting every model renders the layer with")
    filters: list[Annotated[Int, Field(ge=0)]] | None = Field(None, min_length=1,
                                                             description="default: every rendered one")
    needs = ("models", "layer")

    def resolve(self, rendered: Rendered) -> Comparison:
        models = tuple(_model(rendered, m, ("models", i)) for i, m in enumerate(self.models or []))
        layer = self.layer or ""
        targets = [_layer(rendered, model, layer, ("layer",)) for model in models]
        for t in targets:
            _setting(t, self.setting, ("setting",))
        shared = [_filters(t, self.filters) for t in targets]
        filters = tuple(f for f in shared[0] if all(f in others for others in shared))
        rows = tuple(Row(rendered.caption(models[0], layer, f), None,
                         tuple(ResultCell(model, layer, self.setting, f) for model in models)) for f in filters)
        return Comparison(
            "models", self.id or f"models-{layer}", self.title or f"{layer} across models", models,
            f"The same filters of {layer} in each model, under setting {self.setting}: what training changed.",
            "filter", tuple(Column(model, model=model) for model in models), rows, (layer,), (self.setting,), filters)


class AttributionComparison(CompareBase):
    """Every attribution method side by side for one image, one row per model."""

    kind: Literal["attribution"] = Field(description="every attribution method for one image, a row per model")
    models: list[str] | None = Field(None, min_length=1, description="model ids")
    image: str | None = Field(None, description="an image every model has an attribution of")
    methods: list[MethodName] | None = Field(None, min_length=1, description="default every method rendered for all")
    needs = ("models", "image")

    def resolve(self, rendered: Rendered) -> Comparison:
        models = tuple(_model(rendered, m, ("models", i)) for i, m in enumerate(self.models or []))
        image = self.image or ""
        rendered_methods = []
        for model in models:
            if (model, image) not in rendered.attributions:
                raise Problem(("image",), f"model '{model}' has no attribution of image '{image}': "
                                          "add it to the attribution section")
            rendered_methods.append(rendered.attributions[model, image])
        methods = tuple(self.methods or [m for m in rendered_methods[0] if all(m in ms for ms in rendered_methods)])
        for position, method in enumerate(methods):
            if not all(method in ms for ms in rendered_methods):
                raise Problem(("methods", position), f"method '{method}' is not rendered for every model")
        rows = tuple(Row(model, f"{model}/attribution/{image}.html",
                         tuple(MapCell(model, image, method) for method in methods)) for model in models)
        return Comparison(
            "attribution", self.id or f"attribution-{image}", self.title or f"attribution of {image}", models,
            f"Every attribution method side by side for image {image}, one row per model, for each model's first "
            "class.", "model", tuple(Column(label(method)) for method in methods), rows, image=image, methods=methods)


CompareSpec = Annotated[SettingsComparison | DepthComparison | ModelsComparison | AttributionComparison,
                        Field(discriminator="kind")]


def automatic(rendered: Rendered, asked: list[Comparison]) -> list[Comparison]:
    """The comparisons a config did not ask for: a layer rendered in several models under a common
    setting, an image attributed on several models (unless a page of the same kind shows it)."""
    found: list[Comparison] = []
    targets = list(rendered.layers.values())
    for layer in dict.fromkeys(t.layer for t in targets):
        shared = [t for t in targets if t.layer == layer]
        common = [name for name in shared[0].settings if all(name in t.settings for t in shared)]
        filters = [f for f in shared[0].filters if all(f in t.filters for t in shared)]
        if len(shared) > 1 and common and filters:
            found.append(ModelsComparison(kind="models", models=[t.model for t in shared], layer=layer,
                                          setting=common[0], filters=filters).resolve(rendered))
    for image in dict.fromkeys(image for _, image in rendered.attributions):
        owners = [model for model, shown in rendered.attributions if shown == image]
        methods = [m for m in rendered.attributions[owners[0], image]
                   if all(m in rendered.attributions[o, image] for o in owners)]
        if len(owners) > 1 and methods:
            found.append(AttributionComparison(kind="attribution", models=owners, image=image).resolve(rendered))
    shown = {(c.kind, c.layers, c.image) for c in asked}
    slugs = {c.slug for c in asked}
    return [c for c in found if (c.kind, c.layers, c.image) not in shown and c.slug not in slugs]


def layer_pages(rendered: Rendered) -> list[Comparison]:
    """Every visualized layer's settings side by side (MODEL/LAYER/compare.html) and every model's
    depth page (MODEL/depth.html)."""
    pages = []
    for (model, layer), target in rendered.layers.items():
        resolved = SettingsComparison(kind="settings", model=model, layer=layer).resolve(rendered)
        pages.append(_at(resolved, f"{model}/{target.folder}/compare.html", model, layer))
    for model in dict.fromkeys(model for model, _ in rendered.layers):
        resolved = DepthComparison(kind="depth", model=model, setting=None).resolve(rendered)
        pages.append(_at(resolved, f"{model}/depth.html", model, None))
    return pages


def _at(comparison: Comparison, page: str, home: str, layer: str | None) -> Comparison:
    return replace(comparison, slug="", page=page, home=home, layer=layer)

