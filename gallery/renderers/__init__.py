"""Renderers: turn a network and a job into images and numbers; each method is a small class or
function composed by an engine. Changing what any of them computes means bumping a version in
gallery.fingerprints, so no stale cache entry is reused."""
