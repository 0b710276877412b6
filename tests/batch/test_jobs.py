"""Jobs and their loaders: JSONL, CSV, folder + recipe (effect, job fields, a saved Recipe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedless import Adjust, ConfigurationError, EditRequest, GenerateRequest, ImageInput
from seedless.batch import BestOf, Job, folder_jobs, load_jobs, read_csv, read_jsonl
from seedless.batch.job import safe_output_name


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_jobs_are_read_lazily_with_paths_relative_to_the_file(
    tmp_path: Path, photos: list[Path]
) -> None:
    (tmp_path / "in").mkdir()
    photo = tmp_path / "in" / "a.jpg"
    photo.write_bytes(photos[0].read_bytes())
    file = write_jsonl(
        tmp_path / "jobs.jsonl",
        {"id": "fox", "model": "openai:flux-dev", "prompt": "a fox", "seed": 3, "size": "1K"},
        {"image": "in/a.jpg", "effect": {"brightness": 0.8}, "output": "local/a"},
        {
            "op": "edit",
            "image": "in/a.jpg",
            "model": "gemini:gemini-3-pro-image",
            "prompt": "moody",
        },
        "not an object",
    )
    jobs = iter(read_jsonl(file))
    fox = next(jobs)
    assert fox.id == "fox" and fox.kind == "generate" and isinstance(fox.request, GenerateRequest)
    assert fox.request.seed == 3 and fox.source == f"{file}:1" and fox.input_hash is None
    local = next(jobs)
    assert isinstance(local.request, EditRequest) and local.request.model == "local:pillow"
    assert local.request.effect == Adjust(brightness=0.8) and local.id == "local/a"
    assert local.output_name == "local/a" and local.input_hash
    ai = next(jobs)
    assert ai.kind == "edit" and len(ai.id) == 16  # no id or output: the request hash
    with pytest.raises(ConfigurationError, match=r"jobs.jsonl:4: each line holds one JSON object"):
        next(jobs)  # lazily: the bad line is met only when it is read
    # re-iterable: a second pass reads the file again
    assert next(iter(read_jsonl(file))).id == "fox"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"model": "m", "prompt": "p", "colour": "red"}, "unknown field"),
        ({"op": "paint", "model": "m"}, "unknown op"),
        ({"op": "edit", "model": "m", "prompt": "p"}, "needs 'image'"),
        ({"model": "m", "prompt": "p", "n": 0}, "field n"),
        ({"model": "m", "prompt": "p", "output": "../../etc/x"}, "relative path"),
    ],
)
def test_bad_job_lines_name_the_file_and_line(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    file = write_jsonl(tmp_path / "jobs.jsonl", {"model": "m", "prompt": "fine"}, record)
    with pytest.raises(ConfigurationError, match=message) as info:
        list(read_jsonl(file))
    assert "jobs.jsonl:2" in str(info.value)


def test_a_line_whose_image_cannot_be_read_is_a_problem_not_a_stop(tmp_path: Path) -> None:
    from seedless.batch import JobProblem

    (tmp_path / "notes.jpg").write_text("not a photo")
    file = write_jsonl(
        tmp_path / "jobs.jsonl",
        {"image": "missing.jpg", "effect": {"brightness": 0.8}, "id": "gone"},
        {"image": "notes.jpg", "effect": {"brightness": 0.8}},
        {"model": "m", "prompt": "fine", "id": "fine"},
    )
    gone, notes, fine = list(read_jsonl(file))
    assert isinstance(gone, JobProblem) and gone.id == "gone" and gone.source == f"{file}:1"
    assert "missing.jpg" in str(gone.error) and "No such file" in str(gone.error)
    assert isinstance(notes, JobProblem) and notes.id == f"{file}:2"
    assert "'notes.jpg'" in str(notes.error) and "text" in str(notes.error)
    assert not isinstance(fine, JobProblem) and fine.id == "fine"


def test_invalid_json_is_reported_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "jobs.jsonl"
    file.write_text('{"model": "m", "prompt": "p"}\n\n{"model": \n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"jobs.jsonl:3: invalid JSON"):
        list(read_jsonl(file))


def test_csv_jobs(tmp_path: Path, photos: list[Path]) -> None:
    (tmp_path / "a.jpg").write_bytes(photos[0].read_bytes())
    (tmp_path / "ref.jpg").write_bytes(photos[1].read_bytes())
    file = tmp_path / "jobs.csv"
    file.write_text(
        "id,model,prompt,seed,n,images,effect,add_watermark,options\n"
        'g1,openai:flux-dev,a fox,7,2,,,,"{""steps"": 20}"\n'
        'e1,,,,,a.jpg,"{""contrast"": 1.2}",,\n'
        "e2,gemini:gemini-3-pro-image,match the look,,,a.jpg;ref.jpg,,false,\n",
        encoding="utf-8",
    )
    g1, e1, e2 = read_csv(file)
    assert g1.request.n == 2 and g1.request.seed == 7 and g1.request.options == {"steps": 20}
    assert isinstance(e1.request, EditRequest) and e1.request.effect == Adjust(contrast=1.2)
    assert isinstance(e2.request, EditRequest) and len(e2.request.images) == 2
    assert e2.request.add_watermark is False and e2.source == f"{file}:4"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,model,prompt,seed\nx,m,p,seven\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad.csv:2"):
        list(read_csv(bad))


def test_folder_with_an_effect_recipe(tmp_path: Path, photos: list[Path]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos[:3]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    effect = tmp_path / "look.json"
    effect.write_text(Adjust(brightness=0.85, warmth=0.2).model_dump_json())
    jobs = list(load_jobs(folder, recipe=effect))
    assert [job.id for job in jobs] == sorted(p.name for p in photos[:3])
    assert all(job.request.model == "local:pillow" for job in jobs)
    assert all(
        isinstance(job.request, EditRequest)
        and job.request.effect == Adjust(brightness=0.85, warmth=0.2)
        for job in jobs
    )
    assert jobs[0].output_name == Path(jobs[0].id).stem
    # a recipe of job fields, with a reference image relative to the recipe
    recipe = tmp_path / "recipe.json"
    (tmp_path / "ref.jpg").write_bytes(photos[4].read_bytes())
    recipe.write_text(
        json.dumps(
            {"model": "gemini:gemini-3-pro-image", "prompt": "moodier", "references": ["ref.jpg"]}
        )
    )
    ai = list(folder_jobs(folder, recipe))
    assert all(isinstance(j.request, EditRequest) and len(j.request.images) == 2 for j in ai)
    assert ai[0].recipe_hash == ai[1].recipe_hash and ai[0].input_hash != ai[1].input_hash
    with pytest.raises(ConfigurationError, match="folder"):
        load_jobs(folder)
    with pytest.raises(ConfigurationError, match="takes no 'image'"):
        folder_jobs(folder, {"image": "x.jpg", "model": "m"})


def test_folder_refuses_two_images_that_would_share_an_output(
    tmp_path: Path, photos: list[Path]
) -> None:
    (tmp_path / "a.jpg").write_bytes(photos[0].read_bytes())
    (tmp_path / "a.png").write_bytes(photos[3].read_bytes())
    with pytest.raises(ConfigurationError, match="both be written"):
        folder_jobs(tmp_path, Adjust(gamma=1.1))


def test_a_saved_recipe_replays_on_a_folder(tmp_path: Path, photos: list[Path]) -> None:
    from seedless.strategies import Recipe

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos[:2]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    local = Recipe(
        strategy="local",
        model="local:pillow",
        effect=Adjust(saturation=0.5).model_dump(mode="json"),
    )
    (tmp_path / "local.json").write_text(local.to_json())
    jobs = list(load_jobs(folder, recipe=tmp_path / "local.json"))
    assert all(
        j.request.model == "local:pillow"
        and isinstance(j.request, EditRequest)
        and j.request.effect == Adjust(saturation=0.5)
        for j in jobs
    )
    seeded = Recipe(
        strategy="seeded",
        model="openai:flux-2-pro",
        instruction="dusk",
        seed=42,
        parameters={"size": "1K"},
    )
    jobs = list(load_jobs(folder, recipe=seeded))
    assert all(
        j.request.seed == 42 and j.request.prompt == "dusk" and j.request.size == "1K" for j in jobs
    )
    anchored = Recipe(strategy="anchored", model="gemini:gemini-3-pro-image", instruction="moodier")
    with pytest.raises(ConfigurationError, match="approved pair"):
        load_jobs(folder, recipe=anchored)
    original, approved = tmp_path / "before.jpg", tmp_path / "after.jpg"
    original.write_bytes(photos[2].read_bytes())
    approved.write_bytes(photos[4].read_bytes())
    jobs = list(load_jobs(folder, recipe=anchored, original=original, approved=approved))
    assert all(j.kind == "best_of" and j.best_of is not None and j.best_of.n == 4 for j in jobs)
    assert all(isinstance(j.request, EditRequest) and len(j.request.images) == 3 for j in jobs)
    assert jobs[0].best_of is not None and jobs[1].best_of is not None
    assert jobs[0].best_of.scorer is jobs[1].best_of.scorer  # fitted once, shared


def test_best_of_jobs_need_a_scorer_or_an_approved_pair(tmp_path: Path) -> None:
    from seedless.strategies import MatchAdjust

    with pytest.raises(ValueError, match="scorer"):
        Job(request=GenerateRequest(prompt="a fox", model="openai:flux-dev"), best_of=BestOf(n=4))
    job = Job(request=GenerateRequest(prompt="a fox", model="openai:flux-dev"),
              best_of=BestOf(n=4, scorer=MatchAdjust(Adjust(brightness=0.8))))  # fmt: skip
    plain = Job(request=GenerateRequest(prompt="a fox", model="openai:flux-dev"))
    assert (
        job.kind == "best_of" and job.hash != plain.hash and job.request_hash == plain.request_hash
    )
    file = write_jsonl(
        tmp_path / "jobs.jsonl",
        {"model": "openai:flux-dev", "prompt": "a fox", "best_of": {"n": 3, "threshold": 0.9},
         "scorer": {"kind": "match_adjust", "adjust": {"brightness": 0.9}}},
    )  # fmt: skip
    (loaded,) = read_jsonl(file)
    assert loaded.best_of is not None and loaded.best_of.n == 3 and loaded.best_of.threshold == 0.9
    assert isinstance(loaded.best_of.scorer, MatchAdjust)


def test_output_names_stay_inside_the_folder() -> None:
    assert safe_output_name("a/./b") == "a/b"
    assert safe_output_name("sub\\name") == "sub/name"
    for bad in ("", "/abs", "../x", "a/../../b", "a:b", "x\x00"):
        with pytest.raises(ValueError):
            safe_output_name(bad)


def test_a_folder_and_a_recipe_given_as_relative_paths(
    tmp_path: Path, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `seedless batch photos/ -o out/ --recipe recipes/r.json`, run from the parent folder
    (tmp_path / "photos").mkdir()
    (tmp_path / "recipes").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(photos[0].read_bytes())
    (tmp_path / "recipes" / "ref.jpg").write_bytes(photos[1].read_bytes())
    (tmp_path / "recipes" / "r.json").write_text(
        json.dumps({"model": "gemini:gemini-3-pro-image", "prompt": "moodier",
                    "references": ["ref.jpg"]})
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (job,) = load_jobs("photos", recipe=Path("recipes/r.json"))
    assert isinstance(job.request, EditRequest)
    assert [image.sha256 for image in job.request.images] == [
        ImageInput.of(photos[0]).sha256,
        ImageInput.of(photos[1]).sha256,
    ]


def test_job_files_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" (and some Windows editors) start the file with a UTF-8 BOM
    bom = "\ufeff"
    csv_file = tmp_path / "jobs.csv"
    csv_file.write_text(bom + "id,model,prompt,seed\nfox,openai:flux-dev,a fox,1\n", "utf-8")
    jsonl_file = write_jsonl(tmp_path / "jobs.jsonl", {"id": "fox", "model": "openai:flux-dev",
                                                      "prompt": "a fox", "seed": 1})  # fmt: skip
    jsonl_file.write_text(bom + jsonl_file.read_text("utf-8"), "utf-8")
    for source in (read_csv(csv_file), read_jsonl(jsonl_file)):
        (job,) = list(source)
        assert job.id == "fox" and job.request.seed == 1
