"""Render the capability matrix as the Markdown page docs/capabilities.md (checked in CI).

The page is a pure function of the matrix, with no dates computed against today, so it only
changes when the matrix does: ``seedless capabilities --markdown > docs/capabilities.md``.
"""

from __future__ import annotations

from collections import defaultdict

from .capabilities import Matrix, ModelSpec

__all__ = ["render_markdown"]

_HEADER = """\
# Capability matrix

Generated from `src/seedless/data/models.toml` by `seedless capabilities --markdown`; do not
edit by hand (CI checks that this page matches the matrix). Rows are per provider: the Gemini
API (`gemini`) and Vertex AI (`vertex`) retire the same model on different dates. See
[models.md](models.md) for the policy (deprecation warnings, `ModelRetiredError`,
`allow_retired`, seed levels) and how to add your own rows, and [sources.md](sources.md) for
what each source supports and which facts rest on secondary sources only.

Seed levels: **deterministic** (local, bit-identical), **seeded** (the host promises replay for
a seed), **best_effort** (the API accepts a seed and promises nothing; refused unless
`seed_policy="best_effort"`), **none** (no seed; always refused). **seeded (exact on the same
host)**: a self-hosted server gives the same bytes for a seed as long as its checkpoint,
version and device are unchanged (and its attention kernels are deterministic: xformers' are
not); results record that fingerprint, and a replay warns when it changed. A row marked
**unavailable** is a model no one can call (no public API): it is listed so that asking for it
gets a clear answer and the seeded models to use instead.
"""


def _cell(value: object) -> str:
    text = "—" if value in (None, "", ()) else str(value)
    return text.replace("|", "\\|")


def _sizes(row: ModelSpec) -> str:
    if row.sizes:
        return ", ".join(row.sizes)
    return row.size_rule.describe() if row.size_rule else "any"


def _price(row: ModelSpec) -> str:
    if not row.prices:
        return "—"
    return ", ".join(f"{size} ${price:g}" for size, price in row.prices.items())


_ENGINES = {"gemini": "Gemini Batch Mode", "openai": "the OpenAI Batch API"}


def _batch(row: ModelSpec) -> str:
    """The row's provider batch engine, in words (``seedless batch --engine provider``)."""
    assert row.batch is not None
    price = (
        ", ".join(f"{size} ${usd:g}" for size, usd in row.batch.prices.items())
        if row.batch.prices
        else f"{row.batch.price_factor:.0%} of the list price"
    )
    return (
        f"{row.provider}: batch engine {_ENGINES[row.batch.engine]} "
        f"(`--engine provider`), {price} {_links(row.batch.sources)}"
    )


def _links(urls: tuple[str, ...]) -> str:
    return " ".join(f"[{i + 1}]({url})" for i, url in enumerate(urls)) or "—"


def _variants(group: list[ModelSpec]) -> list[tuple[list[str], ModelSpec]]:
    """The distinct descriptions (notes, facts, sources) among one id's rows, with the
    providers that share each: one for rows from one table (gemini and vertex)."""
    found: dict[str, tuple[list[str], ModelSpec]] = {}
    for row in group:
        key = repr((row.notes, row.unavailable, sorted(row.sources.items()), _price(row)))
        found.setdefault(key, ([], row))[0].append(row.provider)
    return list(found.values())


def _facts(row: ModelSpec) -> list[str]:
    """A row's notes and its table of facts with the sources they rest on."""
    out: list[str] = []
    if row.unavailable:
        out += [f"**Unavailable:** {_cell(row.unavailable)}. Requests are refused.", ""]
    if row.notes:
        out += [_cell(row.notes), ""]
    if not row.sources:
        return out
    values = {
        "operations": ", ".join(sorted(row.operations)),
        "seed": row.seed_level,
        "sizes": _sizes(row),
        "aspect_ratios": ", ".join(row.aspect_ratios) if row.aspect_ratios else "any",
        "max_reference_images": str(row.max_reference_images),
        "prices": _price(row),
        "watermark": row.watermark,
        "negative_prompt": str(row.negative_prompt).lower(),
        "fields": ", ".join(f"{k}→{v}" for k, v in row.fields.items()) or "—",
        "unavailable": row.unavailable or "—",
    }
    out += ["| fact | value | sources |", "|---|---|---|"]
    for fact, urls in row.sources.items():
        out.append(f"| {fact} | {_cell(values.get(fact, ''))} | {_links(urls)} |")
    return [*out, ""]


def _hosts(group: list[ModelSpec]) -> list[str]:
    """How each host spells the model on the wire, when the rows of ``group`` differ there."""
    facts = [
        (
            row.provider,
            row.wire_id or row.id,
            row.seed,
            ", ".join(f"{k}→{v}" for k, v in row.fields.items() if v) or "size",
            ", ".join(row.response_formats or ()) or "—",
            row.image_input or ("edits" if "edit" in row.operations else "—"),
            _sizes(row),
        )
        for row in group
    ]
    if len({fact[1:] for fact in facts}) < 2:
        return []
    out = [
        "",
        "| provider | model on the wire | seed | fields | response_format | edit input | sizes |",
        "|---|---|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(_cell(cell) for cell in fact) + " |" for fact in facts]
    return out


def render_markdown(matrix: Matrix) -> str:
    """The docs/capabilities.md page: a summary table, then every model's facts and sources."""
    rows = sorted(matrix, key=lambda r: (r.provider, r.id))
    out = [_HEADER, "## Summary", "", *_summary(rows)]
    by_id: dict[str, list[ModelSpec]] = defaultdict(list)
    for row in rows:
        by_id[row.id].append(row)
    out += ["", "## Models, facts and sources", ""]
    for model_id in sorted(by_id):
        out += _section(model_id, by_id[model_id])
    return "\n".join(out).rstrip() + "\n"


def _summary(rows: list[ModelSpec]) -> list[str]:
    out = [
        "| model | ops | seed | per call | sizes | aspect ratios | refs | $/image | stage "
        "| deprecated | shutdown | successor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        life = row.lifecycle
        shutdown = _cell(life.shutdown)
        if life.shutdown and life.shutdown_is_earliest:
            shutdown += " (earliest)"
        seed_range = f" {row.seed_range[0]}..{row.seed_range[1]}" if row.seed_range else ""
        cells = [
            f"`{row.key}`",
            ", ".join(sorted(row.operations)),
            row.seed_level + seed_range,
            str(row.images_per_call),
            _sizes(row),
            _cell(", ".join(row.aspect_ratios) if row.aspect_ratios else "any"),
            str(row.max_reference_images),
            _price(row),
            "unavailable (no API)" if row.unavailable else life.stage,
            _cell(life.deprecated),
            shutdown,
            _cell(life.successor),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _section(model_id: str, group: list[ModelSpec]) -> list[str]:
    """One model id: its title, aliases, facts per distinct row, lifecycle per provider."""
    first = group[0]
    title = f"{first.name} (`{model_id}`)" if first.name else f"`{model_id}`"
    out = [f"### {title}", ""]
    if first.aliases:
        out += ["Aliases: " + ", ".join(f"`{a}`" for a in first.aliases) + ".", ""]
    variants = _variants(group)
    for providers, row in variants:
        if len(variants) > 1:  # rows of one id that differ by provider (openai and bfl)
            out += [f"On {', '.join(f'`{p}`' for p in providers)}:", ""]
        out += _facts(row)
    out.append("| provider | stage | released | deprecated | shutdown | successor | sources |")
    out.append("|---|---|---|---|---|---|---|")
    for row in group:
        life = row.lifecycle
        shutdown = _cell(life.shutdown) + (" (earliest)" if life.shutdown_is_earliest else "")
        out.append(
            f"| {row.provider} | {life.stage} | {_cell(life.released)} | "
            f"{_cell(life.deprecated)} | {shutdown} | {_cell(life.successor)} | "
            f"{_links(life.sources)} |"
        )
    out += _hosts(group)
    notes = [f"{row.provider}: {row.lifecycle.notes}" for row in group if row.lifecycle.notes]
    notes += [_batch(row) for row in group if row.batch is not None]
    if notes:
        out.append("")
        out += [f"- {_cell(note)}" for note in notes]
    return [*out, ""]
