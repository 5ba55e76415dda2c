"""Renderers: turn a model and a job into images. Each method is a small function, composed by an engine."""

# Part of every cache key: bump it when a change to the engine changes pixels.
ENGINE_VERSION = "4"
# Part of the cache keys of feature maps and attributions: bump it when either changes pixels or numbers.
VIEWS_VERSION = "2"
