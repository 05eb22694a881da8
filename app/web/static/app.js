// Drawing pad and live predictions for the MNIST digit service: the picked model's answer in
// full, and every served model's answer side by side.
// Plain ES modules, no dependencies: the page must work offline and without a build step.

import { ApiError, fetchJson, hideError, percent, showError } from "./api.js";
import { CompareStrip } from "./compare.js";
import { EvidenceView } from "./evidence.js";
import {
  defaultOnly,
  fillPicker,
  loadCatalogue,
  routeOf,
  showModelPanel,
  showModelPanelError,
  watchWeightsImage,
} from "./models.js";

// Relative URLs (see models.js) so the page works behind any host, port or path prefix.
const PREDICT_QUERY = "normalize=auto&return_input=true";
const DEBOUNCE_MS = 300;
// Models come and go while the page is open (new versions, new folders): re-read the list now
// and then, and soon after a model answers that it is gone.
const REFRESH_MS = 30_000;
const GONE_CODES = new Set(["unknown_model", "unknown_version", "model_not_ready"]);
// About the thickness of an MNIST pen stroke once the drawing is scaled down to 28 x 28.
const STROKE_FRACTION = 0.075;
const INKS = {
  light: { paper: "#000000", ink: "#ffffff" },
  dark: { paper: "#ffffff", ink: "#000000" },
};

const $ = (id) => document.getElementById(id);
const canvas = $("pad");
const ctx = canvas.getContext("2d");
const ui = {
  result: $("result"),
  digit: $("digit"),
  confidence: $("confidence"),
  error: $("error"),
  chart: $("chart"),
  seen: $("seen"),
  seenCaption: $("seen-caption"),
  modelInput: $("model-input"),
  upload: $("upload"),
  picker: $("model-picker"),
};
const strip = new CompareStrip($("compare"), $("compare-summary"), (name) => pick(name));
const evidence = new EvidenceView();

let ink = INKS.light;
let hasInk = false;
let lastPoint = null;
let activePointer = null;
let debounceTimer = 0;
// Every round of requests gets a number; answers to anything but the newest are dropped, so a
// slow response can never overwrite a newer guess (or a cleared display).
let requestSeq = 0;

// The served models (see models.js), the picked one's name, and for the current drawing what
// it was (to ask a model picked later) and each model's answer to it.
let catalogue = { defaultModel: null, models: [] };
let fallback = null;
let picked = null;
let lastInput = null;
let roundModels = [];
const answers = new Map();
let refreshTimer = 0;

// ---- Probability chart -------------------------------------------------------------------

const bars = [];

function buildChart() {
  for (let digit = 0; digit < 10; digit += 1) {
    const item = document.createElement("li");
    item.className = "bar";
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = String(digit);
    label.setAttribute("aria-hidden", "true");
    const track = document.createElement("span");
    track.className = "bar-track";
    track.setAttribute("role", "meter");
    track.setAttribute("aria-label", `Digit ${digit}`);
    track.setAttribute("aria-valuemin", "0");
    track.setAttribute("aria-valuemax", "100");
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.setAttribute("aria-hidden", "true");
    item.append(label, track, value);
    ui.chart.append(item);
    bars.push({ item, track, fill, value });
  }
  resetChart();
}

function resetChart() {
  for (const bar of bars) {
    bar.item.classList.remove("top");
    bar.fill.style.width = "0%";
    bar.value.textContent = "–";
    bar.track.setAttribute("aria-valuenow", "0");
    bar.track.setAttribute("aria-valuetext", "no guess yet");
  }
}

function showProbabilities(probabilities, best) {
  probabilities.forEach((p, digit) => {
    const bar = bars[digit];
    bar.item.classList.toggle("top", digit === best);
    bar.fill.style.width = `${(p * 100).toFixed(2)}%`;
    bar.value.textContent = percent(p);
    bar.track.setAttribute("aria-valuenow", (p * 100).toFixed(1));
    bar.track.setAttribute("aria-valuetext", percent(p));
  });
}

// ---- Results -----------------------------------------------------------------------------

function showPrediction(prediction) {
  hideError(ui.error);
  ui.digit.textContent = String(prediction.digit);
  ui.confidence.textContent = `${percent(prediction.confidence)} sure`;
  showProbabilities(prediction.probabilities, prediction.digit);
  if (prediction.input_image) {
    ui.modelInput.src = `data:image/png;base64,${prediction.input_image}`;
    ui.seenCaption.textContent = prediction.normalized
      ? "What the model saw: your image cropped, centred and scaled to 28 × 28 pixels, like MNIST."
      : "What the model saw: your image scaled to 28 × 28 pixels.";
    ui.seen.hidden = false;
  } else {
    ui.seen.hidden = true;
  }
}

/** A failed request clears the old guess too: it must not look like the answer to this image. */
function showPredictionError(err) {
  showResetDisplay("No guess: see the message below.");
  showError(ui.error, err);
}

function showResetDisplay(message) {
  ui.digit.textContent = "?";
  ui.confidence.textContent = message;
  resetChart();
  ui.seen.hidden = true;
  ui.modelInput.removeAttribute("src");
  evidence.clear();
}

function resetResult() {
  requestSeq += 1;
  window.clearTimeout(debounceTimer);
  lastInput = null;
  answers.clear();
  evidence.reset();
  setBusy(false);
  hideError(ui.error);
  showResetDisplay("Draw something to see a guess.");
  strip.clear("Draw something to compare every model's answer.");
}

function setBusy(busy) {
  ui.result.setAttribute("aria-busy", String(busy));
  ui.result.classList.toggle("busy", busy);
}

/** The models to ask: every served one, or the default model's own routes if none is listed. */
function servedModels() {
  if (catalogue.models.length) return catalogue.models;
  return [fallback || { name: null, label: "model", option: "the default model" }];
}

function currentModel() {
  const models = servedModels();
  return models.find((model) => model.name === picked) || models[0];
}

/** Show one model's answer (or its error) as the main result. */
function showAnswer(answer) {
  if (answer.state === "done") showPrediction(answer.prediction);
  else if (answer.state === "error") showPredictionError(answer.error);
  setBusy(answer.state === "pending");
}

/** Send the same image to every served model at once; each answer is shown as it arrives. */
async function predict(body, headers) {
  const seq = ++requestSeq;
  lastInput = { body, headers };
  roundModels = servedModels();
  answers.clear();
  for (const model of roundModels) answers.set(model.name, { state: "pending" });
  setBusy(true);
  strip.render(roundModels, answers, picked);
  await Promise.all(roundModels.map((model) => ask(model, lastInput, seq)));
}

async function ask(model, input, seq) {
  let answer;
  try {
    const url = `${routeOf(model, "predict")}?${PREDICT_QUERY}`;
    const payload = await fetchJson(url, { method: "POST", headers: input.headers, body: input.body });
    const prediction = payload.predictions && payload.predictions[0];
    if (!prediction) throw new ApiError("The server answered without a prediction.");
    answer = { state: "done", prediction };
  } catch (err) {
    answer = { state: "error", error: err };
  }
  if (seq !== requestSeq) return;
  answers.set(model.name, answer);
  strip.render(roundModels, answers, picked);
  // By name: a refresh of the model list while requests run makes new model objects.
  if (model.name === currentModel().name) {
    showAnswer(answer);
    if (answer.state === "done") explainPicked(model, input, seq);
  }
  if (answer.state === "error" && GONE_CODES.has(answer.error.code)) scheduleRefresh(1000);
}

/** Lay the picked model's evidence over its input; asked only once its answer is shown. */
function explainPicked(model, input, seq) {
  const isCurrent = () => seq === requestSeq && model.name === currentModel().name;
  evidence.explain(model, input, seq, isCurrent);
}

function canvasBlob() {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("Could not read the drawing."))), "image/png");
  });
}

async function predictDrawing() {
  if (!hasInk) return;
  try {
    const blob = await canvasBlob();
    await predict(blob, { "Content-Type": "image/png" });
  } catch (err) {
    showPredictionError(err);
  }
}

function schedulePrediction() {
  window.clearTimeout(debounceTimer);
  debounceTimer = window.setTimeout(predictDrawing, DEBOUNCE_MS);
}

// ---- Drawing -----------------------------------------------------------------------------

function fillPaper() {
  ctx.save();
  ctx.globalCompositeOperation = "source-over";
  ctx.fillStyle = ink.paper;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.restore();
}

function clearPad() {
  fillPaper();
  hasInk = false;
  ui.upload.value = "";
  resetResult();
}

function toCanvasPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * canvas.width) / rect.width,
    y: ((event.clientY - rect.top) * canvas.height) / rect.height,
  };
}

function strokeTo(point) {
  ctx.strokeStyle = ink.ink;
  ctx.fillStyle = ink.ink;
  ctx.lineWidth = canvas.width * STROKE_FRACTION;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (lastPoint) {
    ctx.beginPath();
    ctx.moveTo(lastPoint.x, lastPoint.y);
    ctx.lineTo(point.x, point.y);
    ctx.stroke();
  } else {
    // A tap leaves a dot, as a pen would.
    ctx.beginPath();
    ctx.arc(point.x, point.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fill();
  }
  lastPoint = point;
  hasInk = true;
}

function onPointerDown(event) {
  if (activePointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  activePointer = event.pointerId;
  canvas.setPointerCapture(event.pointerId);
  lastPoint = null;
  strokeTo(toCanvasPoint(event));
  window.clearTimeout(debounceTimer);
}

function onPointerMove(event) {
  if (event.pointerId !== activePointer) return;
  event.preventDefault();
  // Coalesced events keep fast strokes smooth on high-rate pens and touch screens.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) strokeTo(toCanvasPoint(e));
  schedulePrediction();
}

function onPointerUp(event) {
  if (event.pointerId !== activePointer) return;
  activePointer = null;
  lastPoint = null;
  schedulePrediction();
}

/** Swap ink and paper, keeping what is drawn: the server's normalize=auto copes with either. */
function setInk(name) {
  const next = INKS[name];
  if (!next || next === ink) return;
  ink = next;
  ctx.save();
  ctx.globalCompositeOperation = "difference";
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.restore();
  canvas.parentElement.dataset.ink = name;
  if (hasInk) schedulePrediction();
}

// ---- Uploads -----------------------------------------------------------------------------

/** Show an uploaded image on the pad, letterboxed; the file itself is what gets sent. */
async function drawUpload(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    fillPaper();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    bitmap.close();
    hasInk = true;
  } catch {
    // The browser cannot decode every format the server can; the server's answer still counts.
    fillPaper();
    hasInk = false;
  }
}

async function predictFile(file) {
  window.clearTimeout(debounceTimer);
  await drawUpload(file);
  const form = new FormData();
  form.append("files", file, file.name);
  await predict(form, {});
}

function onUpload() {
  const file = ui.upload.files && ui.upload.files[0];
  if (file) predictFile(file);
}

function onDrop(event) {
  event.preventDefault();
  canvas.parentElement.classList.remove("dragging");
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) predictFile(file);
}

// ---- Models ------------------------------------------------------------------------------

/** Make `name` the model whose answer, input view and panel the page shows. */
function pick(name) {
  picked = name;
  if (ui.picker.value !== name) ui.picker.value = name;
  const model = currentModel();
  showPickedModel(model);
  if (lastInput) strip.render(roundModels, answers, picked);
  const answer = answers.get(model.name);
  if (answer) {
    showAnswer(answer);
    // The overlay shown belongs to the model picked before: replace it, or take it away.
    if (answer.state === "done") explainPicked(model, lastInput, requestSeq);
    else evidence.clear();
  }
  else if (lastInput) predict(lastInput.body, lastInput.headers); // listed after this drawing
}

function showPickedModel(model) {
  showModelPanel(model);
  $("chart-heading").textContent = `Probability of each digit, according to ${model.label}`;
}

const versions = (models) => models.map((m) => `${m.name}@${m.version}`).join(",");

/** Re-read the served models; a change of models or versions asks them all again. */
async function refreshModels() {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(refreshModels, REFRESH_MS);
  const before = versions(servedModels());
  try {
    catalogue = await loadCatalogue(new Map(catalogue.models.map((m) => [m.name, m])));
    fallback = null;
    hideError($("model-error"));
  } catch (err) {
    if (catalogue.models.length) return; // keep the last good list; the next refresh retries
    try {
      fallback = await defaultOnly();
      showError($("model-error"), new ApiError(`Showing the default model only: ${err.message}`, err));
    } catch (err2) {
      showModelPanelError(err2);
      return;
    }
  }
  if (!catalogue.models.length && !fallback) {
    // Every model is still loading (or failed): the default route says so when asked.
    showModelPanelError(new ApiError("No model has a version available yet."));
    scheduleRefresh(3000);
  }
  const models = servedModels();
  if (!models.some((m) => m.name === picked)) {
    picked = (models.find((m) => m.isDefault || m.name === catalogue.defaultModel) || models[0]).name;
  }
  fillPicker(ui.picker, models, picked);
  if (catalogue.models.length || fallback) showPickedModel(currentModel());
  if (lastInput && versions(models) !== before) predict(lastInput.body, lastInput.headers);
  else if (lastInput) strip.render(roundModels, answers, picked);
}

function scheduleRefresh(delay) {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(refreshModels, delay);
}

// ---- Wiring ------------------------------------------------------------------------------

function init() {
  buildChart();
  strip.clear("Draw something to compare every model's answer.");
  // Browsers restore form state on reload, so start from whichever ink is checked.
  const checked = document.querySelector('input[name="ink"]:checked');
  const inkName = checked && INKS[checked.value] ? checked.value : "light";
  ink = INKS[inkName];
  canvas.parentElement.dataset.ink = inkName;
  fillPaper();
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  const wrap = canvas.parentElement;
  wrap.addEventListener("dragover", (event) => {
    event.preventDefault();
    wrap.classList.add("dragging");
  });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("dragging"));
  wrap.addEventListener("drop", onDrop);
  $("clear").addEventListener("click", clearPad);
  ui.upload.addEventListener("change", onUpload);
  for (const radio of document.querySelectorAll('input[name="ink"]')) {
    radio.addEventListener("change", () => radio.checked && setInk(radio.value));
  }
  ui.picker.addEventListener("change", () => pick(ui.picker.value));
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && scheduleRefresh(0));
  watchWeightsImage();
  refreshModels();
}

init();
