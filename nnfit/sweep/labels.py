"""Grid points in words, for figures: {'name': 'adam', 'lr': 0.005} → 'adam, lr 0.005'.

Names (activations, optimizers, targets…) read on their own; other values carry their
key ('l2 0.001', 'hidden 15-15'). Seeds are never part of a setting.
"""

from __future__ import annotations

#: grid keys whose values are names that read on their own ("tanh", "adam, lr 0.005")
NAMED = {"activation", "optimizer", "init", "loss", "schedule", "output", "sampling", "name"}


def value_text(v) -> str:
    """A grid value in words: {'name': 'adam', 'lr': 0.005} → 'adam, lr 0.005'."""
    if isinstance(v, dict):
        head = [value_text(v["name"])] if "name" in v else []
        return ", ".join(head + [f"{k} {value_text(x)}" for k, x in v.items() if k != "name"])
    if isinstance(v, list):
        return "-".join(value_text(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def setting_label(point: dict) -> str:
    """'tanh; l2 0.001': the grid values of a point (seeds left out), names bare."""
    parts = []
    for key, v in point.items():
        if key.endswith(".seed"):
            continue
        short = key_name(key)
        named = short in NAMED or key.endswith(".name") or (isinstance(v, dict) and "name" in v)
        if key == "model.hidden" and len(v) > 4 and len(set(v)) == 1:
            parts.append(f"{len(v)} hidden layers of {v[0]}")
        else:
            parts.append(value_text(v) if named else f"{short} {value_text(v)}")
    return "; ".join(parts)


def key_name(key: str) -> str:
    """'model.activation' → 'activation'; 'target.name' → 'target'."""
    parts = key.split(".")
    return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


def varied_keys(summary: dict, skip=("model.hidden",)) -> list[str]:
    return [key_name(k) for k in summary["grid"] if not k.endswith(".seed") and k not in skip]
