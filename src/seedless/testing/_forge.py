"""The emulated AUTOMATIC1111 / Forge web API (a server started with ``--api``).

Paths (:attr:`ForgeEmulator.url` is the server's root, as ``SEEDLESS_FORGE_URL`` is)::

    POST /sdapi/v1/txt2img    {prompt, negative_prompt, seed, width, height, steps, cfg_scale,
                               sampler_name, scheduler, override_settings, ...}
    POST /sdapi/v1/img2img    the same, plus init_images [base64] and denoising_strength
    GET  /sdapi/v1/sd-models  [{title, model_name, hash, sha256, filename, config}]
    GET  /sdapi/v1/options    {sd_model_checkpoint, sd_checkpoint_hash, samples_format, ...}

An answer is ``{images: [base64 PNG], parameters: {...}, info: "<JSON>"}``; ``info`` says the
seed used (the server picks one for ``-1``), the checkpoint's name and short hash, and the
server version. Pictures are deterministic in (checkpoint sha256, prompt, negative prompt,
seed, size, steps, cfg_scale, sampler, scheduler, denoising strength, input image): edit
:attr:`~ForgeEmulator.checkpoints`, :attr:`~ForgeEmulator.loaded` or
:attr:`~ForgeEmulator.version` and the fingerprint changes (and, for the checkpoint, the
pictures too). A checkpoint a request names in ``override_settings.sd_model_checkpoint`` that
the server does not have is silently ignored, as the real server does.

Body fields are those of the API's request models (unknown ones are ignored, as pydantic does
there); a field of the wrong type is FastAPI's 422 with its list of validation errors. Other
errors are Forge's ``{"detail": "..."}``, or with ``flavour="a1111"`` AUTOMATIC1111's
``{"error", "detail", "body", "errors"}``. ``auth=(user, password)`` asks for HTTP basic auth.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import time
from typing import Any, ClassVar, Literal

from ._images import decode, encode, fit, long_side_for, ratio_size, render, seeded_rng
from ._server import Incoming, Reply, ServiceEmulator, json_reply, retry_headers

__all__ = ["DEFAULT_CHECKPOINTS", "SDAPI_FIELDS", "ForgeEmulator"]

#: Checkpoints served by default: file name -> sha256 (the short hash is its first 10 digits).
DEFAULT_CHECKPOINTS = {
    "v1-5-pruned-emaonly.safetensors": (
        "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"
    ),
    "sd_xl_base_1.0.safetensors": (
        "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"
    ),
}

# The request models' fields: name -> (type, default), from StableDiffusionProcessing and its
# Txt2Img/Img2Img subclasses plus the API's additional fields (modules/api/models.py).
_F = tuple[str, Any]
_COMMON: dict[str, _F] = {
    "prompt": ("string", ""), "negative_prompt": ("string", ""), "styles": ("array", None),
    "seed": ("integer", -1), "subseed": ("integer", -1), "subseed_strength": ("number", 0),
    "seed_resize_from_h": ("integer", -1), "seed_resize_from_w": ("integer", -1),
    "sampler_name": ("string", None), "scheduler": ("string", None),
    "batch_size": ("integer", 1), "n_iter": ("integer", 1), "steps": ("integer", 50),
    "cfg_scale": ("number", 7.0), "distilled_cfg_scale": ("number", 3.5),
    "width": ("integer", 512), "height": ("integer", 512), "restore_faces": ("boolean", None),
    "tiling": ("boolean", None), "do_not_save_samples": ("boolean", False),
    "do_not_save_grid": ("boolean", False), "eta": ("number", None),
    "denoising_strength": ("number", None), "s_min_uncond": ("number", None),
    "s_churn": ("number", None), "s_tmax": ("number", None), "s_tmin": ("number", None),
    "s_noise": ("number", None), "override_settings": ("object", None),
    "override_settings_restore_afterwards": ("boolean", True),
    "refiner_checkpoint": ("string", None), "refiner_switch_at": ("number", None),
    "disable_extra_networks": ("boolean", False), "firstpass_image": ("string", None),
    "comments": ("object", None), "force_task_id": ("string", None),
    "sampler_index": ("string", "Euler"), "script_name": ("string", None),
    "script_args": ("array", []), "send_images": ("boolean", True),
    "save_images": ("boolean", False), "alwayson_scripts": ("object", {}),
    "infotext": ("string", None),
}  # fmt: skip
_TXT2IMG_ONLY: dict[str, _F] = {
    "enable_hr": ("boolean", False), "firstphase_width": ("integer", 0),
    "firstphase_height": ("integer", 0), "hr_scale": ("number", 2.0),
    "hr_upscaler": ("string", None), "hr_second_pass_steps": ("integer", 0),
    "hr_resize_x": ("integer", 0), "hr_resize_y": ("integer", 0),
    "hr_checkpoint_name": ("string", None), "hr_additional_modules": ("array", None),
    "hr_sampler_name": ("string", None), "hr_scheduler": ("string", None),
    "hr_prompt": ("string", ""), "hr_negative_prompt": ("string", ""), "hr_cfg": ("number", 1.0),
    "hr_distilled_cfg": ("number", 3.5),
}  # fmt: skip
_IMG2IMG_ONLY: dict[str, _F] = {
    "init_images": ("array", None), "resize_mode": ("integer", 0),
    "image_cfg_scale": ("number", None), "mask": ("string", None), "mask_blur_x": ("integer", 4),
    "mask_blur_y": ("integer", 4), "mask_blur": ("integer", None), "mask_round": ("boolean", True),
    "inpainting_fill": ("integer", 0), "inpaint_full_res": ("boolean", True),
    "inpaint_full_res_padding": ("integer", 0), "inpainting_mask_invert": ("integer", 0),
    "initial_noise_multiplier": ("number", None), "latent_mask": ("string", None),
    "include_init_images": ("boolean", False), "hr_distilled_cfg": ("number", 3.5),
    "denoising_strength": ("number", 0.75),
}  # fmt: skip
#: Every body field each route's request model defines: path -> name -> (type, default).
SDAPI_FIELDS: dict[str, dict[str, _F]] = {
    "/sdapi/v1/txt2img": {**_COMMON, **_TXT2IMG_ONLY},
    "/sdapi/v1/img2img": {**_COMMON, **_IMG2IMG_ONLY},
}
#: The server's samplers (name, aliases), the first being the default for unknown names.
_SAMPLERS = (
    ("DPM++ 2M", ("k_dpmpp_2m",)), ("DPM++ SDE", ("k_dpmpp_sde",)),
    ("DPM++ 2M SDE", ("k_dpmpp_2m_sde",)), ("Euler a", ("k_euler_a", "k_euler_ancestral")),
    ("Euler", ("k_euler",)), ("LMS", ("k_lms",)), ("Heun", ("k_heun",)), ("DDIM", ()),
    ("UniPC", ()), ("LCM", ()),
)  # fmt: skip
_PYDANTIC = {
    "integer": ("int_parsing", "Input should be a valid integer"),
    "number": ("float_parsing", "Input should be a valid number"),
    "boolean": ("bool_parsing", "Input should be a valid boolean"),
    "string": ("string_type", "Input should be a valid string"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
}
_NUMERIC = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


class ForgeEmulator(ServiceEmulator):
    """An AUTOMATIC1111-style server: Forge by default, A1111's error bodies with
    ``flavour="a1111"``; HTTP basic auth when ``auth`` is given."""

    name: ClassVar[str] = "forge"
    url_path: ClassVar[str] = ""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        flavour: Literal["forge", "a1111"] = "forge",
        **kwargs: Any,
    ) -> None:
        super().__init__(models={}, **kwargs)
        #: ``(user, password)`` the server asks for (``--api-auth``), or None.
        self.auth = auth
        #: Whose error bodies: Forge's FastAPI ``{"detail"}`` or A1111's middleware's.
        self.flavour = flavour
        #: The checkpoints on the server: file name -> sha256. Edit freely.
        self.checkpoints: dict[str, str] = dict(DEFAULT_CHECKPOINTS)
        #: The file name of the loaded checkpoint.
        self.loaded = next(iter(DEFAULT_CHECKPOINTS))
        #: What ``info.version`` reports.
        self.version = "f2.0.1v1.10.1-previous-669-gdfdcbab6"

    # -- checkpoints -----------------------------------------------------------------------

    @staticmethod
    def describe(filename: str, sha256: str) -> dict[str, Any]:
        """A checkpoint as ``/sdapi/v1/sd-models`` lists it."""
        stem = filename.rsplit(".", 1)[0]
        return {
            "title": f"{filename} [{sha256[:10]}]",
            "model_name": stem,
            "hash": sha256[:10],
            "sha256": sha256,
            "filename": f"/models/Stable-diffusion/{filename}",
            "config": None,
        }

    def _find(self, name: str) -> str | None:
        """The checkpoint file a name stands for (title, file, stem, short or full hash)."""
        for filename, sha in self.checkpoints.items():
            item = self.describe(filename, sha)
            if name in (filename, item["title"], item["model_name"], sha[:10], sha):
                return filename
        return None

    # -- errors ----------------------------------------------------------------------------

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        detail: Any = None,
        **extra: Any,
    ) -> Reply:
        text = message or {500: "Internal Server Error", 503: "Service Unavailable"}.get(
            status, "Error"
        )
        headers = retry_headers(retry_after)
        if status == 401:
            headers["www-authenticate"] = "Basic"
        if detail is not None:  # FastAPI's own answers (validation, routing): both flavours
            return json_reply(status, {"detail": detail}, headers)
        if self.flavour == "a1111":
            body = {
                "error": "HTTPException",
                "detail": text,
                "body": "",
                "errors": f"{status}: {text}",
            }
            return json_reply(status, body, headers)
        return json_reply(status, {"detail": text}, headers)

    def _authenticate(self, incoming: Incoming) -> None:
        if self.auth is None:
            return
        scheme, _, token = incoming.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise self.refuse(401, detail="Not authenticated")
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise self.refuse(401, detail="Invalid authentication credentials") from None
        if (user, password) != self.auth:
            raise self.refuse(401, "Incorrect username or password")

    # -- routing ---------------------------------------------------------------------------

    def route(self, incoming: Incoming) -> Reply:
        path, method = incoming.path.rstrip("/") or "/", incoming.method
        if path in SDAPI_FIELDS:
            if method != "POST":
                return self.error(405, detail="Method Not Allowed")
            self._authenticate(incoming)
            return self._generate(path, self._body(incoming, path))
        if path == "/sdapi/v1/sd-models" and method == "GET":
            self._authenticate(incoming)
            return json_reply(200, [self.describe(f, s) for f, s in self.checkpoints.items()])
        if path == "/sdapi/v1/options" and method == "GET":
            self._authenticate(incoming)
            sha = self.checkpoints.get(self.loaded, "")
            return json_reply(200, {
                "sd_model_checkpoint": self.describe(self.loaded, sha)["title"],
                "sd_checkpoint_hash": sha,
                "samples_format": "png",
                "CLIP_stop_at_last_layers": 1,
                "sd_vae": "Automatic",
            })  # fmt: skip
        return self.error(404, detail="Not Found")

    def _body(self, incoming: Incoming, path: str) -> dict[str, Any]:
        """The request model: known fields checked (FastAPI's 422), defaults filled in."""
        if not incoming.json_ok or not isinstance(incoming.json_body, dict):
            raise self.refuse(422, detail=[{
                "type": "model_attributes_type" if incoming.json_ok else "json_invalid",
                "loc": ["body"], "msg": "Input should be a valid dictionary or object",
                "input": None,
            }])  # fmt: skip
        fields = SDAPI_FIELDS[path]
        body = {name: default for name, (_, default) in fields.items()}
        problems = []
        for name, value in incoming.json_body.items():
            if name not in fields:
                continue  # pydantic ignores unknown fields
            kind = fields[name][0]
            coerced = _coerce(kind, value)
            if coerced is _INVALID:
                code, msg = _PYDANTIC[kind]
                problems.append({"type": code, "loc": ["body", name], "msg": msg, "input": value})
            else:
                body[name] = coerced
        if problems:
            raise self.refuse(422, detail=problems)
        return body

    # -- generating ------------------------------------------------------------------------

    def _generate(self, path: str, body: dict[str, Any]) -> Reply:
        source = None
        if path.endswith("img2img"):
            images = body.get("init_images")
            if not images:
                raise self.refuse(404, "Init image not found")
            source = self._picture(images[0])
        sampler = self._sampler(body.get("sampler_name") or body.get("sampler_index"))
        checkpoint = self.loaded
        named = (body.get("override_settings") or {}).get("sd_model_checkpoint")
        if isinstance(named, str) and self._find(named) is not None:
            checkpoint = self._find(named) or checkpoint  # unknown names: silently ignored
            if body.get("override_settings_restore_afterwards") is False:
                self.loaded = checkpoint
        sha = self.checkpoints.get(checkpoint, "")
        seed = body["seed"] if body["seed"] is not None and body["seed"] >= 0 else None
        if seed is None:
            seed = random.randrange(4294967294)
        width, height = body["width"] or 512, body["height"] or 512
        fault = self.take_fault(None)
        if fault is not None and fault.kind in ("block", "no_image"):
            body["send_images"] = False
        digest = hashlib.sha256(source.tobytes()).hexdigest() if source is not None else None
        rng = seeded_rng(
            "forge", sha, body["prompt"], body["negative_prompt"], seed, width, height,
            body["steps"], body["cfg_scale"], sampler, body.get("scheduler"),
            body["denoising_strength"] if source is not None else None, digest,
            body["subseed"], body["subseed_strength"], body["distilled_cfg_scale"],
        )  # fmt: skip
        size = ratio_size((width, height), long_side_for(width, height))
        if source is None:
            picture = render(body["prompt"] or "-", rng, size)
        else:
            picture = self.transform(fit(source, size), body["prompt"], rng)
        images = [base64.b64encode(encode(picture)).decode()] if body["send_images"] else []
        info = self._info(body, seed, sampler, checkpoint, sha, width, height)
        reply = json_reply(200, {"images": images, "parameters": body, "info": json.dumps(info)})
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply

    def _picture(self, encoded: Any) -> Any:
        text = str(encoded)
        if text.startswith("data:image/"):
            text = text.split(";")[1].split(",")[1]
        try:
            return decode(base64.b64decode(text))
        except (binascii.Error, ValueError):
            raise self.refuse(500, "Invalid encoded image") from None

    @staticmethod
    def _sampler(name: Any) -> str:
        """The sampler used: the named one (or an alias), else the default, silently."""
        for sampler, aliases in _SAMPLERS:
            if name == sampler or name in aliases:
                return sampler
        return _SAMPLERS[0][0]

    def _info(
        self,
        body: dict[str, Any],
        seed: int,
        sampler: str,
        checkpoint: str,
        sha: str,
        width: int,
        height: int,
    ) -> dict[str, Any]:
        """The ``info`` block, as ``Processed.js()`` writes it."""
        prompt, negative = body["prompt"], body["negative_prompt"]
        return {
            "prompt": prompt, "all_prompts": [prompt], "negative_prompt": negative,
            "all_negative_prompts": [negative], "seed": seed, "all_seeds": [seed],
            "subseed": body["subseed"], "all_subseeds": [body["subseed"]],
            "subseed_strength": body["subseed_strength"], "width": width, "height": height,
            "sampler_name": sampler, "cfg_scale": body["cfg_scale"], "steps": body["steps"],
            "batch_size": 1, "restore_faces": body.get("restore_faces"),
            "face_restoration_model": None, "sd_model_name": checkpoint.rsplit(".", 1)[0],
            "sd_model_hash": sha[:10], "sd_vae_name": None, "sd_vae_hash": None,
            "seed_resize_from_w": -1, "seed_resize_from_h": -1,
            "denoising_strength": body.get("denoising_strength"),
            "extra_generation_params": {}, "index_of_first_image": 0,
            "infotexts": [f"{prompt}\nSteps: {body['steps']}, Sampler: {sampler}, Seed: {seed}"],
            "styles": body.get("styles") or [], "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "clip_skip": 1, "is_using_inpainting_conditioning": False, "version": self.version,
        }  # fmt: skip


_INVALID = object()


def _coerce(kind: str, value: Any) -> Any:
    """``value`` as pydantic's lax mode reads a field of ``kind``, or ``_INVALID``."""
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, bool):
            return value  # pydantic accepts booleans as integers
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        return _INVALID
    if kind == "number":
        if isinstance(value, (int, float)):
            return float(value) if not isinstance(value, bool) else value
        if isinstance(value, str) and _NUMERIC.match(value):
            return float(value)
        return _INVALID
    checks = {"boolean": bool, "string": str, "array": list, "object": dict}
    return value if isinstance(value, checks[kind]) else _INVALID
