"""A table in words: brightness, contrast, saturation, midtones, balance and end points.

Measured on the table itself, so a LUT loaded from a ``.cube`` describes itself too, in the
words of ``Adjust.describe()``.
"""

from __future__ import annotations

import math

import numpy as np

from ._table import LUMA, Array, lookup


def describe_table(table: Array) -> str:
    """Brightness, contrast, saturation, midtones, colour balance and end points, measured."""
    ramp = np.linspace(0.0, 1.0, 257)
    grey_out = lookup(table, np.repeat(ramp[:, None], 3, axis=1))  # (257, 3)
    tone = grey_out @ LUMA

    parts: list[str] = []
    brightness = float(tone.sum() / ramp.sum())
    parts.append(_factor("brightness", brightness))

    mid = (ramp >= 0.2) & (ramp <= 0.8)
    slope = float(np.polyfit(ramp[mid], tone[mid], 1)[0])
    contrast = slope / brightness if brightness > 1e-6 else 1.0
    parts.append(_factor("contrast", contrast))

    parts.append(_factor("colour saturation", _saturation(table, ramp, tone)))

    span = tone[-1] - tone[0]
    if span > 0.05:
        middle = float(np.clip((tone[128] - tone[0]) / span, 1e-3, 1 - 1e-3))
        gamma = math.log(0.5) / math.log(middle)
    else:
        gamma = 1.0
    if abs(gamma - 1.0) < 0.03:
        parts.append("midtones (gamma) unchanged")
    else:
        way = "lifted" if gamma > 1 else "deepened"
        parts.append(f"midtones {way} with a gamma of {gamma:.2f}")

    parts.append(_balance(grey_out, ramp))
    ends = _end_points(grey_out)
    if ends:
        parts.append(ends)
    return ", ".join(parts) + ". Keep composition, content and framing exactly as they are."


def _factor(name: str, factor: float) -> str:
    if round(factor * 100) == 100:
        return f"{name} unchanged"
    return f"{name} at {factor * 100:.0f}% of the original"


def _saturation(table: Array, ramp: Array, tone: Array) -> float:
    """Chroma gain on a palette of mid-light colours, relative to the tone curve's slope."""
    hues = np.arange(12) * (2 * math.pi / 12)
    ratios: list[float] = []
    for lightness in (0.35, 0.5, 0.65):
        for chroma in (0.1, 0.2):
            base = np.stack(
                [np.cos(hues), np.cos(hues - 2 * math.pi / 3), np.cos(hues + 2 * math.pi / 3)],
                axis=1,
            )
            colour = lightness + chroma * (base - (base @ LUMA)[:, None])
            if colour.min() < 0.0 or colour.max() > 1.0:
                continue
            luma = colour @ LUMA
            grey = np.repeat(luma[:, None], 3, axis=1)
            out_c, out_g = lookup(table, colour), lookup(table, grey)
            step = 0.05
            slope = (np.interp(luma + step, ramp, tone) - np.interp(luma - step, ramp, tone)) / (
                2 * step
            )
            keep = slope > 0.05
            if not keep.any():
                continue
            gain = np.linalg.norm(out_c - out_g, axis=1) / np.linalg.norm(colour - grey, axis=1)
            ratios.extend((gain[keep] / slope[keep]).tolist())
    return float(np.median(ratios)) if ratios else 1.0


def _balance(grey_out: Array, ramp: Array) -> str:
    """Colour balance on the grey ramp: each channel against the mean of the three."""
    usable = (ramp >= 0.05) & (ramp <= 0.95)
    channels = grey_out[usable]
    mean = channels.mean(axis=1, keepdims=True)
    shift = (channels - mean).sum(axis=0) / max(float(mean.sum()), 1e-6) * 100.0  # % r, g, b
    red, green, blue = (float(v) for v in shift)
    parts = []
    if round(red - blue) != 0 and abs(red - blue) >= 1.0:
        way = "warmer" if red > blue else "cooler"
        parts.append(f"{way} (red {red:+.0f}%, blue {blue:+.0f}%)")
    if abs(green) >= 1.0:
        way = "towards magenta" if green < 0 else "towards green"
        parts.append(f"{way} (green {green:+.0f}%)")
    balance = "colour balance unchanged" if not parts else "colour balance " + " and ".join(parts)
    extra = [
        _cast(grey_out[(ramp >= low) & (ramp <= high)], name, shift / 100.0)
        for name, low, high in (("shadows", 0.05, 0.25), ("highlights", 0.75, 0.95))
    ]
    return ", ".join([balance, *(cast for cast in extra if cast)])


def _cast(channels: Array, name: str, overall: Array) -> str:
    """A tint of one tonal range (8-bit levels) that differs from the overall balance.

    Mentioned when some channel is 3 levels or more away from what the overall balance
    (``overall``: fractional shift per channel) predicts for this range: split toning.
    """
    mean = channels.mean(axis=1, keepdims=True)
    offset = (channels - mean).mean(axis=0) * 255.0
    expected = overall * float(mean.mean()) * 255.0
    if np.abs(offset - expected).max() < 3.0:
        return ""
    names = ("red", "green", "blue")
    strongest = int(np.argmax(np.abs(offset)))
    if offset[strongest] > 0:
        colour = names[strongest]
    else:
        colour = {"red": "cyan", "green": "magenta", "blue": "yellow"}[names[strongest]]
    detail = ", ".join(f"{names[c]} {offset[c]:+.0f}" for c in range(3))
    return f"{name} tinted {colour} ({detail} levels)"


def _end_points(grey_out: Array) -> str:
    """Black and white points, when the edit moves them by 3 levels or more."""
    black = np.rint(grey_out[0] * 255.0).astype(int)
    white = np.rint(grey_out[-1] * 255.0).astype(int)
    parts = []
    if black.max() >= 3:
        parts.append("black lifted to {}/{}/{} (of 255)".format(*black))
    if white.min() <= 252:
        parts.append("white lowered to {}/{}/{} (of 255)".format(*white))
    return ", ".join(parts)
