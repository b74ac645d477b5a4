// The field demo's page: one WebSocket, one 1024x1024 canvas viewport, redrawn on
// requestAnimationFrame when the server sent something new. Drag, WASD or touch pan.
"use strict";
(() => {
  const COLORS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0"];
  const RADIUS = 25;
  const canvas = document.getElementById("field");
  const where = document.getElementById("where");
  const ctx = canvas.getContext("2d");
  // What tests (and the curious) can read: window.mmo.
  const state = window.mmo = {
    connected: false,
    frames: 0,
    updates: 0,
    viewX: 0,
    viewY: 0,
    side: 1024,
    worldSize: 20480,
    boxes: [],
    movers: [],
    dirty: false,
  };
  let socket;
  let wantX = null, wantY = null, sendQueued = false;

  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      state.connected = true;
      state.extensions = socket.extensions;
    };
    socket.onclose = () => {
      state.connected = false;
      where.textContent = "disconnected; retrying";
      setTimeout(connect, 1000);
    };
    socket.onmessage = (event) => receive(new DataView(event.data));
  }

  function receive(v) {
    const type = v.getUint8(0);
    if (type === 1) {
      state.viewX = v.getInt32(1, true);
      state.viewY = v.getInt32(5, true);
      state.side = v.getUint32(9, true);
      const n = v.getUint32(13, true);
      const boxes = new Array(n);
      for (let i = 0, p = 17; i < n; i++, p += 13) {
        boxes[i] = [
          v.getInt32(p, true),
          v.getInt32(p + 4, true),
          v.getUint16(p + 8, true),
          v.getUint16(p + 10, true),
          v.getUint8(p + 12),
        ];
      }
      state.boxes = boxes;
      if (wantX === null) {
        wantX = state.viewX;
        wantY = state.viewY;
      }
    } else if (type === 2) {
      const n = v.getUint32(1, true);
      const movers = new Array(n);
      for (let i = 0, p = 5; i < n; i++, p += 13) {
        movers[i] = [
          v.getUint32(p, true),
          v.getInt32(p + 4, true),
          v.getInt32(p + 8, true),
          v.getUint8(p + 12),
        ];
      }
      state.movers = movers;
    }
    state.updates++;
    if (!state.dirty) {
      state.dirty = true;
      requestAnimationFrame(draw);
    }
  }

  function draw() {
    state.dirty = false;
    // While a pan is on its way to the server, draw at the wanted place already.
    const ox = wantX ?? state.viewX, oy = wantY ?? state.viewY;
    ctx.fillStyle = "#f4f1ea";
    ctx.fillRect(0, 0, 1024, 1024);
    for (const [x, y, w, h, c] of state.boxes) {
      ctx.fillStyle = COLORS[c];
      ctx.fillRect(x - ox, y - oy, w, h);
      ctx.strokeStyle = "#0006";
      ctx.strokeRect(x - ox + 0.5, y - oy + 0.5, w - 1, h - 1);
    }
    for (const [, x, y, c] of state.movers) {
      ctx.beginPath();
      ctx.arc(x - ox, y - oy, RADIUS, 0, 2 * Math.PI);
      ctx.fillStyle = COLORS[c];
      ctx.fill();
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#111";
      ctx.stroke();
    }
    state.frames++;
    where.textContent = `view at (${state.viewX}, ${state.viewY}) of ${state.worldSize}; ` +
      `${state.movers.length} wanderers and ${state.boxes.length} boxes in view`;
  }

  function panBy(dx, dy) {
    if (wantX === null) return;
    const max = state.worldSize - state.side;
    wantX = Math.round(Math.min(Math.max(wantX + dx, 0), max));
    wantY = Math.round(Math.min(Math.max(wantY + dy, 0), max));
    if (!sendQueued) {
      sendQueued = true;
      requestAnimationFrame(() => {
        sendQueued = false;
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ x: wantX, y: wantY }));
        }
        if (!state.dirty) {
          state.dirty = true;
          draw();
        }
      });
    }
  }

  // Canvas pixels per CSS pixel (the canvas is scaled to fit the window).
  const scale = () => 1024 / canvas.getBoundingClientRect().width;
  let dragging = null;
  canvas.addEventListener("pointerdown", (e) => {
    dragging = { x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (dragging === null) return;
    const s = scale();
    panBy(-(e.clientX - dragging.x) * s, -(e.clientY - dragging.y) * s);
    dragging = { x: e.clientX, y: e.clientY };
  });
  const stop = () => {
    dragging = null;
    canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  const STEP = 64;
  window.addEventListener("keydown", (e) => {
    const k = e.key.toLowerCase();
    if (k === "w" || e.key === "ArrowUp") panBy(0, -STEP);
    else if (k === "s" || e.key === "ArrowDown") panBy(0, STEP);
    else if (k === "a" || e.key === "ArrowLeft") panBy(-STEP, 0);
    else if (k === "d" || e.key === "ArrowRight") panBy(STEP, 0);
  });

  fetch("/config").then((r) => r.json()).then((config) => {
    state.worldSize = config.size;
    state.side = config.view;
    connect();
  });
})();
