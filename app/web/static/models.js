// The served models: which ones answer, what to call them, and the panel about the picked one.

import { ApiError, fetchJson, hideError, showError } from "./api.js";

// Relative URLs so the page works behind any host, port or path prefix.
export const MODELS_URL = "models";
const DEFAULT_MODEL_URL = "model";

// Training writes "architecture" into each version's metadata.json; these are its known values.
// Listed in this order (simple to elaborate), models of other architectures after them.
const ARCHITECTURES = {
  softmax: { short: "softmax", long: "Softmax regression", rank: 0 },
  mlp: { short: "MLP", long: "Multi-layer perceptron", rank: 1 },
  cnn: { short: "CNN", long: "Convolutional network", rank: 2 },
};

const $ = (id) => document.getElementById(id);
const count = new Intl.NumberFormat("en");

/** Where a model's routes live: `models/<name>/...`, or the default model's own at the root. */
export function routeOf(model, path) {
  if (model.name === null) return path;
  return `${MODELS_URL}/${encodeURIComponent(model.name)}/${path}`;
}

/** One served model as the page shows it, from its status and (when it could be read) details. */
function describe(status, served) {
  const metadata = (served && served.metadata) || {};
  const architecture = typeof metadata.architecture === "string" ? metadata.architecture : "";
  const known = ARCHITECTURES[architecture.toLowerCase()];
  return {
    name: status.name,
    version: status.served_version,
    isDefault: Boolean(status.default),
    architecture: known ? known.long : architecture || null,
    short: known ? known.short : architecture || status.name,
    rank: known ? known.rank : Object.keys(ARCHITECTURES).length,
    description: typeof metadata.description === "string" ? metadata.description : null,
    parameters: Number.isInteger(metadata.parameters) ? metadata.parameters : null,
    accuracy: typeof metadata.test_accuracy === "number" ? metadata.test_accuracy : null,
    weightMaps: Boolean(served && served.weight_maps),
  };
}

/** Labels for the strip and the picker; two models of one architecture are told apart by name. */
function label(models) {
  const uses = new Map();
  for (const model of models) uses.set(model.short, (uses.get(model.short) || 0) + 1);
  for (const model of models) {
    const shared = uses.get(model.short) > 1 && model.short !== model.name;
    model.label = shared ? `${model.short} (${model.name})` : model.short;
    const kind = model.architecture ? `${model.architecture} · ${model.name}` : model.name;
    model.option = model.isDefault ? `${kind} (default)` : kind;
  }
}

/**
 * Every model with an available version, simplest first (softmax, MLP, CNN, then others by
 * size), so the strip reads from the simple model to the elaborate ones; and the default
 * model's name. Details already read for the same version are reused from `previous`.
 */
export async function loadCatalogue(previous = new Map()) {
  const listing = await fetchJson(MODELS_URL);
  const ready = (listing.models || []).filter((m) => m.ready && m.served_version !== null);
  const models = await Promise.all(
    ready.map(async (status) => {
      const known = previous.get(status.name);
      if (known && known.version === status.served_version) return { ...known, isDefault: Boolean(status.default) };
      try {
        const detail = await fetchJson(`${MODELS_URL}/${encodeURIComponent(status.name)}`);
        return describe(status, detail.served);
      } catch {
        // Without its details the model still answers; it is just named by its folder.
        return describe(status, null);
      }
    }),
  );
  const size = (model) => (model.parameters === null ? Infinity : model.parameters);
  models.sort((a, b) => a.rank - b.rank || size(a) - size(b) || a.name.localeCompare(b.name));
  label(models);
  return { defaultModel: listing.default_model, models };
}

/** When the repository cannot be listed: the default model through its own routes. */
export async function defaultOnly() {
  const info = await fetchJson(DEFAULT_MODEL_URL);
  const model = describe(
    { name: info.name, served_version: info.version, default: true },
    { metadata: info.metadata, weight_maps: true },
  );
  label([model]);
  return { ...model, name: null, shownName: info.name };
}

/** Fill the picker with the models, keeping `picked` selected. */
export function fillPicker(select, models, picked) {
  // Unchanged options are left alone, so a refresh never closes the list under a visitor.
  const wanted = models.map((model) => `${model.name ?? ""}\n${model.option}`).join("\n");
  const current = [...select.options].map((option) => `${option.value}\n${option.textContent}`).join("\n");
  if (wanted === current && select.options.length) {
    select.value = picked ?? "";
    return;
  }
  select.replaceChildren(
    ...models.map((model) => {
      const option = document.createElement("option");
      option.value = model.name ?? "";
      option.textContent = model.option;
      option.selected = model.name === picked;
      return option;
    }),
  );
  select.disabled = models.length < 2;
}

// ---- The panel about the picked model ------------------------------------------------------

let shownWeights = "";

function weightsExplanation(model) {
  const what = model.architecture ? `The ${model.architecture.toLowerCase()} (${model.label})` : `Model ${model.label}`;
  const none = `${what} has no single layer with one weight per pixel and digit, so there are no weight maps to draw.`;
  if (!model.architecture || model.short === "softmax") return none;
  const parameters = model.parameters === null ? "Its parameters" : `Its ${count.format(model.parameters)} parameters`;
  return (
    `${none} ${parameters} are spread over several layers, which can learn strokes and shapes ` +
    "where a single layer can only weigh each pixel on its own."
  );
}

function showNoWeights(model) {
  $("weights-figure").hidden = true;
  $("weights-about").hidden = true;
  const note = $("weights-none");
  note.textContent = weightsExplanation(model);
  note.hidden = false;
}

function showWeights(model) {
  const img = $("weights");
  // The version in the URL: a new version swapped in while the page is open is a new picture.
  const url = `${routeOf(model, "weights.png")}?scale=5&version=${encodeURIComponent(model.version)}`;
  $("weights-none").hidden = true;
  $("weights-about").hidden = false;
  $("weights-figure").hidden = false;
  if (shownWeights !== url) {
    shownWeights = url;
    img.src = url;
  }
}

/** The image failed: a model without weight maps gets the explanation, anything else an error. */
async function onWeightsError(model) {
  try {
    await fetchJson(routeOf(model, "weights"));
    showError($("weights-error"), new ApiError("The weight maps could not be loaded."));
  } catch (err) {
    if (err.code === "no_weight_maps") showNoWeights(model);
    else showError($("weights-error"), err);
  }
}

let panelModel = null;

export function watchWeightsImage() {
  const img = $("weights");
  const failed = () => panelModel && img.getAttribute("src") && onWeightsError(panelModel);
  img.addEventListener("error", failed);
  if (img.complete && img.getAttribute("src") && img.naturalWidth === 0) failed();
}

/** Show what is known about the picked model, and its weight maps when it has them. */
export function showModelPanel(model) {
  panelModel = model;
  hideError($("weights-error"));
  $("weights-heading").textContent = `What the ${model.label} model learned`;
  $("model-name").textContent = model.shownName || model.name;
  $("model-version").textContent = String(model.version);
  $("model-architecture").textContent = model.architecture || "not recorded";
  $("model-description").textContent = model.description || "";
  $("model-description").parentElement.hidden = !model.description;
  $("model-parameters").textContent = model.parameters === null ? "not recorded" : count.format(model.parameters);
  $("model-accuracy").textContent =
    model.accuracy === null ? "not recorded" : `${(model.accuracy * 100).toFixed(2)}% on the 10,000 MNIST test digits`;
  if (model.weightMaps) showWeights(model);
  else showNoWeights(model);
}

export function showModelPanelError(err) {
  for (const id of ["model-name", "model-version", "model-architecture", "model-parameters", "model-accuracy"]) {
    $(id).textContent = "unavailable";
  }
  showError($("model-error"), err);
}
