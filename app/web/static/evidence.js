// The evidence overlay: where, in the 28 x 28 input, the picked model found evidence for its
// digit (blue) and against it (red), from `explain=true` on the model's predict route.
// Asked only for the picked model, and only once its plain answer is in, so the other models'
// answers never wait for it; a model that cannot explain (422 cannot_explain) gets a note.

import { ApiError, fetchJson } from "./api.js";
import { routeOf } from "./models.js";

const QUERY = "normalize=auto&explain=true";

const $ = (id) => document.getElementById(id);

function methodText(explanation) {
  const digit = explanation.digit;
  if (explanation.method === "linear") {
    return `Exact for this model: each pixel's own share of the score for ${digit}. Deeper colour, more evidence.`;
  }
  if (explanation.method === "occlusion") {
    const patch = `${explanation.patch} × ${explanation.patch}`;
    return `Found by hiding each ${patch}-pixel patch of ink and measuring how much less sure the model becomes that it is a ${digit}. Deeper colour, more evidence.`;
  }
  return "Deeper colour, more evidence.";
}

export class EvidenceView {
  constructor() {
    this.overlay = $("evidence");
    this.key = $("evidence-key");
    this.toggle = $("evidence-toggle");
    this.forText = $("evidence-for");
    this.againstText = $("evidence-against");
    this.method = $("evidence-method");
    this.note = $("evidence-note");
    // Explanations (or refusals) of the current drawing, by model name: picking a model again
    // shows its map at once.
    this.round = null;
    this.known = new Map();
    this.toggle.addEventListener("change", () => this.applyToggle());
  }

  /** Forget the drawing's explanations and hide the overlay. */
  reset() {
    this.round = null;
    this.known.clear();
    this.clear();
  }

  clear() {
    this.overlay.hidden = true;
    this.overlay.parentElement.classList.remove("explained");
    this.overlay.removeAttribute("src");
    this.key.hidden = true;
    this.note.hidden = true;
    this.note.textContent = "";
  }

  /** Show the evidence of `model` for `input` (round `seq`) while `isCurrent()` holds. */
  async explain(model, input, seq, isCurrent) {
    if (this.round !== seq) {
      this.round = seq;
      this.known.clear();
    }
    this.clear();
    let outcome = this.known.get(model.name);
    if (!outcome) {
      outcome = await this.fetch(model, input);
      if (this.round === seq) this.known.set(model.name, outcome);
    }
    if (!isCurrent()) return;
    if (outcome.explanation) this.show(outcome.explanation);
    else this.showNote(model, outcome.error);
  }

  async fetch(model, input) {
    try {
      const url = `${routeOf(model, "predict")}?${QUERY}`;
      const payload = await fetchJson(url, { method: "POST", headers: input.headers, body: input.body });
      const prediction = payload.predictions && payload.predictions[0];
      if (!prediction || !prediction.explanation) {
        throw new ApiError("The server answered without an explanation.");
      }
      return { explanation: prediction.explanation };
    } catch (err) {
      return { error: err };
    }
  }

  show(explanation) {
    const digit = explanation.digit;
    this.overlay.src = `data:image/png;base64,${explanation.evidence_image}`;
    this.overlay.alt = `Evidence map over the model's input: blue where the ink counts for ${digit}, red where it counts against it`;
    this.forText.textContent = `Blue: ink that counts for ${digit}`;
    this.againstText.textContent = `Red: ink that counts against ${digit}`;
    this.method.textContent = methodText(explanation);
    this.key.dataset.method = explanation.method;
    this.key.hidden = false;
    this.applyToggle();
  }

  showNote(model, err) {
    this.note.textContent =
      err.code === "cannot_explain"
        ? `The ${model.label} model cannot show where its evidence is: it has no weights to read it from, and cannot run the batch of hidden-patch copies that finding it needs.`
        : `No evidence map: ${err.message}`;
    this.note.hidden = false;
  }

  applyToggle() {
    this.overlay.hidden = !this.toggle.checked || !this.overlay.getAttribute("src");
    // The input is dimmed under the map, so that light blue and pink stand out from white ink.
    this.overlay.parentElement.classList.toggle("explained", !this.overlay.hidden);
  }
}
