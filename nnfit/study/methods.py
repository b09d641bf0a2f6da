"""How a sweep was trained, in words read from its config, and the colour it is drawn in.

The same method keeps one colour in every figure: random features green, variable
projection blue, Levenberg–Marquardt on every weight orange, Adam red.
"""

from __future__ import annotations

from nnfit.study.view import Sweep

COLORS = {
    "random features": "tab:green",
    "varpro": "tab:blue",
    "lm": "tab:orange",
    "adam": "tab:red",
    "lbfgs": "tab:purple",
}

NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "gd": "gradient descent"}


def kind(training: dict) -> str:
    """'random features', 'varpro', 'lm', 'adam', … from a resolved ``training`` section."""
    if training["epochs"] == 0:
        return "random features"
    name = training["optimizer"]["name"]
    if training.get("output_layer") == "lstsq" and name in ("lm", "lbfgs"):
        return "varpro" if name == "lm" else "varpro-lbfgs"
    return name


def label(training: dict, short: bool = False) -> str:
    """'Adam, 1,500 epochs', 'variable projection + LM, ≤ 100 steps', 'random features'."""
    k, epochs = kind(training), training["epochs"]
    if k == "random features":
        return "random features" if short else "random features (output by least squares)"
    if k == "varpro":
        return "VarPro + LM" if short else f"variable projection + LM, ≤ {epochs:,} steps"
    if k == "varpro-lbfgs":
        return "VarPro + L-BFGS" if short else f"variable projection + L-BFGS, ≤ {epochs:,} steps"
    if k == "lm":
        return "LM, all weights" if short else f"LM on all weights, ≤ {epochs:,} steps"
    name = NAMES.get(training["optimizer"]["name"], training["optimizer"]["name"])
    return name if short else f"{name}, {epochs:,} epochs"


def of(sweep: Sweep, short: bool = False) -> str:
    return label(sweep.config("training"), short)


def color(sweep: Sweep) -> str:
    return COLORS.get(kind(sweep.config("training")), "tab:gray")


def exists(sweep: Sweep) -> bool:
    """Whether the method shows what the width can represent (least-squares output)."""
    return kind(sweep.config("training")) in ("random features", "varpro")
