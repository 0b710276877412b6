"""The capability matrix: an immutable set of :class:`ModelSpec` rows, with lookups and queries.

Rows are found by ``"provider:model"``, by id or by alias (``nano-banana-pro``), through the
endpoints a client has configured (``"myrelay:flux-dev"`` finds the ``relay`` row when
``myrelay`` serves that profile). Filters answer "which models can do X", and every refusal
elsewhere in seedless asks :meth:`Matrix.alternatives` for the models to use instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import cached_property
from html import escape
from typing import Any

from ._specs import ModelSpec
from .errors import ConfigurationError

#: The columns of :meth:`Matrix.table`, in order.
TABLE_COLUMNS = ("model", "ops", "seed", "n/call", "sizes", "refs", "$/image", "status")

__all__ = ["Matrix"]


class Matrix:
    """An immutable set of ModelSpec rows with lookups by key and alias, filters and a table."""

    def __init__(self, rows: Iterable[ModelSpec]) -> None:
        self._rows: dict[str, ModelSpec] = {}
        for row in rows:
            self._rows[row.key] = row

    # -- container
    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __getitem__(self, name: str) -> ModelSpec:
        """The row of ``"provider:model"`` (or of a bare id or alias, as :meth:`resolve` finds
        it); KeyError, with "did you mean", if there is none."""
        row = self._rows.get(name)
        if row is not None:
            return row
        try:
            return self.resolve(name)
        except ConfigurationError as exc:
            raise KeyError(str(exc)) from None

    def __repr__(self) -> str:
        return f"<Matrix of {len(self)} models>"

    @property
    def providers(self) -> list[str]:
        return sorted({row.provider for row in self})

    @cached_property
    def _aliases(self) -> dict[tuple[str | None, str], str]:
        """(provider or None, alias) -> key. A bare alias resolves to the row listed first."""
        table: dict[tuple[str | None, str], str] = {}
        for row in self:
            for alias in row.aliases:
                table.setdefault((None, alias), row.key)
                table[(row.provider, alias)] = row.key
            table.setdefault((None, row.id), row.key)
            table[(row.provider, row.id)] = row.key
        return table

    def get(self, key: str) -> ModelSpec | None:
        return self._rows.get(key)

    def resolve(
        self,
        name: str,
        *,
        profiles: Mapping[str, Sequence[str]] | None = None,
    ) -> ModelSpec:
        """Find the row for ``"provider:model"``, ``"model"`` or an alias.

        ``profiles`` maps each configured endpoint name to the providers whose rows it serves,
        in lookup order (:meth:`seedless.Endpoint.row_providers`): ``"myrelay:flux-dev"`` finds
        the row of ``myrelay`` if the user gave one, else the row of its profile (``relay``),
        addressed by the endpoint's name. A model other providers serve but the endpoint does
        not (``openai:flux-dev`` on OpenAI itself) is refused naming those that serve it.
        Raises ConfigurationError, with "did you mean" suggestions for unknown names.
        """
        provider, _, model = name.rpartition(":")
        served = (profiles or {}).get(provider) if provider else None
        lookups: list[str | None] = list(served) if served else [provider or None]
        for lookup in lookups:
            key = self._aliases.get((lookup, model))
            if key is not None:
                row = self._rows[key]
                if provider and row.provider != provider:
                    # found through the endpoint's profile: address it by the endpoint's name
                    row = row.model_copy(update={"provider": provider})
                return row
        if (
            provider
            and profiles is not None
            and provider not in profiles
            and provider not in self.providers
        ):
            known = sorted(set(self.providers) | set(profiles or ()))
            raise ConfigurationError(
                f"Unknown provider {provider!r} in {name!r}. Known providers and endpoints: "
                f"{', '.join(known)}."
            )
        if provider:
            self._refuse_unserved(name, provider, model, [p for p in lookups if p])
        everything = sorted({k for k in self._rows} | {a for _, a in self._aliases})
        close = difflib.get_close_matches(
            name, everything, n=3, cutoff=0.6
        ) or difflib.get_close_matches(model, everything, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigurationError(
            f"Unknown model {name!r}.{hint} `seedless capabilities` lists every model; "
            "seedless.register_model() or a models.toml file adds your own."
        )

    def _refuse_unserved(self, name: str, provider: str, model: str, looked: list[str]) -> None:
        """Raise when ``model`` has rows, but none on the providers ``provider`` serves."""
        elsewhere = [
            self._rows[key]
            for other in self.providers
            if other not in looked and (key := self._aliases.get((other, model))) is not None
        ]
        if not elsewhere:
            return
        keys = ", ".join(row.key for row in elsewhere)
        shown = elsewhere[0].id
        hint = ""
        if any(row.provider == "relay" for row in elsewhere):
            hint = (
                " For a host of your own that speaks the OpenAI style: Endpoint(name='myhost', "
                "protocol='openai', base_url=..., profile='relay')."
            )
        raise ConfigurationError(
            f"{name!r}: endpoint {provider!r} does not serve {shown} (it serves the rows of "
            f"{', '.join(looked)}). {shown} is served as {keys}.{hint}"
        )

    # -- queries
    def filter(self, predicate: Callable[[ModelSpec], bool]) -> Matrix:
        return Matrix(row for row in self if predicate(row))

    def supports(self, capability: str, *, today: date | None = None) -> Matrix:
        """Rows that can do ``capability``: "seed" (replayable seed), "generate", "edit",
        "negative_prompt", "reference_images", or a seed level ("best_effort", ...)."""
        checks: dict[str, Callable[[ModelSpec], bool]] = {
            "seed": lambda r: r.seed in ("deterministic", "seeded"),
            "generate": lambda r: "generate" in r.operations,
            "edit": lambda r: "edit" in r.operations,
            "negative_prompt": lambda r: r.negative_prompt,
            "reference_images": lambda r: r.max_reference_images > 1,
            "deterministic": lambda r: r.seed == "deterministic",
            "seeded": lambda r: r.seed == "seeded",
            "best_effort": lambda r: r.seed == "best_effort",
        }
        if capability not in checks:
            raise ValueError(f"unknown capability {capability!r}; one of {', '.join(checks)}")
        return self.filter(checks[capability])

    def active(self, today: date | None = None) -> Matrix:
        day = today or date.today()
        return self.filter(lambda r: r.status(day) != "retired")

    def successors(self, spec: ModelSpec, today: date | None = None) -> list[str]:
        """The successor chain of ``spec`` on its provider, ending at an active model."""
        day = today or date.today()
        chain: list[str] = []
        current = spec
        while current.lifecycle.successor and len(chain) < 8:
            nxt = self._rows.get(f"{current.provider}:{current.lifecycle.successor}")
            key = f"{current.provider}:{current.lifecycle.successor}"
            if key in chain:
                break
            chain.append(key)
            if nxt is None or nxt.status(day) != "retired":
                break
            current = nxt
        return chain

    def alternatives(
        self,
        spec: ModelSpec,
        *,
        capability: str,
        operation: str | None = None,
        today: date | None = None,
        limit: int = 6,
        where: Callable[[ModelSpec], bool] | None = None,
    ) -> list[str]:
        """Active models anyone can call that can do ``capability`` (and ``operation``, and
        satisfy ``where``), nearest first: the same model on other hosts, then models of the
        same wire shape."""
        day = today or date.today()
        rows = [
            row
            for row in self.supports(capability).active(day)
            if (operation is None or operation in row.operations)
            and row.key != spec.key
            and row.unavailable is None
            and (where is None or where(row))
        ]
        # the same model on another host first, then models spoken to the same way (the same
        # host's first), then the rest
        rows.sort(
            key=lambda r: (
                r.id != spec.id,
                r.wire != spec.wire,
                r.provider != spec.provider,
                r.status(day) != "active",
                r.key,
            )
        )
        return [row.key for row in rows[:limit]]

    # -- output
    def cells(self, *, today: date | None = None, lifecycle: bool = True) -> list[list[str]]:
        """The table as text cells: a header row, then one row per model, by key."""
        day = today or date.today()
        lines = [list(TABLE_COLUMNS)]
        for row in sorted(self, key=lambda r: (r.provider, r.id)):
            prices = sorted(set(row.prices.values()))
            price = "-" if not prices else "/".join(f"{p:g}" for p in prices)
            status = row.status(day)
            shown = f"{status}: {row.lifecycle.summary(day)}" if lifecycle else status
            if row.unavailable:
                shown = "unavailable (no API)" if lifecycle else "unavailable"
            lines.append(
                [
                    row.key,
                    ",".join(sorted(row.operations)),
                    row.seed,
                    str(row.images_per_call),
                    ",".join(row.sizes) if row.sizes else "any",
                    str(row.max_reference_images),
                    price,
                    shown,
                ]
            )
        return lines

    def table(
        self,
        *,
        today: date | None = None,
        lifecycle: bool = True,
        columns: Sequence[str] | None = None,
    ) -> str:
        """A plain-text table of the matrix (what ``seedless capabilities`` prints); ``columns``
        picks some of :data:`TABLE_COLUMNS`."""
        lines = self.cells(today=today, lifecycle=lifecycle)
        keep = [i for i, name in enumerate(lines[0]) if columns is None or name in columns]
        lines = [[line[i] for i in keep] for line in lines]
        widths = [max(len(line[i]) for line in lines) for i in range(len(keep))]
        rendered = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        rendered.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(rendered)

    def _repr_html_(self, *, today: date | None = None) -> str:
        """The table, as HTML, for a notebook."""
        header, *rows = self.cells(today=today)
        head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        return (
            f'<table class="seedless-matrix"><caption>{len(rows)} models</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [row.model_dump(mode="json") for row in sorted(self, key=lambda r: r.key)]
