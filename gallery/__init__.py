"""gallery: a YAML file in, a browsable static atlas of what a convolutional network learned out."""

__version__ = "0.1.0"
