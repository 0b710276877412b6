"""The request fields each emulated API takes: Google's by version and message (proto3 JSON
names), the OpenAI-style hosts' by operation.

These sets mirror the providers' own definitions, vendored in the repository's
``tests/definitions`` (a test there keeps them equal): the Gemini API (generativelanguage
v1beta and v1: the googleapis protos plus the live fields google-genai sends, listed in
``generativelanguage.live.json``), Vertex AI (aiplatform v1 and v1beta1 discovery documents,
revision 20261106), OpenAI's OpenAPI description (openai-openapi ``f85dbe22``), Together's
(togethercomputer/openapi ``090263aa``) and DeepInfra's OpenAI-compatible images API (no
machine-readable file: transcribed from its model pages). A Google field outside its message's
set is answered 400 "Unknown name", as the services' JSON parsers do; so a Vertex-only field
(top-level ``labels``, ``imageConfig.personGeneration``) sent to the Gemini API is refused, as
there. An OpenAI-style field outside its host's set is answered 400 ``unknown_parameter``.

``v1alpha`` of the Gemini API is served with the v1beta sets: its own protos (googleapis,
last changed 2025-02-28) lack ``imageConfig`` and ``thinkingConfig``, which the service takes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEEPINFRA_IMAGES",
    "EDIT_JSON_PARAMETERS",
    "EDIT_PARAMETERS",
    "GEMINI_API",
    "GENERATION_PARAMETERS",
    "OPENAI_IMAGES",
    "RELAY_EXTENSIONS",
    "RELAY_IMAGES",
    "REVISIONS",
    "TOGETHER_IMAGES",
    "VERTEX",
    "ImagesSurface",
    "Surface",
]

#: The published definitions the emulators follow, by emulated API, with their revisions
#: (the files are vendored in the repository's tests/definitions; a test keeps this in step).
REVISIONS: dict[str, str] = {
    "gemini": "Gemini API protos, googleapis/googleapis f8291d2b (2026-08-22), plus the fields "
    "google-genai 3.6.1 sends that they lack; v1alpha served and checked as v1beta",
    "vertex": "aiplatform v1 and v1beta1 discovery documents, revision 20261106",
    "openai": "openai/openai-openapi f85dbe22 (2026-08-21); Flux as a relay: those plus "
    "relay.overlay.json (seedless relay 1)",
    "together": "togethercomputer/openapi 090263aa (2026-04-28)",
    "deepinfra": "DeepInfra's model pages (OpenAI-compatible images API), as read 2026-12-05",
}


@dataclass(frozen=True)
class Surface:
    """What one API version's generateContent takes."""

    #: e.g. ``"generativelanguage v1beta"`` (for messages naming enum types)
    name: str
    #: proto package of enum type names in error messages
    package: str
    request: frozenset[str]
    generation: frozenset[str]
    image: frozenset[str]
    thinking: frozenset[str]
    thinking_levels: tuple[str, ...]
    content: frozenset[str]
    part: frozenset[str]
    blob: frozenset[str]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_GEMINI_REQUEST = _names(
    "audioTranscriptionConfig cachedContent contents continuationToken generationConfig model "
    "safetySettings serviceTier store systemInstruction toolConfig tools"
)
_GEMINI_GENERATION = _names(
    "candidateCount enableEnhancedCivicAnswers frequencyPenalty imageConfig logprobs "
    "maxOutputTokens mediaResolution presencePenalty responseJsonSchema "
    "responseJsonSchemaOrdered responseLogprobs responseMimeType responseModalities "
    "responseSchema seed speechConfig stopSequences temperature thinkingConfig topK topP"
)
_GEMINI_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")
_VERTEX_REQUEST = _names(
    "cachedContent contents continuationToken generationConfig labels modelArmorConfig "
    "outputConfig safetySettings systemInstruction toolConfig tools"
)
_VERTEX_GENERATION = _names(
    "audioTimestamp audioTranscriptionConfig candidateCount enableAffectiveDialog "
    "frequencyPenalty imageConfig logprobs maxOutputTokens mediaResolution presencePenalty "
    "responseFormat responseJsonSchema responseLogprobs responseMimeType responseModalities "
    "responseSchema routingConfig seed speechConfig stopSequences temperature thinkingConfig "
    "topK topP translationConfig"
)
_VERTEX_PART = _names(
    "audioTranscription codeExecutionResult executableCode fileData functionCall "
    "functionResponse inlineData mediaResolution speechMetadata text thought thoughtSignature "
    "videoMetadata"
)
_VERTEX_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "LOW", "MEDIUM", "HIGH", "MINIMAL")


def _gemini(version: str, part: str) -> Surface:
    return Surface(
        name=f"generativelanguage {version}",
        package=f"google.ai.generativelanguage.{version}",
        request=_GEMINI_REQUEST,
        generation=_GEMINI_GENERATION,
        image=_names("aspectRatio imageSize"),
        thinking=_names("includeThoughts thinkingBudget thinkingLevel"),
        thinking_levels=_GEMINI_LEVELS,
        content=_names("parts role"),
        part=_names(part),
        blob=_names("data mimeType"),
    )


def _vertex(version: str, generation: frozenset[str], part: frozenset[str]) -> Surface:
    return Surface(
        name=f"aiplatform {version}",
        package=f"google.cloud.aiplatform.{version}",
        request=_VERTEX_REQUEST,
        generation=generation,
        image=_names("aspectRatio imageOutputOptions imageSize personGeneration prominentPeople"),
        thinking=_names("includeThoughts thinkingBudget thinkingLevel"),
        thinking_levels=_VERTEX_LEVELS,
        content=_names("parts role"),
        part=part,
        blob=_names("data displayName mimeType"),
    )


_V1BETA = _gemini(
    "v1beta",
    "codeExecutionResult executableCode fileData functionCall functionResponse inlineData "
    "partMetadata text thought thoughtSignature videoMetadata",
)
#: The Gemini API by version.
GEMINI_API: dict[str, Surface] = {
    "v1beta": _V1BETA,
    "v1": _gemini("v1", "inlineData text videoMetadata"),
    "v1alpha": _V1BETA,
}
#: Vertex AI by version.
VERTEX: dict[str, Surface] = {
    "v1": _vertex("v1", _VERTEX_GENERATION, _VERTEX_PART),
    "v1beta1": _vertex(
        "v1beta1", _VERTEX_GENERATION | {"modelConfig"}, _VERTEX_PART | {"mediaProcessing"}
    ),
}


# ---------------------------------------------------------------------- OpenAI-style hosts


@dataclass(frozen=True)
class ImagesSurface:
    """What one OpenAI-style host's images API takes, and how it answers."""

    #: who publishes it, for messages: ``"together"``
    name: str
    #: the fields of ``POST .../images/generations``
    generation: frozenset[str]
    #: the fields of ``POST .../images/edits`` (multipart); None: the host has no edits
    edit: frozenset[str] | None
    #: ``response_format`` values, the host's default first
    response_formats: tuple[str, ...]
    #: ``output_format`` values, the host's default first
    output_formats: tuple[str, ...]
    #: the fields of the JSON form of ``/images/edits`` (OpenAI's ``EditImageBodyJsonParam``,
    #: what a batch line carries: images as references); None: the host has none
    edit_json: frozenset[str] | None = None


#: OpenAI's ``CreateImageRequest`` and ``CreateImageEditRequest`` (``image[]``: openai-python's
#: spelling of an array of images).
GENERATION_PARAMETERS = _names(
    "model prompt n size quality response_format style user background moderation "
    "output_compression output_format partial_images stream"
)
EDIT_PARAMETERS = _names(
    "model prompt n size quality response_format user background output_compression "
    "output_format partial_images stream image image[] mask input_fidelity"
)
#: The JSON form of /v1/images/edits (EditImageBodyJsonParam): images as references.
EDIT_JSON_PARAMETERS = (EDIT_PARAMETERS - {"image", "image[]"}) | {"images"}
#: What a generic OpenAI-style Flux relay takes beyond OpenAI's fields (seedless's convention,
#: after relays' own documentation such as APIYI's; no relay publishes a definition). Also in
#: tests/definitions/relay.overlay.json, which the wire check reads.
RELAY_EXTENSIONS = _names("seed width height steps guidance_scale")

#: OpenAI's own image models.
OPENAI_IMAGES = ImagesSurface(
    "openai",
    GENERATION_PARAMETERS,
    EDIT_PARAMETERS,
    ("b64_json", "url"),
    ("png", "jpeg", "webp"),
    EDIT_JSON_PARAMETERS,
)
#: Flux (and other non-OpenAI models) behind a generic OpenAI-style relay.
RELAY_IMAGES = ImagesSurface(
    "relay",
    GENERATION_PARAMETERS | RELAY_EXTENSIONS,
    EDIT_PARAMETERS | RELAY_EXTENSIONS,
    ("b64_json", "url"),
    ("png", "jpeg", "webp"),
)
#: Together's ``POST /v1/images/generations`` (it has no edits endpoint: an edit is a
#: generation carrying ``image_url`` or ``reference_images``).
TOGETHER_IMAGES = ImagesSurface(
    "together",
    _names(
        "prompt model steps image_url seed n height width negative_prompt response_format "
        "guidance_scale output_format image_loras reference_images disable_safety_checker"
    ),
    None,
    ("url", "base64"),
    ("jpeg", "png"),
)
#: DeepInfra's OpenAI-compatible ``POST /v1/openai/images/generations``.
DEEPINFRA_IMAGES = ImagesSurface(
    "deepinfra",
    _names("model prompt n size response_format user style"),
    None,
    ("b64_json",),
    ("jpeg",),
)
