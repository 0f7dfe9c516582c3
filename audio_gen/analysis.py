"""Signal measurements that judge whether audio matches its caption.

Written independently of :mod:`audio_gen.synth` (nothing is imported from it): plain numpy on
the waveform, with its own STFT. The thresholds that turn a measurement into a word are the
meaning this project gives the caption vocabulary, stated once here:

- register from the median pitch (McLeod's normalised square difference): low below 190 Hz,
  high above 500 Hz, mid between
- tempo from the autocorrelation of the onset strength (spectral flux in log-spaced bands):
  slow below 84 BPM, fast above 128 BPM, medium between (searched within 50-200 BPM)
- brightness from the spectral centroid: for pitched audio relative to its pitch (bright when the
  centroid lies above 2 times the pitch, i.e. strong upper partials), for unpitched audio
  (drums) absolute (bright above 1800 Hz)
- loudness from the RMS level: loud above -24 dBFS
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

REGISTER_EDGES_HZ = (190.0, 500.0)
TEMPO_EDGES_BPM = (84.0, 128.0)
BRIGHT_RATIO = 2.0
BRIGHT_CENTROID_HZ = 1800.0
LOUD_DBFS = -24.0
ONSET_HOP = 128  # samples between onset-strength values (8 ms at 16 kHz)


@dataclass
class Measurements:
    """What the analysis hears in one clip (``pitch_hz`` is None when nothing is pitched)."""

    pitch_hz: float | None
    voiced: float
    bpm: float | None
    centroid_hz: float
    rms_dbfs: float

    def as_dict(self) -> dict:
        return asdict(self)


def _frames(audio: np.ndarray, size: int, hop: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    if len(audio) < size:
        audio = np.pad(audio, (0, size - len(audio)))
    count = 1 + (len(audio) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    return audio[index]  # (frames, size)


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB relative to a full-scale square wave (-inf guarded to -120)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-6))


def spectral_centroid(audio: np.ndarray, sample_rate: int, n_fft: int = 2048) -> float:
    """Magnitude-weighted spectral centroid of the whole clip in Hz (loud frames count more).

    Weighting by magnitude rather than power keeps a strong fundamental or kick drum from
    hiding the upper partials that make a sound bright.
    """
    frames = _frames(audio, n_fft, n_fft // 4) * np.hanning(n_fft)
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).sum(axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return float((freqs * magnitude).sum() / max(magnitude.sum(), 1e-20))


def pitch(
    audio: np.ndarray, sample_rate: int, *, f_min: float = 35.0, f_max: float = 1600.0,
    clarity: float = 0.75,
) -> tuple[float | None, float]:
    """Median pitch over the clip's clearly pitched frames.

    McLeod's normalised square difference function (NSDF) per 64 ms frame; in each frame the
    first peak reaching 90% of the highest peak gives the period, which avoids the octave-down
    errors of a plain autocorrelation maximum.

    Parameters
    ----------
    audio : ndarray (S,)
        Mono audio.
    sample_rate : int
        Sample rate in Hz.
    f_min, f_max : float
        Pitch search range in Hz.
    clarity : float
        Minimum NSDF peak height for a frame to count as pitched.

    Returns
    -------
    (float or None, float)
        The median pitch in Hz (None when fewer than 10% of the loud frames are pitched) and the
        fraction of loud frames that are pitched.
    """
    size = 1 << int(np.ceil(np.log2(2.0 * sample_rate / f_min)))
    frames = _frames(audio, size, size // 4)
    energy = (frames**2).sum(axis=1)
    loud = energy > 0.05 * energy.max() if energy.max() > 0 else np.zeros(len(frames), bool)
    frames = frames[loud]
    if len(frames) == 0:
        return None, 0.0
    spectrum = np.fft.rfft(frames, n=2 * size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]  # r(tau)
    squares = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)  # (F, size+1)
    tau = np.arange(size)
    m = squares[:, size - tau] + squares[:, -1:] - squares[:, tau]  # sum x_j^2 + x_{j+tau}^2
    nsdf = 2.0 * acf / np.maximum(m, 1e-12)
    lo, hi = int(sample_rate / f_max), int(sample_rate / f_min)
    pitches = []
    for row in nsdf:
        period = _first_strong_peak(row, lo, min(hi, size - 2))
        if period is not None and row[round(period)] >= clarity:
            pitches.append(sample_rate / period)
    voiced = len(pitches) / len(frames)
    if voiced < 0.1:
        return None, voiced
    return float(np.median(pitches)), voiced


def _first_strong_peak(row: np.ndarray, lo: int, hi: int) -> float | None:
    """Lag of the first local maximum (after the first zero crossing) >= 0.9 x the highest."""
    negative = np.nonzero(row[:hi] < 0)[0]
    if len(negative) == 0:
        return None
    start = max(lo, int(negative[0]))
    seg = row[start:hi + 1]
    if len(seg) < 3:
        return None
    peaks = np.nonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > 0))[0] + 1
    if len(peaks) == 0:
        return None
    best = seg[peaks].max()
    k = int(peaks[np.nonzero(seg[peaks] >= 0.9 * best)[0][0]])
    # Parabolic interpolation for a sub-sample period.
    a, b, c = seg[k - 1], seg[k], seg[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return start + k + float(np.clip(shift, -0.5, 0.5))


def band_flux(audio: np.ndarray, sample_rate: int, hop: int = ONSET_HOP, bands: int = 24
              ) -> tuple[np.ndarray, np.ndarray]:
    """Half-wave rectified flux of log energies per log-spaced band, (frames - 1, bands), one
    row per ``hop``, and the bands' centre frequencies.

    Log-spaced bands (30 Hz to Nyquist) let a kick drum's few low bins count as much as a
    snare's many high ones. The clip's first and last 30 ms are faded in and out, since cutting
    audio at the clip boundary is not a musical onset.
    """
    n_fft = 1024
    audio = np.asarray(audio, dtype=np.float64).copy()
    fade = min(int(0.03 * sample_rate), len(audio) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    frames = _frames(np.pad(audio, (n_fft // 2, n_fft // 2)), n_fft, hop) * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, n_fft/2+1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.geomspace(30.0, sample_rate / 2, bands + 1)
    band = np.searchsorted(edges, freqs, side="right") - 1
    keep = (band >= 0) & (band < bands)
    energy = np.zeros((len(power), bands))
    np.add.at(energy.T, band[keep], power[:, keep].T)
    log_energy = np.log1p(1000.0 * energy / max(energy.max(), 1e-20))
    return np.maximum(np.diff(log_energy, axis=0), 0.0), np.sqrt(edges[:-1] * edges[1:])


def onset_strength(
    audio: np.ndarray, sample_rate: int, hop: int = ONSET_HOP, bands: int = 24
) -> np.ndarray:
    """The onset strength, one value per ``hop``: :func:`band_flux` summed over the bands
    (0 for the first frame)."""
    flux, _ = band_flux(audio, sample_rate, hop, bands)
    return np.concatenate([[0.0], flux.sum(axis=1)])


def tempo(
    audio: np.ndarray, sample_rate: int, *, bpm_range: tuple[float, float] = (50.0, 200.0),
    ratio: float = 0.5,
) -> float | None:
    """Beats per minute from the autocorrelation of the onset strength (see
    :func:`tempo_of_onsets`), or None when the onsets show no periodicity (e.g. silence)."""
    onset = onset_strength(audio, sample_rate, ONSET_HOP)
    return tempo_of_onsets(onset, sample_rate / ONSET_HOP, bpm_range=bpm_range, ratio=ratio)


def tempo_of_onsets(
    onset: np.ndarray, frame_rate: float, *, bpm_range: tuple[float, float] = (50.0, 200.0),
    ratio: float = 0.5,
) -> float | None:
    """Beats per minute from the autocorrelation of an onset strength curve.

    Among the autocorrelation peaks in the BPM range, the shortest period whose peak reaches
    ``ratio`` times the highest wins: a pattern that repeats every two beats (kick, snare) has
    its highest peak at two beats, but the beat itself still stands out.

    Returns
    -------
    float or None
        BPM, or None when the onsets show no periodicity (e.g. silence).
    """
    onset = onset - onset.mean()
    n = len(onset)
    if not np.any(onset) or n < 8:
        return None
    acf = np.fft.irfft(np.abs(np.fft.rfft(onset, n=2 * n)) ** 2)[:n]
    lo = max(int(np.floor(60.0 * frame_rate / bpm_range[1])), 1)
    hi = min(int(np.ceil(60.0 * frame_rate / bpm_range[0])), n - 2)
    if hi <= lo:
        return None
    lags = np.arange(lo, hi + 1)
    is_peak = (acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] > 0)
    peaks = lags[is_peak]
    if len(peaks) == 0:
        return None
    k = int(peaks[np.nonzero(acf[peaks] >= ratio * acf[peaks].max())[0][0]])
    a, b, c = acf[k - 1], acf[k], acf[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
    return 60.0 * frame_rate / (k + float(np.clip(shift, -0.5, 0.5)))


def measure(audio: np.ndarray, sample_rate: int) -> Measurements:
    """All measurements of one clip."""
    f0, voiced = pitch(audio, sample_rate)
    return Measurements(
        pitch_hz=f0, voiced=voiced, bpm=tempo(audio, sample_rate),
        centroid_hz=spectral_centroid(audio, sample_rate), rms_dbfs=rms_dbfs(audio),
    )


def classify(m: Measurements, *, pitched: bool) -> dict[str, str | None]:
    """Turn measurements into caption words.

    Parameters
    ----------
    m : Measurements
        From :func:`measure`.
    pitched : bool
        Whether the audio is meant to carry a pitch (False for drums): chooses the relative or
        the absolute brightness scale, and whether a register is heard at all.

    Returns
    -------
    dict
        ``register`` (None when unpitched or no pitch found), ``tempo``, ``brightness`` and
        ``loudness``.
    """
    register = None
    if pitched and m.pitch_hz is not None:
        low, high = REGISTER_EDGES_HZ
        register = "low" if m.pitch_hz < low else "high" if m.pitch_hz > high else "mid"
    tempo_word = None
    if m.bpm is not None:
        slow, fast = TEMPO_EDGES_BPM
        tempo_word = "slow" if m.bpm < slow else "fast" if m.bpm > fast else "medium"
    if pitched and m.pitch_hz is not None:
        bright = m.centroid_hz / m.pitch_hz > BRIGHT_RATIO
    elif pitched:
        bright = False  # no pitch found: call it dark rather than guess a scale
    else:
        bright = m.centroid_hz > BRIGHT_CENTROID_HZ
    return {
        "register": register,
        "tempo": tempo_word,
        "brightness": "bright" if bright else "dark",
        "loudness": "loud" if m.rms_dbfs > LOUD_DBFS else "quiet",
    }
