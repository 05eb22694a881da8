// The compare strip: every served model's answer for the same drawing, side by side.

import { percent } from "./api.js";

/**
 * The digit most models gave, or null when there is no single such digit (a tie). Entries that
 * differ from it are the disagreement the strip points out.
 */
function plurality(digits) {
  const votes = new Map();
  for (const digit of digits) votes.set(digit, (votes.get(digit) || 0) + 1);
  const ranked = [...votes.entries()].sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0 || (ranked.length > 1 && ranked[0][1] === ranked[1][1])) return null;
  return ranked[0][0];
}

/** "softmax and MLP say 3, CNN says 8": the answers grouped by digit, most votes first. */
function whoSaysWhat(models, answers) {
  const groups = new Map();
  for (const model of models) {
    const answer = answers.get(model.name);
    if (!answer || answer.state !== "done") continue;
    const digit = answer.prediction.digit;
    groups.set(digit, [...(groups.get(digit) || []), model.label]);
  }
  const ranked = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
  return ranked
    .map(([digit, names]) => {
      const who = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
      return `${who} ${names.length > 1 ? "say" : "says"} ${digit}`;
    })
    .join(", ");
}

function entryText(model, answer) {
  if (!answer || answer.state === "pending") return `${model.label}: …`;
  if (answer.state === "error") return `${model.label}: no answer`;
  return `${model.label}: ${answer.prediction.digit} (${percent(answer.prediction.confidence)})`;
}

export class CompareStrip {
  /** `onPick(name)` is called when a visitor clicks a model's entry to make it the picked one. */
  constructor(list, summary, onPick) {
    this.list = list;
    this.summary = summary;
    this.onPick = onPick;
  }

  clear(message) {
    this.list.replaceChildren();
    this.list.hidden = true;
    this.say(message, "");
  }

  /** A visible verdict, and the whole line of answers for screen readers (one announcement). */
  say(verdict, line) {
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = line;
    this.summary.replaceChildren(verdict, spoken);
  }

  /** Show each model's answer (pending, done or error) in `answers`, a Map by model name. */
  render(models, answers, picked) {
    const done = models.map((m) => answers.get(m.name)).filter((a) => a && a.state === "done");
    const digits = done.map((a) => a.prediction.digit);
    const agreed = plurality(digits);
    const disagree = new Set(digits).size > 1;
    // Entries are rebuilt as answers arrive; a keyboard user's focus stays on the same model.
    const focused = this.list.contains(document.activeElement) ? document.activeElement.closest(".compare-entry") : null;
    this.list.replaceChildren(...models.map((model) => this.entry(model, answers.get(model.name), picked, disagree, agreed)));
    if (focused) {
      const again = [...this.list.children].find((item) => item.dataset.model === focused.dataset.model);
      if (again) again.querySelector("button").focus();
    }
    this.list.hidden = models.length === 0;

    // The live region speaks once per drawing, when every model has answered, not per answer.
    const settled = models.every((m) => answers.has(m.name) && answers.get(m.name).state !== "pending");
    if (!settled) {
      this.say("", "");
      return;
    }
    const failed = models.length - done.length;
    const codes = new Set(models.map((m) => answers.get(m.name).error?.code));
    if (done.length === 0 && codes.size === 1 && !codes.has(undefined) && !codes.has("")) {
      // The same refusal from every model is about the image, not the models: say it once.
      this.list.hidden = true;
      this.say(`No model could answer: ${[...codes][0]} (see the message above).`, "");
      return;
    }
    let verdict = "";
    if (disagree) verdict = `The models disagree: ${whoSaysWhat(models, answers)}.`;
    else if (done.length > 1 && done.length === models.length) verdict = `All ${done.length} models say ${digits[0]}.`;
    else if (done.length > 1) verdict = `The ${done.length} models that answered say ${digits[0]}.`;
    if (failed > 0) verdict += `${verdict ? " " : ""}${failed} of ${models.length} could not answer.`;
    this.say(verdict, ` ${models.map((m) => entryText(m, answers.get(m.name))).join(" · ")}`);
  }

  entry(model, answer, picked, disagree, agreed) {
    const item = document.createElement("li");
    item.className = "compare-entry";
    item.dataset.model = model.name;
    item.dataset.state = answer ? answer.state : "pending";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "compare-button";
    button.setAttribute("aria-pressed", String(model.name === picked));
    button.title = `Show ${model.option}`;
    button.addEventListener("click", () => this.onPick(model.name));

    const name = document.createElement("span");
    name.className = "compare-name";
    name.textContent = model.label;
    const value = document.createElement("span");
    value.className = "compare-value";
    if (answer && answer.state === "done") {
      const { digit, confidence } = answer.prediction;
      item.dataset.digit = String(digit);
      if (disagree && digit !== agreed) item.classList.add("disagree");
      const big = document.createElement("strong");
      big.className = "compare-digit";
      big.textContent = String(digit);
      const sure = document.createElement("span");
      sure.className = "compare-confidence";
      sure.textContent = `(${percent(confidence)})`;
      value.append(big, " ", sure);
    } else if (answer && answer.state === "error") {
      item.classList.add("failed");
      value.className = "compare-value compare-error";
      value.textContent = answer.error.code || (answer.error.status ? `HTTP ${answer.error.status}` : "error");
      const message = document.createElement("span");
      message.className = "compare-message";
      message.textContent = answer.error.message || String(answer.error);
      button.title = message.textContent;
      value.append(message);
    } else {
      value.textContent = "…";
    }
    button.append(name, value);
    item.append(button);
    return item;
  }
}
