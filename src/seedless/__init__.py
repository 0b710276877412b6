"""seedless: repeatable image edits across models with and without a seed.

The public API lives here. Provider SDKs (google-genai) are imported only when a provider
that needs them is first used, so ``import seedless`` stays fast.
"""

from __future__ import annotations

import importlib as _importlib
import warnings as _warnings
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._logs import setup_logging as _setup_logging
from ._version import __version__
from .capabilities import (
    Lifecycle,
    Matrix,
    ModelSpec,
    OptionSpec,
    SizeRule,
    capabilities,
    register_model,
)
from .client import AsyncClient, CallEvent, Client, ExecuteHooks, PreparedRequest
from .config import Endpoint
from .effects import Effect
from .effects.adjust import Adjust
from .errors import (
    AuthenticationError,
    BudgetExceededError,
    ClientClosedError,
    ConfigurationError,
    ContentBlockedError,
    DiskFullError,
    HostChangedWarning,
    InvalidImageError,
    ModelNotFoundError,
    ModelRetiredError,
    NoImageError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    RequestError,
    SeedlessDeprecationWarning,
    SeedlessError,
    ServerError,
    TimeoutError,
    UnsupportedCapabilityError,
    WorkflowError,
)
from .models import EditRequest, GenerateRequest, Generation, ImageInput, ImageResult
from .providers.base import FunctionProvider, Provider, ProviderReply, RawImage, WireRequest
from .retry import RetryPolicy
from .strategies import (
    Candidate,
    ContactSheet,
    MatchAdjust,
    MatchEffect,
    Plan,
    PlanResult,
    Ranked,
    Recipe,
    Reproducibility,
    Score,
    anchored_request,
    best_of,
    contact_sheet,
    measure_reproducibility,
    plan,
    replay,
)

# Deprecation notices about models are meant for the person running the code: show them.
_warnings.filterwarnings("default", category=SeedlessDeprecationWarning)
# SEEDLESS_LOG=info|debug: every wire call and retry logged to stderr, secrets redacted.
_setup_logging()

__all__ = [
    "Adjust",
    "AsyncClient",
    "AuthenticationError",
    "BatchEstimate",
    "BatchReport",
    "BestOf",
    "BudgetExceededError",
    "CallEvent",
    "Candidate",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "ContactSheet",
    "ContentBlockedError",
    "CubeEffect",
    "DiskCache",
    "DiskFullError",
    "EditRequest",
    "Effect",
    "Endpoint",
    "ExecuteHooks",
    "FitReport",
    "FittedEffect",
    "FunctionProvider",
    "GenerateRequest",
    "Generation",
    "HostChangedWarning",
    "ImageInput",
    "ImageResult",
    "InvalidImageError",
    "Job",
    "Ledger",
    "Lifecycle",
    "MatchAdjust",
    "MatchEffect",
    "Matrix",
    "ModelNotFoundError",
    "ModelRetiredError",
    "ModelSpec",
    "NoImageError",
    "OptionSpec",
    "Plan",
    "PlanResult",
    "PreparedRequest",
    "Provider",
    "ProviderError",
    "ProviderReply",
    "QuotaExceededError",
    "Ranked",
    "RateLimitError",
    "RawImage",
    "Recipe",
    "Reproducibility",
    "RequestError",
    "RetryPolicy",
    "Score",
    "SeedlessDeprecationWarning",
    "SeedlessError",
    "ServerError",
    "SizeRule",
    "TimeoutError",
    "UnsupportedCapabilityError",
    "WireRequest",
    "WorkflowError",
    "__version__",
    "anchored_request",
    "best_of",
    "capabilities",
    "contact_sheet",
    "fit_effect",
    "measure_reproducibility",
    "plan",
    "register_model",
    "replay",
    "run_batch",
]

# The fitted-look machinery needs numpy: it is imported on first use, not with seedless.
_LAZY = {
    "BatchEstimate": "seedless.batch",
    "BatchReport": "seedless.batch",
    "BestOf": "seedless.batch",
    "DiskCache": "seedless.cache",
    "Job": "seedless.batch",
    "Ledger": "seedless.batch",
    "run_batch": "seedless.batch",
    "CubeEffect": "seedless.effects.cube_lut",
    "FitReport": "seedless.effects.fit",
    "FittedEffect": "seedless.effects.fit",
    "fit_effect": "seedless.effects.fit",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seedless' has no attribute {name!r}")


if _TYPE_CHECKING:
    from .batch import BatchEstimate, BatchReport, BestOf, Job, Ledger, run_batch
    from .cache import DiskCache
    from .effects.cube_lut import CubeEffect
    from .effects.fit import FitReport, FittedEffect, fit_effect
