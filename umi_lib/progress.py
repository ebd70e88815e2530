"""Progress bars that read well live and in a saved notebook.

``UMI_PROGRESS`` chooses how long loops report:

* ``live`` (default): ``tqdm.auto``, a widget in Jupyter, text in a terminal;
* ``final``: nothing while the loop runs, then one line with the bar's final state on stdout (transient inner
  bars, ``leave=False``, print nothing). ``make workbook`` and
  the notebook tests set it, because a saved notebook keeps no widget state: every viewer (GitHub, nbconvert's
  HTML, a notebook opened before it is trusted) would otherwise show the widget's ``0%`` placeholder;
* ``off``: nothing.

In ``final`` mode the progress bars of transformers and the Trainer are turned off too (they are widgets as well).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings

from tqdm import tqdm as _text_tqdm
from tqdm.auto import tqdm as _auto_tqdm

MODES = ("live", "final", "off")


def mode() -> str:
    """The progress mode from ``UMI_PROGRESS`` (unknown values fall back to ``live``)."""
    value = os.environ.get("UMI_PROGRESS", "live").strip().lower()
    return value if value in MODES else "live"


class _FinalLine(_text_tqdm):
    """A text bar that draws nowhere while it runs and prints its final state once, when closed."""

    def __init__(self, *args, **kwargs):
        kwargs["file"] = io.StringIO()
        kwargs["mininterval"] = float("inf")
        super().__init__(*args, **kwargs)

    def close(self):
        if not self.disable and not getattr(self, "_printed", False):
            self._printed = True
            print(self.format_meter(**self.format_dict), file=sys.stdout, flush=True)
        super().close()


def tqdm(*args, **kwargs):
    """``tqdm`` for this project's loops, following :func:`mode`."""
    current = mode()
    if current == "off":
        kwargs["disable"] = True
    if current == "final":
        if kwargs.pop("leave", True) is False:  # an inner, transient bar: its outer loop reports
            kwargs["disable"] = True
        return _FinalLine(*args, **kwargs)
    return _auto_tqdm(*args, **kwargs)


def quiet_third_party() -> None:
    """In ``final``/``off`` mode, turn off the progress bars of transformers (loading weights and the like)."""
    if mode() == "live":
        return
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


# Third-party messages that mean nothing to a reader of the notebooks, dropped at their source and nowhere else:
# bitsandbytes suggests an optional package for a faster 4-bit CPU kernel on AVX-512-bf16 machines.
# The Trainer warns when checkpoints of a fast (tiny) run are saved within a second of each other.
_NOISE_LOGS = {
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
    "transformers.trainer_utils": "mtime may not be reliable on this filesystem",
}
# PEFT and TRL still read a renamed transformers attribute (our own calls use the current names).
_NOISE_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)


def quiet_known_noise() -> None:
    """Drop the third-party messages listed above (only those), wherever they are raised later."""
    for name, prefix in _NOISE_LOGS.items():
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) and f.prefix == prefix for f in log.filters):
            log.addFilter(_DropMessage(prefix))
    for message in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)


def trainer_bars() -> bool:
    """Whether the Trainer may draw its own step bar."""
    return mode() == "live"
