// songspace web page: plain DOM calls against the JSON API, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const mix = { plus: new Map(), minus: new Map() };

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) {
    let message = body.message || response.statusText;
    throw new Error(message);
  }
  return body;
}

function showError(error) { $("error").textContent = error ? error.message : ""; }

function songItem(song, { onPick, extra } = {}) {
  const li = document.createElement("li");
  li.dataset.songId = song.song_id;
  const name = document.createElement("span");
  name.className = "pick";
  name.textContent = song.title;
  if (onPick) name.addEventListener("click", () => onPick(song));
  const artist = document.createElement("span");
  artist.className = "artist";
  artist.textContent = " by " + song.artist;
  li.append(name, artist);
  if (song.estimated) li.append(estimatedMark());
  if (song.score !== undefined) {
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = " " + song.score.toFixed(3);
    li.append(score);
  }
  for (const [label, sign] of [["+", "plus"], ["\u2212", "minus"]]) {
    const button = document.createElement("button");
    button.textContent = label;
    button.title = sign === "plus" ? "more like this" : "less like this";
    button.className = "mix-" + sign;
    button.addEventListener("click", () => addToMix(song, sign));
    li.append(button);
  }
  if (extra) li.append(extra);
  return li;
}

function estimatedMark() {
  const mark = document.createElement("span");
  mark.className = "estimated";
  mark.textContent = " estimated";
  mark.title = "too few plays for a learnt vector: this song's vector is estimated from its " +
    "title, artist and tags";
  return mark;
}

function fill(list, songs, options) {
  list.replaceChildren(...songs.map((song) => songItem(song, options)));
}

// -- type-ahead search ---------------------------------------------------------------------
let typing = null;
$("search").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(async () => {
    const q = $("search").value.trim();
    if (!q) { $("suggestions").replaceChildren(); return; }
    try {
      const found = await api("/songs?" + new URLSearchParams({ q, limit: 10 }));
      fill($("suggestions"), found.results, { onPick: showSimilar });
      showError(null);
    } catch (error) { showError(error); }
  }, 150);
});

// -- similar songs -------------------------------------------------------------------------
let current = null;
async function showSimilar(song) {
  current = song;
  const params = new URLSearchParams({ k: 10, exclude_artist: $("exclude-artist").checked });
  try {
    const answer = await api(`/songs/${encodeURIComponent(song.song_id)}/similar?${params}`);
    $("song-title").textContent = `${answer.song.title} by ${answer.song.artist}`;
    if (answer.song.estimated) $("song-title").append(estimatedMark());
    fill($("similar"), answer.results, { onPick: showSimilar });
    $("song-panel").hidden = false;
    showError(null);
  } catch (error) { showError(error); }
}
$("exclude-artist").addEventListener("change", () => current && showSimilar(current));

// -- a mix: more like these, less like those ------------------------------------------------
function addToMix(song, sign) {
  const other = sign === "plus" ? "minus" : "plus";
  mix[other].delete(song.song_id);
  mix[sign].set(song.song_id, song);
  drawMix();
}

function drawMix() {
  for (const sign of ["plus", "minus"]) {
    $("mix-" + sign).replaceChildren(...[...mix[sign].values()].map((song) => {
      const li = document.createElement("li");
      li.textContent = `${song.title} by ${song.artist} `;
      const remove = document.createElement("button");
      remove.textContent = "\u00d7";
      remove.addEventListener("click", () => { mix[sign].delete(song.song_id); drawMix(); });
      li.append(remove);
      return li;
    }));
  }
  $("mix-go").disabled = mix.plus.size === 0;
}

$("mix-go").addEventListener("click", async () => {
  const refs = (sign) => [...mix[sign].keys()].map((song) => ({ song, weight: 1 }));
  try {
    const answer = await api("/songs/arithmetic", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ positive: refs("plus"), negative: refs("minus"), k: 10 }),
    });
    fill($("mix-results"), answer.results, { onPick: showSimilar });
    showError(null);
  } catch (error) { showError(error); }
});

// -- a playlist from words ------------------------------------------------------------------
$("words-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("words").value.trim();
  if (!q) return;
  try {
    const answer = await api("/playlists/from-text?" + new URLSearchParams({ q, k: 20 }));
    fill($("words-results"), answer.results, { onPick: showSimilar });
    showError(null);
  } catch (error) { showError(error); }
});

// -- a listener's taste ----------------------------------------------------------------------
$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = encodeURIComponent($("user").value.trim());
  if (!user) return;
  try {
    const profile = await api(`/users/${user}/profile`);
    $("taste").replaceChildren(...profile.tags.map((axis) => {
      const row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span");
      name.textContent = axis.tag;
      const fillBar = document.createElement("div");
      fillBar.className = "fill";
      fillBar.style.width = `${Math.round(axis.percentile * 100)}%`;
      const value = document.createElement("span");
      value.className = "muted";
      value.textContent = `${Math.round(axis.percentile * 100)}%`;
      row.append(name, fillBar, value);
      return row;
    }));
    const recs = await api(`/users/${user}/recommendations?k=10`);
    $("recommendations").replaceChildren(...recs.results.map((song) => {
      const because = document.createElement("div");
      because.className = "because";
      if (song.because) because.textContent = `because you played ${song.because.title}`;
      return songItem(song, { onPick: showSimilar, extra: because });
    }));
    showError(null);
  } catch (error) { showError(error); }
});

// -- text to music ------------------------------------------------------------------------
function fft(re, im) {  // in place, radix 2
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = -2 * Math.PI / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k), wi = Math.sin(angle * k);
        const a = i + k, b = a + len / 2;
        const tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
      }
    }
  }
}

function drawSpectrogram(samples) {  // log-magnitude STFT, low frequencies at the bottom
  const canvas = $("spectrogram"), ctx = canvas.getContext("2d");
  const size = 512, bins = size / 2, columns = canvas.width;
  const hop = Math.max(1, Math.floor((samples.length - size) / columns));
  const image = ctx.createImageData(columns, canvas.height);
  for (let x = 0; x < columns; x++) {
    const re = new Float32Array(size), im = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const hann = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / size);
      re[i] = (samples[x * hop + i] || 0) * hann;
    }
    fft(re, im);
    for (let y = 0; y < canvas.height; y++) {
      const bin = Math.floor((canvas.height - 1 - y) / canvas.height * bins);
      const db = 10 * Math.log10(re[bin] ** 2 + im[bin] ** 2 + 1e-10);
      const v = Math.max(0, Math.min(255, (db + 60) * 3));
      const at = (y * columns + x) * 4;
      image.data.set([v, v * 0.6, 255 - v * 0.7, 255], at);
    }
  }
  ctx.putImageData(image, 0, 0);
}

const MAX_VARIATION_BYTES = 700000;  // what POST /generate accepts

function base64Of(file) {  // a file's bytes as base64 (what variation_wav takes)
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function clipFacts(headers) {
  // How the clip was made: its tempo, its key, and the two parts of a clip made as stems.
  const facts = [];
  const bpm = headers.get("x-clip-bpm");
  if (bpm) facts.push(`${Math.round(Number(bpm))} BPM`);
  const key = headers.get("x-clip-key");
  if (key) facts.push(`in ${key}`);
  const stems = headers.get("x-clip-stems");
  if (stems) {
    const parts = JSON.parse(stems);
    facts.push(`made as "${parts.lead}" over "${parts.backing}"`);
  }
  return facts.join(" · ");
}

async function generateBody() {
  const body = { text: $("prompt").value, seconds: Number($("seconds").value),
                 seed: Number($("seed").value) };
  const file = $("variation").files[0];
  if (file) {
    if (file.size > MAX_VARIATION_BYTES) {
      throw new Error(`${file.name} is ${file.size.toLocaleString()} bytes; at most ` +
                      `${MAX_VARIATION_BYTES.toLocaleString()} can be varied`);
    }
    body.variation_wav = await base64Of(file);
    body.strength = Number($("strength").value);
  } else if ($("mix-with").value.trim()) {
    body.mix_with = $("mix-with").value.trim();
    body.mix = Number($("mix").value);
  }
  return body;
}

$("generate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("generate-go").disabled = true;
  try {
    const headers = { "content-type": "application/json" };
    if ($("api-key").value) headers["x-api-key"] = $("api-key").value;
    const response = await fetch("/generate", {
      method: "POST",
      headers,
      body: JSON.stringify(await generateBody()),
    });
    if (!response.ok) throw new Error((await response.json()).message);
    $("clip-facts").textContent = clipFacts(response.headers);
    $("clip-facts").hidden = !$("clip-facts").textContent;
    const note = response.headers.get("x-prompt-warning");  // what the model does not know
    $("prompt-note").textContent = note ? `Note: ${note}.` : "";
    $("prompt-note").hidden = !note;
    const wav = await response.arrayBuffer();
    $("player").src = URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
    const audio = await new AudioContext().decodeAudioData(wav.slice(0));
    drawSpectrogram(audio.getChannelData(0));
    showError(null);
  } catch (error) { showError(error); }
  $("generate-go").disabled = false;
});

api("/ready").then((ready) => {
  $("version").textContent = ready.version;
  $("generate-panel").hidden = ready.generation !== "ready";
}).catch(showError);
