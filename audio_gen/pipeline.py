"""Text-to-music: prompt -> text encoder -> guided denoising of a log-mel image -> audio.

``TextToMusic.__call__`` runs in numbered steps, as diffusers pipelines do: check inputs, encode
the prompt, prepare the noise, the denoising loop, decode, return. Variations of a clip start
from its noised spectrogram; interpolation mixes the embeddings of two prompts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audio_gen.codec import MelCodec
from audio_gen.loudness import TARGETS, LoudnessReport, normalise
from audio_gen.request import BPM_RANGE, MAX_SECONDS, validate_request
from audio_gen.rhythm import (
    FIRST_BEAT_S,
    beat_grid,
    estimate_beat,
    keep_within,
    stated_bpm,
    training_tempo_classes,
)
from audio_gen.schedulers import NoiseSchedule
from audio_gen.stems import StemPrompts, borrows_lead, mix_images, split_prompt
from audio_gen.text_encoder import TextEmbedding, TextEncoder
from audio_gen.tonality import MOOD_MODES, KeyGrid, key_name, stated_key
from audio_gen.understanding import (
    PromptReport,
    Vocabulary,
    concept_ids,
    model_vocabulary,
)
from audio_gen.unet import BeatFeatures, UNet

logger = logging.getLogger(__name__)

#: The folder, inside a model folder, of its parts model (``TextToMusic.parts_model``).
PARTS_FOLDER = "parts"


@dataclass
class TextToMusicOutput:
    """A generated clip.

    Attributes
    ----------
    audio : ndarray (S,) float32
        Mono waveform in [-1, 1].
    spectrogram : Tensor (n_mels, frames)
        The generated normalised log-mel image.
    sample_rate : int
    timings : dict
        Seconds spent encoding the prompt, denoising and decoding.
    bpm : float or None
        The tempo of the beat clock (read from the prompt or given); None for a model without.
    prompt : PromptReport or None
        Which parts of the prompt the model knows and which it does not (None for a model
        without a vocabulary).
    loudness : LoudnessReport or None
        The loudness normalisation applied (None when turned off).
    key : str or None
        The key of the key grid ("D minor"); None for a model without one, or when the prompt
        asked for no key or mode (the model's own choice).
    stems : StemPrompts or None
        The lead's and the band's prompts when the clip was made as two parts, mixed.
    """

    audio: np.ndarray
    spectrogram: torch.Tensor
    sample_rate: int
    timings: dict[str, float] = field(default_factory=dict)
    bpm: float | None = None
    prompt: PromptReport | None = None
    loudness: LoudnessReport | None = None
    key: str | None = None
    stems: StemPrompts | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


class TextToMusic:
    """The text-to-music pipeline.

    Parameters
    ----------
    unet : UNet
        The denoiser.
    scheduler : NoiseSchedule
        A sampler with ``set_timesteps`` and ``step`` (DDIM, DPM-Solver++ or DDPM).
    codec : MelCodec
        Spectrogram <-> audio, with the settings the denoiser was trained on.
    text_encoder : TextEncoder
        Gives token states and a pooled vector of width ``unet.cfg.text_dim``.
    max_seconds : float
        Longest clip accepted.
    bf16 : bool
        Run the denoiser under bfloat16 autocast (faster on CPUs with AMX or AVX512-BF16;
        the scheduler maths stays float32).
    vocabulary : dict, optional
        The concepts the model was trained on (concept -> phrases, see
        :mod:`audio_gen.understanding`); without it prompts are not checked.
    phrase_vectors : dict, optional
        The vocabulary's phrases as embedded by this text encoder, saved with the model.
    tempo_classes : dict, optional
        The BPM range of each tempo word of the training captions
        (:func:`audio_gen.rhythm.training_tempo_classes`): a prompt that names one gets a beat
        clock inside its range (:meth:`beat_clock`).
    stems : bool
        The model was trained with stems (``TrainConfig.stems``): a prompt that names a genre
        and a lead is made as the lead alone and the band alone, mixed (:mod:`audio_gen.stems`).
    parts_model : TextToMusic, optional
        A second pipeline, trained with stems, that makes the prompts asking a genre for a lead
        its clips never played in training (:func:`audio_gen.stems.borrows_lead`) as two parts;
        this one makes the rest. Learning parts costs a model its genres' own leads, so each
        model makes what it makes best (bench/README.md, issue 17, seventh part). Loaded from
        a ``parts/`` folder inside the model folder.
    """

    def __init__(
        self, unet: UNet, scheduler: NoiseSchedule, codec: MelCodec, text_encoder: TextEncoder,
        max_seconds: float = MAX_SECONDS, bf16: bool = False,
        vocabulary: dict[str, list[str]] | None = None,
        phrase_vectors: dict | None = None,
        tempo_classes: dict[str, tuple[float, float]] | None = None,
        stems: bool = False,
        parts_model: TextToMusic | None = None,
    ) -> None:
        if parts_model is not None and not parts_model.stems:
            raise ValueError("the parts model must be trained with stems (TrainConfig.stems)")
        if text_encoder.dim != unet.cfg.text_dim:
            raise ValueError(
                f"text encoder {text_encoder.name} gives {text_encoder.dim}-d vectors but the "
                f"denoiser expects {unet.cfg.text_dim}-d"
            )
        if codec.cfg.n_mels != unet.cfg.n_mels:
            raise ValueError(
                f"codec makes {codec.cfg.n_mels} mel bins, the denoiser expects {unet.cfg.n_mels}"
            )
        # Channels-last weights let oneDNN pick faster convolutions on CPUs (same float32
        # maths; measured 64 vs 76 ms a guided step on one thread).
        self.unet = unet.eval().to(memory_format=torch.channels_last)
        self.scheduler = scheduler
        self.codec = codec
        self.text_encoder = text_encoder
        self.max_seconds = max_seconds
        self.bf16 = bf16
        self.vocabulary = Vocabulary(vocabulary, text_encoder, stored=phrase_vectors) \
            if vocabulary else None
        self.tempo_classes = tempo_classes or {}
        self.stems = stems
        self.parts_model = parts_model
        if stems and (self.vocabulary is None or not unet.cfg.key_grid):
            raise ValueError("stems need a vocabulary (to read a prompt's lead and genre) and a "
                             "denoiser with a key grid (to play both parts in one key)")
        if unet.cfg.concepts and self.vocabulary is None:
            raise ValueError("the denoiser has concept vectors but no vocabulary was given to "
                             "read a prompt's concepts with")

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, *, text_encoder: TextEncoder | None = None,
        scheduler: str | None = None, bf16: bool = False, text_encoder_spec: str | None = None,
    ) -> TextToMusic:
        """Build the pipeline from a model folder written by :func:`checkpoint.save_model`.

        Parameters
        ----------
        folder : str or Path
            The model folder.
        text_encoder : TextEncoder, optional
            Use this encoder instead of the one the folder names (it must match in width).
        scheduler : {"ddim", "dpm++", "ddpm"}, optional
            Sampler; default the folder's (DDIM).
        bf16 : bool
            See the class.
        text_encoder_spec : str, optional
            What ``text_encoder`` was loaded from: when the folder names the same encoder, the
            phrase vectors stored with it are used instead of being computed again.
        """
        from audio_gen.checkpoint import INDEX, load_model
        from audio_gen.text_encoder import load_text_encoder

        bundle = load_model(folder)
        if text_encoder is None:
            text_encoder_spec = bundle.text_encoder
        encoder = text_encoder or load_text_encoder(bundle.text_encoder, bundle.text_max_length)
        parts = Path(folder) / PARTS_FOLDER
        # The parts model shares this encoder, and with it the right to its stored vectors.
        parts_model = (cls.from_pretrained(parts, text_encoder=encoder, scheduler=scheduler,
                                           bf16=bf16, text_encoder_spec=text_encoder_spec)
                       if (parts / INDEX).is_file() else None)
        # The stored phrase vectors are the folder's own encoder's: another encoder embeds anew.
        own_encoder = text_encoder_spec == bundle.text_encoder
        return cls(bundle.unet, bundle.make_scheduler(scheduler), MelCodec(bundle.codec), encoder,
                   bf16=bf16, vocabulary=model_vocabulary(bundle.meta),
                   phrase_vectors=bundle.phrase_vectors if own_encoder else None,
                   tempo_classes=training_tempo_classes(bundle.meta.get("data")),
                   stems=bool(bundle.meta.get("stems")), parts_model=parts_model)

    @property
    def sample_rate(self) -> int:
        return self.codec.cfg.sample_rate

    # ------------------------------------------------------------------ the steps

    def check_inputs(
        self, text: str | None, seconds: float, steps: int, guidance: float,
        strength: float = 1.0, prompt_embeds: TextEmbedding | None = None,
        bpm: float | None = None,
    ) -> None:
        """Raise ``ValueError`` with a message a user can act on for any bad argument."""
        validate_request(
            text, seconds, steps, guidance, max_seconds=self.max_seconds,
            max_steps=self.scheduler.num_train_timesteps, strength=strength,
            have_embeddings=prompt_embeds is not None, bpm=bpm,
        )

    def understand(self, text: str) -> PromptReport | None:
        """Which phrases of ``text`` the model knows (None without a vocabulary)."""
        return None if self.vocabulary is None else self.vocabulary.read(text)

    def parts_for(self, understanding: PromptReport | None, guidance: float,
                  stems: bool = True) -> StemPrompts | None:
        """The two prompts a clip from this prompt is made as (:mod:`audio_gen.stems`), or
        None when it is made whole: the model has no stems, ``stems`` is off, the text is not
        guided, or the prompt does not name both a genre and a lead. (Variations and mixed
        prompts are always made whole.)"""
        if self.hands_over(understanding, guidance, stems):
            return self.parts_model.parts_for(understanding, guidance, stems)
        if not (self.stems and stems and guidance > 0 and understanding is not None):
            return None
        return split_prompt(understanding)

    def hands_over(self, understanding: PromptReport | None, guidance: float,
                   stems: bool = True) -> bool:
        """Whether the parts model makes this prompt (see ``parts_model``)."""
        return (self.parts_model is not None and stems and guidance > 0
                and understanding is not None and borrows_lead(understanding))

    @staticmethod
    def loudness_target(report: PromptReport | None) -> float:
        """Integrated LUFS to normalise to: what the prompt asks for ("quiet", "loud"), else
        the normal level (:data:`audio_gen.loudness.TARGETS`)."""
        asked = report.asks("loudness") if report is not None else None
        return TARGETS.get(asked or "normal", TARGETS["normal"])

    def encode_prompt(
        self, text: str, negative_text: str | None = None,
        understanding: PromptReport | None = None,
    ) -> TextEmbedding:
        """Embeddings of [negative (or empty) prompt, prompt], batched for guidance; with the
        vectors of the concepts each names, for a denoiser that has them (``understanding``:
        the prompt's report, when already read)."""
        texts = [negative_text or "", text]
        embeds = self.text_encoder.encode(texts)
        if not self.unet.cfg.concepts:
            return embeds
        reports = [self.vocabulary.read(texts[0]), understanding or self.vocabulary.read(text)]
        ids, ranks = concept_ids(reports, self.unet.cfg.concepts, self.unet.cfg.concept_slots)
        return self.unet.with_concepts(embeds, ids, ranks)

    def frames_for(self, samples: int) -> int:
        """Frames to generate for ``samples`` samples, rounded up to what the U-Net needs."""
        frames = math.ceil(samples / self.codec.cfg.hop_length)
        multiple = self.unet.cfg.time_multiple
        return max(multiple, math.ceil(frames / multiple) * multiple)

    def beat_clock(
        self, embeds: TextEmbedding, frames: int, guidance: float, bpm: float | None = None,
        first_beat: float = FIRST_BEAT_S, tempo_word: str | None = None,
    ) -> tuple[BeatFeatures | None, float | None]:
        """The clock to generate on (as the denoiser's stem sees it, computed once for all
        steps) and its BPM, or (None, None) for a model without one. The tempo is ``bpm`` when
        given, else read from the prompt by the model's tempo head and, when the prompt names
        a tempo word of the training captions (``tempo_word``: "slow", "fast"...), moved
        inside that word's range (:func:`audio_gen.rhythm.keep_within`); at guidance 0 the
        text plays no part, so it is read from the empty prompt.
        """
        if not self.unet.cfg.beat_clock:
            return None, None
        if not (math.isfinite(first_beat) and first_beat >= 0):
            raise ValueError(f"first_beat must be a time >= 0 in seconds, got {first_beat}")
        if bpm is None:
            uncond, cond = embeds.split()
            with torch.autocast("cpu", enabled=False):
                prompt = uncond if guidance == 0 else cond
                bpm = float(self.unet.tempo.bpm(prompt.tokens, prompt.attention_mask())[0])
            if guidance > 0 and tempo_word in self.tempo_classes:
                bpm = keep_within(bpm, self.tempo_classes[tempo_word])
        frame_rate = self.sample_rate / self.codec.cfg.hop_length
        clock = beat_grid(torch.tensor([bpm]), torch.tensor([first_beat]), frames, frame_rate)
        return self.unet.beat_features(clock), bpm

    def key_for(self, text: str, understanding: PromptReport | None,
                seed: int, always: bool = False) -> tuple[int, str] | None:
        """The key to generate in, for a denoiser with a key grid: the one the prompt names
        ("in D minor"), else a tonic drawn from ``seed`` in the mode the prompt's mode, mood or
        purpose words ask for ("minor", "sad", "for a rainy day"); None (the model's choice)
        when it asks for none of them, unless ``always`` (then the mode is drawn too)."""
        if not self.unet.cfg.key_grid:
            return None
        stated = stated_key(text)
        if stated is not None:
            return stated
        mode = None
        if understanding is not None:
            mode = understanding.asks("mode")
            for kind in ("mood", "purpose"):  # the captions' purpose words follow their mood
                mode = mode or MOOD_MODES.get(understanding.asks(kind) or "")
        if mode is None and not always:
            return None
        rng = np.random.default_rng(seed)
        tonic = int(rng.integers(12))
        return tonic, mode or ("minor" if rng.random() < 0.5 else "major")

    def encode_stems(self, parts: StemPrompts, negative_text: str | None = None
                     ) -> TextEmbedding:
        """Embeddings of [negative, negative, lead, backing]: two clips, guided."""
        lead, backing = (self.encode_prompt(text, negative_text)
                         for text in (parts.lead, parts.backing))
        return TextEmbedding.cat([lead.rows(0, 1), backing.rows(0, 1), lead.rows(1, 2),
                                  backing.rows(1, 2)])

    def _predict(self, x: torch.Tensor, t: int, embeds: TextEmbedding,
                 guidance: float | torch.Tensor, beat: BeatFeatures | None = None):
        """Classifier-free guidance: ``uncond + guidance * (cond - uncond)``, for a batch of
        B clips (``x``) whose ``embeds`` are B unconditional then B conditional prompts.

        Guidance 0 is the unconditional model alone and guidance 1 the conditional alone; both
        skip the other half of the batch. Both halves follow the same beat clock. A tensor
        broadcast against ``x`` guides each clip by its own scale (bench/lead_level.py).
        """
        n = x.shape[0]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            if not isinstance(guidance, torch.Tensor) and guidance in (0, 1):
                e = embeds.rows(0, n) if guidance == 0 else embeds.rows(n, 2 * n)
                out = self.unet(x, torch.tensor([t] * n), e.tokens, e.pooled,
                                e.attention_mask(), beat)
                return out.float()
            out = self.unet(torch.cat([x, x]), torch.tensor([t] * 2 * n), embeds.tokens,
                            embeds.pooled, embeds.attention_mask(), beat)
        out_uncond, out_cond = out.float().chunk(2)
        return out_uncond + guidance * (out_cond - out_uncond)

    @torch.inference_mode()
    def __call__(
        self,
        text: str | None,
        seconds: float = 4.0,
        steps: int = 50,
        guidance: float = 3.0,
        seed: int = 0,
        negative_text: str | None = None,
        *,
        prompt_embeds: TextEmbedding | None = None,
        init_audio: np.ndarray | None = None,
        strength: float = 1.0,
        bpm: float | None = None,
        first_beat: float = FIRST_BEAT_S,
        callback: Callable[[int, int], None] | None = None,
        normalise_loudness: bool = True,
        understanding: PromptReport | None = None,
        target_lufs: float | None = None,
        stems: bool = True,
    ) -> TextToMusicOutput:
        """Generate a clip.

        Parameters
        ----------
        text : str
            What the music should be, e.g. "a slow piano melody in a low register".
        seconds : float
            Length of the clip (0 < seconds <= max_seconds).
        steps : int
            Sampler steps.
        guidance : float
            Classifier-free guidance scale (0: ignore the text; 1: no extrapolation).
        seed : int
            Seeds the starting noise; the same seed gives the same clip.
        negative_text : str, optional
            What to steer away from (replaces the empty prompt of guidance).
        prompt_embeds : TextEmbedding, optional
            Precomputed [negative, prompt] embeddings (see :meth:`interpolate`); then ``text``
            is only a label.
        init_audio : ndarray, optional
            Start from this clip instead of pure noise (a variation).
        strength : float
            With ``init_audio``: how much noise to add, 1 = all (ignore the clip).
        bpm : float, optional
            Tempo of the beat clock; by default the model reads it from the prompt.
        first_beat : float
            Time of the first beat in seconds.
        callback : callable, optional
            Called as ``callback(step, total)`` after each step.
        normalise_loudness : bool
            Bring the clip to the loudness the prompt asks for (:meth:`loudness_target`) with
            its true peak under -1 dBTP; False returns the model's own level (evaluation).
        understanding : PromptReport, optional
            What is known of the prompt, when ``prompt_embeds`` replace the text.
        target_lufs : float, optional
            Loudness to normalise to instead of the prompt's.
        stems : bool
            With a model trained with stems, make a prompt that names a genre and a lead as
            the two parts, mixed (:mod:`audio_gen.stems`); False makes it whole. Variations
            and mixed prompts are made whole.

        Returns
        -------
        TextToMusicOutput
        """
        # 1. check inputs
        self.check_inputs(text, seconds, steps, guidance, strength, prompt_embeds, bpm)
        started = time.perf_counter()
        samples = round(seconds * self.sample_rate)
        frames = self.frames_for(samples)

        # 2. encode the prompt (or hand it to the parts model)
        if prompt_embeds is None:
            understanding = self.understand(text)
            if init_audio is None and self.hands_over(understanding, guidance, stems):
                return self.parts_model(
                    text, seconds, steps, guidance, seed, negative_text, bpm=bpm,
                    first_beat=first_beat, callback=callback,
                    normalise_loudness=normalise_loudness, target_lufs=target_lufs)
        embeds = prompt_embeds if prompt_embeds is not None else self.encode_prompt(
            text, negative_text, understanding)
        tempo_word = None
        if prompt_embeds is None and guidance > 0:  # a prompt's own number, else its tempo word
            bpm = bpm if bpm is not None else stated_bpm(text)
            tempo_word = understanding.asks("tempo") if understanding is not None else None
        beat, bpm = self.beat_clock(embeds, frames, guidance, bpm, first_beat, tempo_word)
        parts = (self.parts_for(understanding, guidance, stems)
                 if prompt_embeds is None and init_audio is None else None)
        if parts is not None:  # the band and the lead, each guided by its own prompt
            embeds = self.encode_stems(parts, negative_text)
        key = (self.key_for(text, understanding, seed, always=parts is not None)
               if prompt_embeds is None and guidance > 0 else None)
        if key is not None:
            grid = KeyGrid.of(self.codec.cfg)(torch.tensor([key[0]]),
                                              torch.tensor([float(key[1] == "minor")]))
            features = self.unet.key_features(grid, frames)
            beat = features if beat is None else beat + features
        encoded = time.perf_counter()

        # 3. prepare the starting noise (and the clip to vary)
        generator = torch.Generator().manual_seed(int(seed))
        shape = (1 if parts is None else 2, 1, self.unet.cfg.n_mels, frames)
        noise = torch.randn(shape, generator=generator)
        self.scheduler.set_timesteps(steps)
        timesteps = self.scheduler.timesteps
        if init_audio is not None:
            start = min(round(steps * (1.0 - strength)), steps - 1)
            timesteps = timesteps[start:]
            x = self.scheduler.add_noise(self.encode_audio(init_audio, frames), noise,
                                         timesteps[:1])
        else:
            x = noise

        # 4. denoising loop
        for i, t in enumerate(timesteps.tolist()):
            prediction = self._predict(x, t, embeds, guidance, beat)
            x = self.scheduler.step(prediction, t, x).prev_sample
            if callback is not None:
                callback(i + 1, len(timesteps))
        denoised = time.perf_counter()

        # 5. decode to audio
        image = x[0, 0] if parts is None else mix_images(x[0, 0], x[1, 0], self.codec)
        image = image[:, : math.ceil(samples / self.codec.cfg.hop_length)]
        audio = self.codec.decode(image, samples=samples).numpy()
        loudness = None
        if normalise_loudness:  # the prompt's loudness, no sample near full scale
            target = self.loudness_target(understanding) if target_lufs is None else target_lufs
            audio, loudness = normalise(audio, self.sample_rate, target)
        done = time.perf_counter()

        # 6. return
        timings = {"encode": encoded - started, "denoise": denoised - encoded,
                   "decode": done - denoised, "total": done - started}
        logger.info("generated %.1fs of audio in %.2fs (%s)", seconds, timings["total"], timings)
        return TextToMusicOutput(audio.astype(np.float32), image.clone(), self.sample_rate,
                                 timings, bpm, understanding, loudness,
                                 None if key is None else key_name(*key), parts)

    # ------------------------------------------------------------------ variants

    def encode_audio(self, audio: np.ndarray, frames: int) -> torch.Tensor:
        """A clip as a (1, 1, n_mels, frames) image, cut or padded (with silence) to fit."""
        wave = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(-1)
        image = self.codec.encode(wave)[..., :frames]
        image = F.pad(image, (0, frames - image.shape[-1]), value=-1.0)
        return image[None, None]

    def variation(
        self, audio: np.ndarray, text: str, strength: float = 0.5, **kwargs
    ) -> TextToMusicOutput:
        """A variation of ``audio`` (at the pipeline's sample rate) steered by ``text``.

        ``strength`` near 0 keeps the clip, 1 ignores it. Other arguments as for ``__call__``;
        the length defaults to the clip's, and the beat to the one heard in the clip (unless
        ``bpm`` is given), so that the variation keeps its rhythm.
        """
        kwargs.setdefault("seconds", len(audio) / self.sample_rate)
        if self.unet.cfg.beat_clock and kwargs.get("bpm") is None:
            bpm, first_beat = estimate_beat(np.asarray(audio, dtype=np.float32),
                                            self.sample_rate)
            if math.isfinite(bpm):
                kwargs.update(bpm=min(max(bpm, BPM_RANGE[0]), BPM_RANGE[1]),
                              first_beat=first_beat)
        return self(text, init_audio=audio, strength=strength, **kwargs)

    def generate(
        self, text: str, *, variation_of: tuple[np.ndarray, int] | None = None,
        strength: float = 0.6, mix_with: str | None = None, mix: float = 0.5, **kwargs,
    ) -> TextToMusicOutput:
        """One entry for every kind of request (the CLI's and the API's): a variation of
        ``variation_of`` (audio, sample rate; resampled to the model's), a mix of ``text``
        with ``mix_with``, or a clip from ``text`` alone. Other arguments as for ``__call__``.
        """
        if variation_of is not None and mix_with is not None:
            raise ValueError("give a variation source or a second prompt to mix with, not both")
        if variation_of is not None:
            audio, rate = variation_of
            if rate != self.sample_rate:
                import torchaudio.functional as AF

                audio = AF.resample(torch.from_numpy(np.asarray(audio, dtype=np.float32)), rate,
                                    self.sample_rate).numpy()
            return self.variation(audio, text, strength=strength, **kwargs)
        if mix_with is not None:
            return self.interpolate(text, mix_with, mix, **kwargs)
        return self(text, **kwargs)

    def interpolate(
        self, text_a: str, text_b: str, weight: float = 0.5, **kwargs
    ) -> TextToMusicOutput:
        """Generate from a mix of two prompts' embeddings: ``weight`` 0 is ``text_a``, 1 is
        ``text_b``. Other arguments as for ``__call__`` (the same seed keeps the noise fixed,
        so a sweep of weights morphs one clip into the other)."""
        if not 0 <= weight <= 1:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        for text in (text_a, text_b):
            self.check_inputs(text, 1.0, 1, 0.0)
        negative = kwargs.pop("negative_text", None)
        reports = [self.understand(text_a), self.understand(text_b)]
        a = self.encode_prompt(text_a, negative, reports[0]).split()
        b = self.encode_prompt(text_b, negative, reports[1]).split()
        embeds = TextEmbedding.cat([a[0], a[1].lerp(b[1], weight)])
        understanding = None
        if reports[0] is not None and reports[1] is not None:
            understanding = PromptReport(f"{text_a} ~ {text_b}",
                                         reports[0].known + reports[1].known,
                                         reports[0].unknown + reports[1].unknown)
        # The loudness of the mix lies between the two prompts' (in LU, by the weight).
        kwargs.setdefault("target_lufs", (1 - weight) * self.loudness_target(reports[0])
                          + weight * self.loudness_target(reports[1]))
        return self(f"{text_a} ~ {text_b}", prompt_embeds=embeds, understanding=understanding,
                    **kwargs)
