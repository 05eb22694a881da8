// Drawing pad and live predictions for the MNIST digit service.
// Plain ES module, no dependencies: the page must work offline and without a build step.

// Relative URLs so the page works behind any host, port or path prefix.
const PREDICT_URL = "predict?normalize=auto&return_input=true";
const MODEL_URL = "model";
const DEBOUNCE_MS = 300;
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
};

let ink = INKS.light;
let hasInk = false;
let lastPoint = null;
let activePointer = null;
let debounceTimer = 0;
// Every request gets a number; answers to anything but the newest are dropped, so a slow
// response can never overwrite a newer guess (or a cleared display).
let requestSeq = 0;

/** An error from the API, carrying the fields of its JSON error body. */
class ApiError extends Error {
  constructor(message, { status = 0, code = "", requestId = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Parse a response as JSON, turning the service's error shape into an ApiError. */
async function readJson(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's HTML error page, say): fall through to the status line below.
  }
  if (response.ok && body !== null) return body;
  const err = body && body.error;
  const requestId = (err && err.request_id) || response.headers.get("X-Request-ID") || "";
  if (err && err.message) {
    throw new ApiError(err.message, { status: response.status, code: err.code, requestId });
  }
  const text = response.ok ? "The server sent an unreadable answer." : `The server answered ${response.status} ${response.statusText}.`;
  throw new ApiError(text, { status: response.status, requestId });
}

/** Fetch a URL and return its JSON body; network failures become readable ApiErrors. */
async function fetchJson(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    throw new ApiError(`Could not reach the server (${exc.message}).`);
  }
  return readJson(response);
}

function showError(element, err) {
  element.replaceChildren();
  const message = document.createElement("p");
  message.className = "error-message";
  message.textContent = err.message || String(err);
  element.append(message);
  const facts = [];
  if (err.status) facts.push(`HTTP ${err.status}`);
  if (err.code) facts.push(err.code);
  if (err.requestId) facts.push(`request ${err.requestId}`);
  if (facts.length) {
    const detail = document.createElement("p");
    detail.className = "error-detail";
    detail.textContent = facts.join(" · ");
    element.append(detail);
  }
  element.hidden = false;
  if (!(err instanceof ApiError)) console.warn(err);
}

function hideError(element) {
  element.hidden = true;
  element.replaceChildren();
}

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

const percent = (p) => `${(p * 100).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1)}%`;

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
}

function resetResult() {
  requestSeq += 1;
  window.clearTimeout(debounceTimer);
  setBusy(false);
  hideError(ui.error);
  showResetDisplay("Draw something to see a guess.");
}

function setBusy(busy) {
  ui.result.setAttribute("aria-busy", String(busy));
  ui.result.classList.toggle("busy", busy);
}

/** Send one image to /predict and show the answer, unless a newer request has started. */
async function predict(body, headers) {
  const seq = ++requestSeq;
  setBusy(true);
  try {
    const payload = await fetchJson(PREDICT_URL, { method: "POST", headers, body });
    if (seq !== requestSeq) return;
    const prediction = payload.predictions && payload.predictions[0];
    if (!prediction) throw new ApiError("The server answered without a prediction.");
    showPrediction(prediction);
  } catch (err) {
    if (seq === requestSeq) showPredictionError(err);
  } finally {
    if (seq === requestSeq) setBusy(false);
  }
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

// ---- Model panel -------------------------------------------------------------------------

async function loadModelInfo() {
  const errorBox = $("model-error");
  try {
    const model = await fetchJson(MODEL_URL);
    const accuracy = model.metadata && model.metadata.test_accuracy;
    $("model-name").textContent = model.name;
    $("model-version").textContent = String(model.version);
    $("model-accuracy").textContent =
      typeof accuracy === "number" ? `${(accuracy * 100).toFixed(2)}% on the 10,000 MNIST test digits` : "not recorded";
    hideError(errorBox);
  } catch (err) {
    for (const id of ["model-name", "model-version", "model-accuracy"]) $(id).textContent = "unavailable";
    showError(errorBox, err);
  }
}

function watchWeightsImage() {
  const img = $("weights");
  const onError = () =>
    showError($("weights-error"), new ApiError("The weight maps could not be loaded from weights.png."));
  img.addEventListener("error", onError);
  // The image may have failed before this module ran.
  if (img.complete && img.naturalWidth === 0) onError();
}

// ---- Wiring ------------------------------------------------------------------------------

function init() {
  buildChart();
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
  watchWeightsImage();
  loadModelInfo();
}

init();
