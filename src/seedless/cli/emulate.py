"""``seedless emulate``: run the loopback emulators until Ctrl-C.

Servers on 127.0.0.1: Google's APIs (the Gemini API and Vertex AI share one port, as their
paths never overlap) on ``--port``, the OpenAI-style images API on ``--port`` + 1, the
self-hosted Forge and ComfyUI on + 2 and + 3, Black Forest Labs' API on + 4 (its result
images on + 5), Stability AI's on + 6, the Flux hosts Together and DeepInfra on + 7 and + 8.
``--port 0`` (the default) picks free ports. The command prints the URLs and the ``export``
lines that point the standard SDKs, and seedless, at the emulator.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..testing import Emulator


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="Run loopback emulators of the Gemini, Vertex AI, OpenAI, Forge, ComfyUI, BFL, "
        "Stability, Together and DeepInfra image APIs.",
        description="Serve emulators of the Gemini API, Vertex AI (Imagen and Gemini), an "
        "OpenAI-style images API (OpenAI's models and a Flux relay), self-hosted Forge "
        "(AUTOMATIC1111's API) and ComfyUI, Black Forest Labs' API, Stability AI's and the Flux "
        "hosts Together and DeepInfra on 127.0.0.1 until Ctrl-C, and print the environment that "
        "points the standard SDKs (and seedless) at them. Google's APIs listen on PORT, "
        "OpenAI's on PORT+1, Forge and ComfyUI on PORT+2 and PORT+3, BFL on PORT+4 (its "
        "result images on PORT+5), Stability on PORT+6, Together and DeepInfra on PORT+7 and "
        "PORT+8.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port of the Google APIs; the others follow it (default 0: free ports)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds every answer waits (default 0)"
    )
    parser.add_argument("--project", default="test-project", help="the Vertex project to accept")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..testing import Emulator  # lazy: the emulators (numpy, http.server) load to run
    from ..testing._emulator import SERVERS  # lazy: as above

    highest = 65535 - len(SERVERS) + 1
    if not 0 <= args.port <= highest:
        print(f"seedless emulate: --port must be between 0 and {highest}", file=sys.stderr)
        return 2
    if args.latency < 0:
        print("seedless emulate: --latency must be >= 0", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        with Emulator(port=args.port, latency=args.latency, project=args.project) as emulator:
            print(describe(emulator), flush=True)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("seedless emulate: stopped", flush=True)
    return 0


def describe(emulator: Emulator) -> str:
    """The banner: where each service listens, its credential, and the env to export."""
    gemini, vertex, openai, bfl = emulator.gemini, emulator.vertex, emulator.openai, emulator.bfl
    lines = [
        "seedless emulator running on 127.0.0.1 (Ctrl-C to stop)",
        f"  Gemini API  {gemini.url:<32} x-goog-api-key: {gemini.api_key}",
        f"  Vertex AI   {vertex.url:<32} bearer token: {vertex.token}, project: "
        f"{vertex.project}, location: {vertex.location}",
        f"  OpenAI      {openai.url:<32} bearer key: {openai.api_key} (and the Flux relay)",
    ]
    lines += [f"  {s.name:<11} {s.url:<32} self-hosted, no key" for s in emulator.self_hosted]
    lines += [
        f"  BFL         {bfl.url:<32} x-key: {bfl.api_key} (results on {bfl.delivery.url})",
        f"  Stability   {emulator.stability.url:<32} bearer key: {emulator.stability.api_key}",
        *(f"  {h.name:<11} {h.url:<32} bearer key: {h.api_key}" for h in emulator.flux_hosts),
        "",
        "# Point the standard SDKs and seedless at it:",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in emulator.env().items()]
    return "\n".join(lines)
