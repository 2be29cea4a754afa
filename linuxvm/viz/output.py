"""Writing a matplotlib figure to a PNG or SVG file chosen by the path's suffix."""

import os

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")        # never a display: pictures go to files

FORMATS = {".png": "png", ".svg": "svg"}


def check_path(path) -> str:
    """The format of ``path`` ("png" or "svg"); ValueError for any other suffix."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, not {path!r}")
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"picture path must end in .png or .svg, not {os.fspath(path)!r}")
    return FORMATS[ext]


def new_figure(width: float, height: float) -> Figure:
    """A figure not registered with pyplot (so nothing global is kept)."""
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save(fig: Figure, path) -> str:
    """Write ``fig`` to ``path``; the same figure gives the same bytes (no dates, fixed
    SVG ids). Returns the path."""
    fmt = check_path(path)
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "linuxvm", "svg.fonttype": "none"}):
        fig.savefig(os.fspath(path), format=fmt, metadata=meta)
    return os.fspath(path)
