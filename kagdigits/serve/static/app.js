// kagdigits serve: the draw-a-digit page. Plain JavaScript, no build step, no CDN.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen");
const statusLine = document.getElementById("status");
const cards = {};            // model name -> {digit, confidence, bars[]}
let drawing = false, inked = false, inFlight = false, again = false, lastSent = 0;
let generation = 0;          // bumped by Clear: older answers are dropped
let drawingsToSend = 0;      // pad images still being encoded for a request

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  inked = false;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function start(event) {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  const [x, y] = point(event);
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + 0.01, y);
  ctx.stroke();
  inked = true;
}

function move(event) {
  if (!drawing) return;
  event.preventDefault();
  const [x, y] = point(event);
  ctx.lineTo(x, y);
  ctx.stroke();
  if (Date.now() - lastSent > 250) predictPad();   // live, a few times a second
}

function end(event) {
  if (!drawing) return;
  drawing = false;
  predictPad();
}

function predictPad() {
  if (!inked) return;
  lastSent = Date.now();
  document.body.dataset.pending = "true";   // until the newest drawing's answer is shown
  const asked = generation;
  drawingsToSend++;
  pad.toBlob(blob => { drawingsToSend--; send(blob, "image/png", asked); }, "image/png");
}

async function send(body, type, asked) {
  document.body.dataset.pending = "true";
  if (inFlight) { again = true; return; }   // one request at a time; the newest wins
  inFlight = true;
  try {
    const headers = type ? {"Content-Type": type} : {};
    const response = await fetch("/predict", {method: "POST", body, headers});
    const answer = await response.json();
    if (asked !== generation) return;
    if (!response.ok) throw new Error(answer.error || response.statusText);
    show(answer);
    statusLine.textContent = "";
  } catch (error) {
    statusLine.textContent = error.message;
  } finally {
    inFlight = false;
    if (again) { again = false; predictPad(); }
    else if (!drawingsToSend) delete document.body.dataset.pending;
  }
}

function show(answer) {
  const image = seen.getContext("2d").createImageData(28, 28);
  answer.image.forEach((v, i) => {
    image.data.set([v, v, v, 255], 4 * i);
  });
  seen.getContext("2d").putImageData(image, 0, 0);
  seen.dataset.ink = answer.image.reduce((a, b) => a + b, 0);
  for (const p of answer.predictions) {
    const card = cards[p.name];
    if (!card) continue;
    const top = p.probabilities.indexOf(Math.max(...p.probabilities));
    card.digit.textContent = p.label;
    card.confidence.textContent = `${(100 * p.probabilities[top]).toFixed(1)}% sure`;
    card.root.dataset.label = p.label;
    p.probabilities.forEach((q, i) => {
      const row = card.rows[i];
      row.bar.style.width = `${(100 * q).toFixed(1)}%`;
      row.root.dataset.p = q;
      row.value.textContent = `${(100 * q).toFixed(1)}%`;
      row.root.classList.toggle("top", i === top);
    });
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function addCard(model) {
  const root = element("div", "card");
  root.dataset.model = model.name;
  root.append(element("h3", "", model.name),
              element("div", "kind", `${model.model}, ${model.parameters.toLocaleString()} parameters`));
  const digit = element("div", "digit", "–");
  const confidence = element("div", "confidence", "");
  const bars = element("div", "bars");
  const rows = model.classes.map(c => {
    const row = element("div", "row");
    const track = element("div", "track");
    const bar = element("div", "bar");
    const value = element("span", "value", "");
    track.append(bar);
    row.append(element("span", "cls", c), track, value);
    bars.append(row);
    return {root: row, bar, value};
  });
  root.append(digit, confidence, bars);
  document.getElementById("models").append(root);
  cards[model.name] = {root, digit, confidence, rows};
}

function upload(event) {
  const file = event.target.files[0];
  if (!file) return;
  const url = URL.createObjectURL(file);
  const picture = new Image();
  picture.onload = () => {      // show it on the pad, scaled to fit
    clearPad();
    const scale = Math.min(pad.width / picture.width, pad.height / picture.height);
    const w = picture.width * scale, h = picture.height * scale;
    ctx.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(url);
  };
  picture.src = url;
  const form = new FormData();
  form.append("file", file);
  send(form, null, generation);
  event.target.value = "";
}

async function init() {
  ctx.lineWidth = 22;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#000";
  clearPad();
  pad.addEventListener("pointerdown", start);
  pad.addEventListener("pointermove", move);
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  document.getElementById("clear").addEventListener("click", () => {
    generation += 1;
    again = false;
    clearPad();
    statusLine.textContent = "";
    for (const card of Object.values(cards)) {
      card.digit.textContent = "–";
      card.confidence.textContent = "";
      delete card.root.dataset.label;
      card.rows.forEach(r => {
        r.bar.style.width = "0";
        r.value.textContent = "";
        r.root.classList.remove("top");
      });
    }
    seen.getContext("2d").clearRect(0, 0, 28, 28);
    delete seen.dataset.ink;
  });
  document.getElementById("upload").addEventListener("change", upload);
  const response = await fetch("/models");
  (await response.json()).models.forEach(addCard);
  document.body.dataset.ready = "true";
}

init();
