"""Text-to-music commands: ``songspace generate`` and ``songspace audio train|evaluate|synth``.

Thin, like the rest of the CLI: parse, call library code, print. torch, torchaudio and
transformers are imported inside the commands, so ``songspace --help`` and the other commands
never load them. This is the edge where the environment is set: the Hugging Face libraries are
told to stay offline before they are imported.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn
from rich.table import Table

from audio_gen import DEFAULT_CHECKPOINT, DEFAULT_JUDGES
from cli.common import JsonOption, fail
from foundation.progress import console, progress_bar

DEFAULT_THREADS = 1
# `audio evaluate`'s defaults: a synthesiser model's captions per held-out combination and
# clips per caption; a soundfont model's judged captions.
CAPTIONS_PER_COMBO, SEEDS, JUDGED_CAPTIONS = 3, 2, 120

ThreadsOption = Annotated[int, typer.Option(
    "--threads", min=1, help="CPU threads for torch. 1 is fastest on a busy 2-core machine "
    "(see bench/README.md); use 2 or more on an idle one.")]
ModelOption = Annotated[Path, typer.Option(help="Model folder (written by `audio train`).")]
SamplerOption = Annotated[str, typer.Option(help="Sampler: ddim, dpm++ or ddpm.")]
Bf16Option = Annotated[bool, typer.Option(
    "--bf16/--fp32", help="Run the denoiser in bfloat16 (faster on CPUs with AMX/AVX512-BF16).")]
StemsOption = Annotated[bool, typer.Option(
    "--stems/--no-stems", help="A model trained with stems makes a prompt that names a genre "
    "and a lead as the lead alone and the band alone, mixed; --no-stems makes it whole.")]


def offline() -> None:
    """Tell the Hugging Face libraries, before anything imports them, to stay offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _torch(threads: int):
    """Import torch for a command, offline and with the requested number of threads."""
    offline()
    import torch

    torch.set_num_threads(threads)
    return torch


def _check_model(model: Path) -> None:
    """Refuse a folder that holds no model, before anything heavy is imported."""
    if not (model / "model_index.json").is_file():
        hint = (" (the shipped model is missing from this checkout; train one with "
                "`songspace audio train`)" if model == DEFAULT_CHECKPOINT else "")
        raise fail(f"{model}: no model_index.json; not a text-to-music model{hint}")


def _pipeline(model: Path, sampler: str | None, bf16: bool = False):
    from audio_gen.checkpoint import CheckpointError
    from audio_gen.pipeline import TextToMusic

    _check_model(model)
    try:
        return TextToMusic.from_pretrained(model, scheduler=sampler, bf16=bf16)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        raise fail(str(error)) from None


def generate(
    text: Annotated[str, typer.Argument(help="What the music should be, e.g. "
                                        "\"a slow piano melody\".")],
    out: Annotated[Path, typer.Option(help="WAV file to write (16-bit mono, at the model's "
                                      "sample rate).")],
    seconds: Annotated[float, typer.Option(help="Length in seconds.")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed of the starting noise.")] = 0,
    steps: Annotated[int, typer.Option(help="Sampler steps.")] = 50,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale "
                                            "(0 ignores the text).")] = 3.0,
    negative: Annotated[str | None, typer.Option(help="What to steer away from.")] = None,
    variation_of: Annotated[Path | None, typer.Option(
        help="Vary this WAV clip instead of starting from noise.")] = None,
    strength: Annotated[float, typer.Option(
        help="With --variation-of: 0 keeps the clip, 1 ignores it.")] = 0.6,
    mix_with: Annotated[str | None, typer.Option(
        help="A second prompt to mix with TEXT (embedding interpolation).")] = None,
    mix: Annotated[float, typer.Option(help="With --mix-with: 0 is TEXT, 1 the other.")] = 0.5,
    bpm: Annotated[float | None, typer.Option(
        help="Tempo in beats per minute (default: read from TEXT by the model).")] = None,
    stems: StemsOption = True,
    model: ModelOption = DEFAULT_CHECKPOINT,
    sampler: SamplerOption = "ddim",
    threads: ThreadsOption = DEFAULT_THREADS,
    bf16: Bf16Option = False,
    json_output: JsonOption = False,
) -> None:
    """Generate music from a text description and write it as a WAV file."""
    from audio_gen.request import MAX_SECONDS, validate_request  # plain Python: no torch yet

    if out.suffix.lower() != ".wav":
        raise fail(f"--out must name a .wav file, got {out}")
    _check_model(model)
    try:
        validate_request(text, seconds, steps, guidance, max_seconds=MAX_SECONDS, bpm=bpm)
        if not 0 < strength <= 1:
            raise ValueError(f"--strength must be in (0, 1], got {strength}")
        if not 0 <= mix <= 1:
            raise ValueError(f"--mix must be in [0, 1], got {mix}")
        if variation_of is not None:  # before the model loads: a bad file fails at once
            from audio_gen.audio_io import read_wav

            read_wav(variation_of)
    except OSError as error:  # only reading --variation-of touches a file here
        raise fail(f"--variation-of {error.filename}: {error.strerror}") from None
    except ValueError as error:
        raise fail(str(error)) from None
    started = time.perf_counter()
    _torch(threads)
    from audio_gen.audio_io import read_wav, write_wav

    with console.status("loading the model"):
        pipe = _pipeline(model, sampler, bf16)
    loaded = time.perf_counter()
    kwargs = {"seconds": seconds, "steps": steps, "guidance": guidance, "seed": seed,
              "negative_text": negative, "bpm": bpm, "stems": stems}
    try:
        with console.status(f"generating {seconds:g}s ({steps} steps)"):
            source = read_wav(variation_of) if variation_of is not None else None
            result = pipe.generate(text, variation_of=source, strength=strength,
                                   mix_with=None if source is not None else mix_with, mix=mix,
                                   **kwargs)
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None
    write_wav(out, result.audio, result.sample_rate)
    note = result.prompt.message() if result.prompt is not None else None
    if note:
        console.print(f"[yellow]warning:[/] {note}", highlight=False)
    if result.stems is not None:
        console.print(f"made as two parts: \"{result.stems.lead}\" over "
                      f"\"{result.stems.backing}\"", highlight=False)
    took = result.timings["total"]
    tempo = "" if result.bpm is None else f" at {result.bpm:.0f} BPM"
    tempo += "" if result.key is None else f" in {result.key}"
    console.print(
        f"generated {result.seconds:.2f}s of audio in {took:.2f}s{tempo} "
        f"(real-time factor {result.seconds / took:.2f}; model load "
        f"{loaded - started:.1f}s; total {time.perf_counter() - started:.1f}s) -> [bold]{out}[/]"
    )
    if json_output:
        print(json.dumps({"out": str(out), "seconds": result.seconds,
                          "sample_rate": result.sample_rate, "timings": result.timings,
                          "bpm": result.bpm, "key": result.key,
                          "stems": asdict(result.stems) if result.stems else None,
                          "load_seconds": loaded - started,
                          "prompt": result.prompt.as_dict() if result.prompt else None,
                          "loudness": result.loudness.as_dict() if result.loudness else None}))


def train_command(
    run: Annotated[Path, typer.Option(help="Run folder: state, pool, log and model/ "
                                      "(resumes when it exists).")],
    config: Annotated[Path | None, typer.Option(
        help="TOML or JSON file of TrainConfig settings (\\[unet] and \\[codec] tables).")] = None,
    steps: Annotated[int | None, typer.Option(help="Override the number of steps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the seed.")] = None,
    init_from: Annotated[Path | None, typer.Option(
        help="Override the model folder to start from (fine-tuning; TrainConfig.init_from).")
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(
        min=0, help="Stop the whole command after about this many minutes: loading the text "
        "encoder, synthesising the pool, encoding captions and training all count (a step "
        "or a save under way finishes first). The work so far is saved; run the same command "
        "to resume.")] = None,
    data: Annotated[Path | None, typer.Option(
        help="Train on a folder of *.wav + captions.csv instead of the synthesiser.")] = None,
    publish: Annotated[Path | None, typer.Option(
        help="Also publish the EMA model here when training has finished.")] = None,
    threads: ThreadsOption = DEFAULT_THREADS,
    json_output: JsonOption = False,
) -> None:
    """Train the text-to-music denoiser (resumable; progress shows loss and it/s)."""
    import tomllib

    command_started = time.perf_counter()

    values: dict = {}
    if config is not None:
        try:
            text = config.read_text()
            values = json.loads(text) if config.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as error:
            raise fail(f"{config}: cannot read config: {error}") from None
    if steps is not None:
        values["steps"] = steps
    if seed is not None:
        values["seed"] = seed
    if init_from is not None:
        values["init_from"] = str(init_from)
    _torch(threads)
    from audio_gen.checkpoint import load_model, save_model
    from audio_gen.text_encoder import load_text_encoder
    from audio_gen.train import TrainConfig, train

    try:
        cfg = TrainConfig.from_dict(values)
        encoder = load_text_encoder(cfg.text_encoder, cfg.text_max_length)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise fail(str(error)) from None
    progress = progress_bar(TextColumn("{task.fields[info]}"))
    with progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total, completed=done,
                                                 unit=stage.split()[-1], info="")
            progress.update(tasks[stage], completed=done)

        def on_step(stats) -> None:
            if "train" not in tasks:
                tasks["train"] = progress.add_task("training", total=stats.total,
                                                   completed=stats.step - 1, unit="steps",
                                                   info="")
            tempo = "" if stats.tempo_loss is None else f"  tempo {stats.tempo_loss:.3f}"
            progress.update(tasks["train"], completed=stats.step,
                            info=f"loss {stats.loss:.4f}{tempo}  {stats.steps_per_s:.2f} it/s")

        # What is left of --max-minutes after importing torch and loading the encoder.
        left = None if max_minutes is None else max(
            0.0, max_minutes - (time.perf_counter() - command_started) / 60)
        try:
            result = train(cfg, run, encoder, data_folder=data, max_minutes=left,
                           on_progress=on_progress, on_step=on_step)
        except (ValueError, FileNotFoundError) as error:
            raise fail(str(error)) from None
    console.print(_train_report(result, cfg.steps, run))
    if publish is not None and result.finished:
        bundle = load_model(result.model)
        save_model(publish, bundle.unet, bundle.codec, bundle.make_scheduler("ddim"),
                   bundle.text_encoder, bundle.text_max_length, meta=bundle.meta,
                   phrase_vectors=bundle.phrase_vectors)
        console.print(f"published -> [bold]{publish}[/]")
    if json_output:
        print(json.dumps({"step": result.step, "steps": cfg.steps, "finished": result.finished,
                          "loss": result.loss, "train_seconds": result.train_seconds,
                          "model": str(result.model)}))


def _train_report(result, steps: int, run: Path) -> str:
    """The line `audio train` ends with: where the run stands, never a loss it does not have."""
    resume = "run the same command to resume"
    if result.pool_paused is not None:
        stage, done, total = result.pool_paused
        return (f"paused while building the training pool ({stage}: {done:,}/{total:,}, kept "
                f"in {run / 'pool.partial.pt'}); no step trained yet; {resume}")
    state = "finished" if result.finished else f"paused ({resume})"
    loss = "no step trained yet" if result.loss is None else f"loss {result.loss:.4f}"
    model = f" -> [bold]{result.model}[/]" if result.model.is_dir() else ""
    return (f"step {result.step}/{steps} {state}; {loss}; {result.train_seconds / 60:.1f} min "
            f"of training so far{model}")


def evaluate_command(
    model: ModelOption = DEFAULT_CHECKPOINT,
    out: Annotated[Path, typer.Option(help="Folder for metrics.json, items.jsonl and a "
                                      "picture (adherence.png for a soundfont-trained model, "
                                      "grid.png for a synthesiser one).")
                   ] = Path("artifacts/audio_eval"),
    captions_per_combo: Annotated[int, typer.Option(min=1, help="Captions per held-out "
                                                    "combination (a synthesiser-trained model)."
                                                    )] = CAPTIONS_PER_COMBO,
    seeds: Annotated[int, typer.Option(min=1, help="Generated clips per caption (a "
                                       "synthesiser-trained model).")] = SEEDS,
    count: Annotated[int | None, typer.Option(min=2, help=(
        "Captions to judge, one clip each (a soundfont-trained model; default "
        f"{JUDGED_CAPTIONS}: several minutes)."))] = None,
    judges: Annotated[Path, typer.Option(help="Judges trained on soundfont renders (a "
                                         "soundfont-trained model).")] = DEFAULT_JUDGES,
    typed_prompts: Annotated[bool, typer.Option(
        "--typed-prompts/--no-typed-prompts", help="Also judge the clips of twelve prompts of "
        "the kind people type (a soundfont-trained model).")] = True,
    stems: StemsOption = True,
    steps: Annotated[int, typer.Option(help="Sampler steps.")] = 50,
    guidance: Annotated[float, typer.Option(help="Guidance scale.")] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the noise (and of a synthesiser model's "
                                      "captions and real clips).")] = 0,
    split: Annotated[str, typer.Option(
        help="held_out: combinations training never saw (the test); validation: new draws of "
             "training combinations (to tune a recipe on); borrowed (a soundfont-trained "
             "model): validation draws whose leads come from other genres.")] = "held_out",
    sampler: SamplerOption = "ddim",
    threads: ThreadsOption = DEFAULT_THREADS,
    bf16: Bf16Option = False,
    json_output: JsonOption = False,
) -> None:
    """Attribute accuracy on held-out caption combinations against a ceiling and a floor. A
    soundfont-trained model (like the shipped one) is heard by judges trained on real soundfont
    renders (instrument family, genre, tempo, mode and loudness of one clip per caption, against
    the real renders and against them with the captions shuffled), with a PNG bar chart; a
    synthesiser-trained model by the analysis module (generated vs real clips vs guidance 0,
    diversity across seeds), with a PNG grid of spectrograms."""
    _check_model(model)
    try:
        trained_on = json.loads((model / "model_index.json").read_text())["meta"].get("data")
    except (OSError, ValueError, KeyError, AttributeError):
        trained_on = None  # loading the model below names what is wrong with it
    if trained_on == "soundfont":
        if (captions_per_combo, seeds) != (CAPTIONS_PER_COMBO, SEEDS):
            raise fail(f"{model}: trained on soundfont renders, so it is judged on --count "
                       "captions, one clip each; --captions-per-combo and --seeds apply to a "
                       "synthesiser-trained model")
        _judged_evaluation(model, judges, out, count or JUDGED_CAPTIONS, typed_prompts, steps,
                           guidance, seed, split, sampler, threads, bf16, json_output, stems)
        return
    if count is not None:
        raise fail(f"{model}: trained on the synthesiser, so it is measured on "
                   "--captions-per-combo captions per held-out combination; --count applies to "
                   "a soundfont-trained model")
    _torch(threads)
    from audio_gen.evaluate import ATTRIBUTES, EvalConfig, evaluate, save_grid

    try:
        cfg = EvalConfig(captions_per_combo=captions_per_combo, seeds=seeds, steps=steps,
                         guidance=guidance, seed=seed, split=split)
    except ValueError as error:
        raise fail(str(error)) from None
    pipe = _pipeline(model, sampler, bf16)
    progress = progress_bar()
    with progress:
        task = progress.add_task("evaluating captions", total=None)
        report, items = evaluate(
            pipe, cfg, on_progress=lambda done, total: progress.update(task, completed=done,
                                                                       total=total))
    _write_evaluation(out, report, (item.summary() for item in items))
    grid = save_grid(items, out / "grid.png")
    kind = "held-out" if cfg.split == "held_out" else "validation"
    console.print(_accuracy_table(
        f"attribute accuracy, {report['prompts']} {kind} captions", ATTRIBUTES,
        {**report["accuracy"], "generated / ceiling": report["generated / ceiling"]}))
    diversity = {k: "-" if v is None else f"{v:.3f}" for k, v in report["diversity"].items()}
    console.print(f"diversity (mean |difference| of spectrograms): across seeds "
                  f"{diversity['generated across seeds']}, real renders "
                  f"{diversity['real renders of the same attributes']}; real-time factor "
                  f"{report['real_time_factor']:.2f}; grid -> [bold]{grid}[/]")
    if json_output:
        print(json.dumps(report))


def _write_evaluation(out: Path, report: dict, items: Iterable[dict]) -> None:
    """An `audio evaluate` run's metrics.json (written atomically) and items.jsonl."""
    from foundation.publishing import write_json

    write_json(out / "metrics.json", report)
    with open(out / "items.jsonl", "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item) + "\n")


def _accuracy_table(title: str, attributes: Sequence[str],
                    rows: dict[str, dict[str, float | None]]) -> Table:
    table = Table(title=title)
    table.add_column("")
    for name in attributes:
        table.add_column(name, justify="right")
    for label, values in rows.items():
        table.add_row(label, *("-" if values[a] is None else f"{values[a]:.2f}"
                               for a in attributes))
    return table


def _judged_evaluation(model: Path, judges_path: Path, out: Path, count: int,
                       typed_prompts: bool, steps: int, guidance: float, seed: int, split: str,
                       sampler: str, threads: int, bf16: bool, json_output: bool,
                       stems: bool = True) -> None:
    """`audio evaluate` of a soundfont-trained model: the judges' verdict
    (:mod:`audio_gen.adherence`)."""
    if not judges_path.is_file():
        raise fail(f"{judges_path}: no judges there (bench/audio_judges.py trains them)")
    _torch(threads)
    from audio_gen.adherence import (
        KINDS,
        AdherenceConfig,
        check_rates,
        judge_adherence,
        save_chart,
    )
    from audio_gen.judges import ATTRIBUTES, load_judges
    from audio_gen.soundfont import SoundfontUnavailable

    try:
        cfg = AdherenceConfig(count=count, split=split, steps=steps, guidance=guidance,
                              seed=seed, typed_prompts=typed_prompts, stems=stems)
    except ValueError as error:
        raise fail(str(error)) from None
    try:
        judges = load_judges(judges_path)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise fail(f"{judges_path}: not judges that bench/audio_judges.py saved ({error})"
                   ) from None
    pipe = _pipeline(model, sampler, bf16)
    try:
        check_rates(pipe, judges, resample=False)
    except ValueError as error:
        raise fail(f"{model}: {error}") from None
    progress = progress_bar()
    try:
        with progress:
            task = progress.add_task("rendering captions, then generating their clips",
                                     total=None)
            report, items = judge_adherence(
                pipe, judges, cfg, on_progress=lambda done, total: progress.update(
                    task, completed=done, total=total))
    except SoundfontUnavailable as error:
        raise fail(str(error)) from None
    _write_evaluation(out, report, items)
    chart = save_chart(report, out / "adherence.png")
    kind = {"held_out": "held-out", "borrowed": "borrowed-lead validation"}.get(
        cfg.split, cfg.split)
    console.print(_accuracy_table(
        f"what the judges hear, {report['captions']} {kind} captions", ATTRIBUTES,
        {**{name: report["accuracy"][name] for name in KINDS},
         "generated / ceiling": report["generated / ceiling"]}))
    console.print("captions stating each attribute (the others ask nothing of it): " + ", ".join(
        f"{a} {n}" for a, n in report["stated"].items()))
    typed = report.get("typed_prompts")
    if typed:
        console.print(f"typed prompts: top instrument family and genre both right for "
                      f"{typed['right']} of {typed['of']} (instrument {typed['instrument_right']}"
                      f", genre {typed['genre_right']}; each clip in metrics.json)")
    console.print(f"chart -> [bold]{chart}[/]; each caption's verdicts -> "
                  f"[bold]{out / 'items.jsonl'}[/]")
    if json_output:
        print(json.dumps(report))


def synth_command(
    out: Annotated[Path, typer.Option(help="Folder for the WAV clips and captions.csv.")],
    count: Annotated[int, typer.Option(min=1, help="How many clips.")] = 8,
    seconds: Annotated[float, typer.Option(help="Clip length.")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthesiser.")] = 0,
    held_out: Annotated[str, typer.Option(
        help="exclude: training combinations only; only: held-out ones; any.")] = "any",
) -> None:
    """Write captioned example clips from the procedural synthesiser (the training data), in
    the folder format `audio train --data` reads."""
    import csv

    import numpy as np

    from audio_gen.audio_io import write_wav
    from audio_gen.synth import make_clip

    if not 0 < seconds <= 60:
        raise fail(f"--seconds must be in (0, 60], got {seconds}")
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    try:
        clips = [make_clip(rng, seconds, held_out=held_out) for _ in range(count)]
    except ValueError as error:
        raise fail(str(error)) from None
    with open(out / "captions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "caption"])
        for i, clip in enumerate(clips):
            name = f"clip_{i:03d}.wav"
            write_wav(out / name, clip.audio, 16_000)
            writer.writerow([name, clip.caption])
    with open(out / "attributes.jsonl", "w", encoding="utf-8") as handle:
        for i, clip in enumerate(clips):
            handle.write(json.dumps({"file": f"clip_{i:03d}.wav", **clip.spec.as_dict()}) + "\n")
    console.print(f"wrote {count} clips and captions.csv -> [bold]{out}[/]")


def render_preview_command(
    out: Annotated[Path, typer.Option(help="Folder for the WAV clips, captions.json and "
                                      "captions.csv.")],
    count: Annotated[int, typer.Option(min=1, help="How many clips (the genres in turn).")] = 13,
    seconds: Annotated[float, typer.Option(help="Clip length.")] = 4.0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate in Hz.")] = 24_000,
    seed: Annotated[int, typer.Option(help="Seed of the arrangements and renders.")] = 0,
    held_out: Annotated[str, typer.Option(
        help="exclude: training pairs only; only: held-out pairs; any.")] = "any",
    soundfont: Annotated[Path | None, typer.Option(
        help="A SoundFont 2 file (default: the installed General MIDI soundfont).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Render captioned clips from the soundfont data source (genre templates through a General
    MIDI soundfont) to listen to: one genre after another, with the render speed."""
    import csv

    import numpy as np

    from audio_gen.audio_io import write_wav
    from audio_gen.loudness import integrated_loudness
    from audio_gen.render import Renderer, make_clip
    from audio_gen.soundfont import SoundfontUnavailable
    from audio_gen.styles import STYLES

    if not 0 < seconds <= 60:
        raise fail(f"--seconds must be in (0, 60], got {seconds}")
    try:
        renderer = Renderer(sample_rate, soundfont)
    except (SoundfontUnavailable, ValueError) as error:
        raise fail(str(error)) from None
    rng = np.random.default_rng(seed)
    styles = sorted(STYLES)
    clips, took = [], 0.0
    try:
        for i in range(count):
            started = time.perf_counter()
            clips.append(make_clip(rng, renderer, seconds, held_out=held_out,
                                   fixed={"style": styles[i % len(styles)]}))
            took += time.perf_counter() - started
    except ValueError as error:
        raise fail(str(error)) from None
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, clip in enumerate(clips):
        name = f"clip_{i:03d}_{clip.spec.style.replace(' ', '_')}.wav"
        write_wav(out / name, clip.audio, sample_rate)
        rows.append({"file": name, "caption": clip.caption,
                     "lufs": round(integrated_loudness(clip.audio, sample_rate), 1),
                     **clip.spec.as_dict()})
    (out / "captions.json").write_text(json.dumps(rows, indent=2) + "\n")
    with open(out / "captions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "caption"])
        writer.writerows((row["file"], row["caption"]) for row in rows)
    speed = count / took
    console.print(f"rendered {count} clips of {seconds:g}s at {sample_rate} Hz with "
                  f"{renderer.soundfont.name} in {took:.1f}s ({speed:.1f} clips/s, "
                  f"{speed * seconds:.0f}x real time, one thread) -> [bold]{out}[/]")
    if json_output:
        print(json.dumps({"out": str(out), "clips": count, "seconds": took,
                          "clips_per_second": speed, "soundfont": str(renderer.soundfont)}))


def register(app: typer.Typer) -> None:
    """Add ``generate`` and the ``audio`` command group to the songspace app."""
    app.command("generate")(generate)
    audio = typer.Typer(help="Text-to-music: train the model, evaluate it, write example data.",
                        no_args_is_help=True)
    audio.command("train")(train_command)
    audio.command("evaluate")(evaluate_command)
    audio.command("synth")(synth_command)
    audio.command("render-preview")(render_preview_command)
    app.add_typer(audio, name="audio")
