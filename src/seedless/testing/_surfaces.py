"""The request fields each emulated Google API version takes, by message (proto3 JSON names).

These sets mirror the providers' own definitions, vendored in the repository's
``tests/definitions`` (a test there keeps them equal): the Gemini API (generativelanguage
v1beta and v1: the googleapis protos plus the live fields google-genai sends, listed in
``generativelanguage.live.json``) and Vertex AI (aiplatform v1 and v1beta1 discovery documents,
revision 20261106). A name outside its message's set is answered 400 "Unknown name", as the
services' JSON parsers do; so a Vertex-only field (top-level ``labels``,
``imageConfig.personGeneration``) sent to the Gemini API is refused, as there.

``v1alpha`` of the Gemini API has no vendored definition; it is served with the v1beta sets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GEMINI_API", "VERTEX", "Surface"]


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
