"""Known differences between seedless, its emulator and the providers' definitions.

Each entry is one item of issue 15 (the issue text calls it issue 12), explained, and says
whose it is: ``provider`` (what seedless sends) or ``emulator`` (what seedless.testing accepts
or answers). A problem the wire check finds that no entry explains fails the test that caused
it. Phase B removed those seedless could fix at their cause (Flux's ``b64_json`` on Together's
definition, the lax Flux emulator, host-style ids on the OpenAI emulator); what is left is
explained and not ours to fix: the SDK's serialisation, a deprecation the SDK cannot follow
yet, a definition that lags its models, APIs no vendored definition covers. An entry nothing
matches any more should go (``SEEDLESS_WIRECHECK_REPORT=path pytest`` writes every problem
found, explained or not).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from .definitions import Problem


@dataclass(frozen=True)
class Deviation:
    """A known difference: which problems it explains, and why they are left for now."""

    item: str  # what the issue says, shortly
    side: str  # "provider" or "emulator"
    definition: str  # a substring of Problem.definition
    path: str  # fnmatch patterns of Problem.path, separated by "|"
    message: str = ""  # a substring of Problem.message
    where: str = "*"  # an fnmatch pattern of Problem.where ("POST /v1/images/edits")
    problem_side: str = "*"  # "request" or "answer"

    def explains(self, problem: Problem) -> bool:
        """Whether ``problem`` is this deviation."""
        return (
            self.definition in problem.definition
            and any(fnmatchcase(problem.path, path) for path in self.path.split("|"))
            and self.message in problem.message
            and fnmatchcase(problem.where, self.where)
            and fnmatchcase(problem.side, self.problem_side)
        )


KNOWN: tuple[Deviation, ...] = (
    # -- what seedless (or the SDK under it) sends --------------------------------------------
    Deviation(
        item="google-genai 3.6.1 passes nested parts of its config through unconverted, so "
        "inlineData.mime_type and thinkingConfig.thinking_level travel with proto field names; "
        "proto3 JSON parsers accept both names. seedless plans the camelCase body and keeps the "
        "SDK for sending (docs/decisions.md): its extra_body hook aligns keys to the SDK's own "
        "casing, so only leaving the SDK would change this",
        side="provider",
        definition="generativelanguage",
        path="$.contents*.inlineData.mime_type|$.generationConfig.thinkingConfig.*",
        message="wrong casing",
        problem_side="request",
    ),
    Deviation(
        item="Vertex marks generationConfig.imageConfig deprecated (rev 20261106): 'Use "
        "response_format.image instead' (generationConfig.responseFormat[].image). seedless "
        "sends imageConfig through google-genai 3.6.1, whose generate_content config has no "
        "response_format (only imageConfig), and no page documents responseFormat for image "
        "models yet; the deprecated field is served (docs/decisions.md)",
        side="provider",
        definition="aiplatform",
        path="$.generationConfig.imageConfig",
        message="deprecated in this revision",
    ),
    # -- what the emulator accepts or answers ---------------------------------------------------
    Deviation(
        item="GPT image answers carry sizes outside the enum of OpenAI's ImagesResponse.size "
        "(the definition lags the models: gpt-image-2 takes any WxH); noted, not copied",
        side="emulator",
        definition="openai-openapi",
        path="$.size",
        message="is not one of",
        where="POST /v1/images/*",
        problem_side="answer",
    ),
    Deviation(
        item="the Gemini API's Files API (resumable upload, get, list, download with "
        "alt=media) is not in the vendored definitions (the protos converted cover "
        "generateContent and models only); its formats come from google-genai 3.6.1's "
        "files.py and _api_client.py (issue 16, the provider batch engines)",
        side="emulator",
        definition="generativelanguage",
        path="$",
        message="no such method in the definition",
        where="* /*files*",
    ),
    Deviation(
        item="the Gemini API's Batch Mode (models.batchGenerateContent, batches.get/list/"
        "cancel/delete) is not in the vendored definitions; its formats come from the Batch "
        "Mode reference (ai.google.dev/api/batch-mode) and google-genai 3.6.1's batches.py. "
        "The GenerateContentRequest of each batch line is checked by tests/batch (issue 16)",
        side="emulator",
        definition="generativelanguage",
        path="$",
        message="no such method in the definition",
        where="* /*batch*",
    ),
    Deviation(
        item="the Stability emulator answers 401 (its v2beta error shape) to a missing or wrong "
        "key; the generate operations' description lists no 401 (the service answers one)",
        side="emulator",
        definition="stability openapi",
        path="$",
        message="status 401 is not defined",
        problem_side="answer",
    ),
)


def explained_by(problem: Problem) -> Deviation | None:
    """The known deviation that explains ``problem``, if any."""
    return next((d for d in KNOWN if d.explains(problem)), None)
