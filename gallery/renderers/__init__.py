"""Renderers: turn a model and a job into images. Each method is a small function, composed by an engine."""
