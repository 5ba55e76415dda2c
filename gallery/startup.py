"""TensorFlow started without its start-up lines, for the command line and the Python API alike.

TensorFlow 2.21's C++ start-up lines (oneDNN, CUDA stubs, at import and at the first operation)
go through absl before its log level is read, so TF_CPP_MIN_LOG_LEVEL cannot silence them: they
would bury the progress bars and fill a notebook's first cell. No library does this, so it is here.
"""

from __future__ import annotations

import logging
import os


def quiet_tensorflow() -> None:
    """Import TensorFlow with file descriptor 2 pointed at /dev/null (a no-op where it already runs).

    Python exceptions are unaffected: they are raised after stderr is restored.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        from gallery.renderers.devices import configure
        configure()  # memory growth on a GPU, set before the runtime starts
        tensorflow.constant(0.0) + 1.0  # the runtime logs its devices and CPU features on its first op
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    # Each setting (and each sanity check's randomised copy) compiles its own function by design;
    # TensorFlow would warn about "retracing".
    tensorflow.get_logger().setLevel(logging.ERROR)
