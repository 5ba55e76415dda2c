"""Renderers: turn a model and a job into images. Each method is a small function, composed by an engine."""

# Part of every cache key: bump it when a change to the engine changes pixels.
ENGINE_VERSION = "1"
