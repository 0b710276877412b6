"""seedless: repeatable image edits across models with and without a seed.

The public API lives here. Provider SDKs (google-genai) are imported only when a provider
that needs them is first used, so ``import seedless`` stays fast.
"""

from __future__ import annotations

import warnings as _warnings

from ._version import __version__
from .capabilities import (
    Lifecycle,
    Matrix,
    ModelSpec,
    capabilities,
    register_model,
)
from .client import AsyncClient, Client
from .config import Endpoint
from .effects.adjust import Adjust
from .errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContentBlockedError,
    InvalidImageError,
    ModelNotFoundError,
    ModelRetiredError,
    NoImageError,
    ProviderError,
    RateLimitError,
    RequestError,
    SeedlessDeprecationWarning,
    SeedlessError,
    ServerError,
    TimeoutError,
    UnsupportedCapabilityError,
)
from .models import EditRequest, GenerateRequest, Generation, ImageInput, ImageResult
from .providers.base import FunctionProvider, Provider, ProviderReply, RawImage
from .retry import RetryPolicy

# Deprecation notices about models are meant for the person running the code: show them.
_warnings.filterwarnings("default", category=SeedlessDeprecationWarning)

__all__ = [
    "Adjust",
    "AsyncClient",
    "AuthenticationError",
    "BudgetExceededError",
    "Client",
    "ConfigurationError",
    "ContentBlockedError",
    "EditRequest",
    "Endpoint",
    "FunctionProvider",
    "GenerateRequest",
    "Generation",
    "ImageInput",
    "ImageResult",
    "InvalidImageError",
    "Lifecycle",
    "Matrix",
    "ModelNotFoundError",
    "ModelRetiredError",
    "ModelSpec",
    "NoImageError",
    "Provider",
    "ProviderError",
    "ProviderReply",
    "RateLimitError",
    "RawImage",
    "RequestError",
    "RetryPolicy",
    "SeedlessDeprecationWarning",
    "SeedlessError",
    "ServerError",
    "TimeoutError",
    "UnsupportedCapabilityError",
    "__version__",
    "capabilities",
    "register_model",
]
